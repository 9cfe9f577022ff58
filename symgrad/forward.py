"""Forward mode: a program with its tangent program woven in, in one list of statements.

`push_forward` replays a program into a fresh `Builder` and, right after each
equation, applies its primitive's JVP rule (`PRIMITIVES[prim].jvp`) to the
tangents of the arguments.  So the tangent of `a5 = a4 + a1` is built as soon
as `a5` is, as in the lecture's evaluation trace, and the primal and tangent
equations share one hash-consing table: the `cos(a5)` that the tangent of
`a6 = sin(a5)` needs *is* `a7 = cos(a5)`.

Tangents are kept only where they can be nonzero: a variable gets one when some
argument of its equation has one, starting from the differentiated parameters.
A rule sees None for a zero tangent.  Control flow needs no tape in forward
mode: a loop also carries the tangent of each carried value that can vary
(found by a fixed point, `varying`: `total = 0.0` varies once the body adds a
varying term), and each branch of an `if` also returns the tangents of the
outputs that can vary, zeros where its side leaves them constant.

`forward` differentiates a function (`jvp_f`); `forward_over_reverse` applies
the same transform to the adjoint program that `reverse.reverse(fn, wrt,
"grad")` builds, which gives Hessian-vector products (`hvp_f`).  Adjoints of
loops hold two things primal programs never do, and the transform goes through
both:
- tapes.  The tangent of a tape (a Python list) is a parallel list, created by
  the same loop (`Loop.tapes`): `saved_h.append(h)` is followed by
  `saved_vh.append(vh)` and `h = saved_h.pop()` by `vh = saved_vh.pop()`, so
  tangents come back in the order they were saved.  A tape whose values cannot
  vary (a branch predicate, a value that does not depend on the wrt parameters)
  gets none.  A tape saved on an outer loop's tape (nested loops) has its
  tangent tape saved beside it, and an `if` that lifts a saved value out of one
  branch (None from the other) lifts its tangent the same way.
- accumulators updated in place (`dW += g`, `dX[t] += g`: `scatter_add`).  The
  tangent update is in place too (`vdW += vg`), on a tangent accumulator that
  is, like the accumulator, a fresh array the loop owns: never a caller's array
  nor a value another name shares.  So accumulators, their initial zeros and
  their updates are never hash-consed with equal values (`cse=False`).
Tangent parameters and temporaries are named after what they are tangents of:
`dw` for `w` in `jvp_f`, `vw` for `w` and `vdw` for its gradient `dw` in
`hvp_f` (whose own gradients are named `dw`), `saved_vh` for the tape `saved_h`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .builder import Builder
from .errors import InternalError
from .ir import Cond, Const, Eqn, Function, Loop, Var, walk
from .primitives import PRIMITIVES
from .reverse import fresh_like, materialize, reverse


@dataclass
class Tangent:
    """A program and its tangent program, woven into one list of statements."""

    params: list  # primal parameters (fresh Vars of this program)
    defaults: dict
    tangent_params: list  # one per wrt parameter, in wrt order
    stmts: list
    values: list  # the program's outputs
    tangents: list  # the tangent of each output, aligned with `values`


def forward(fn: Function, wrt_names: list) -> Tangent:
    """fn's statements with tangents pushed forward from the wrt parameters."""
    return push_forward(fn.params, fn.defaults, fn.body, [fn.result], wrt_names, prefix="d")


def forward_over_reverse(fn: Function, wrt_names: list) -> Tangent:
    """The gradient program of scalar fn, differentiated forward: its tangents are H v."""
    adjoint = reverse(fn, wrt_names, "grad")
    return push_forward(
        adjoint.params, adjoint.defaults, adjoint.stmts, adjoint.grads, wrt_names, prefix="v"
    )


def push_forward(params, defaults, stmts, outputs, wrt_names, prefix: str) -> Tangent:
    """Replay stmts (a program of `params`) with tangents for the wrt parameters."""
    b = Builder()
    pusher = Pusher(b, prefix)
    fresh_params = []
    for p in params:
        fresh = fresh_like(p)
        pusher.mapping[p] = fresh
        fresh_params.append(fresh)
        b.register_shape(fresh)
    by_name = {p.hint: p for p in fresh_params}
    taken = set(by_name)
    tangent_params = []
    for name in wrt_names:
        var = by_name[name]
        t = Var(hint=unique(prefix + name, taken), shape=var.shape)
        taken.add(t.hint)
        pusher.tangents[var] = t
        tangent_params.append(t)
    varying(stmts, {p for p in params if p.hint in wrt_names}, pusher.varied)
    pusher.fresh = accumulator_inits(stmts)
    pusher.block(stmts)
    b.loc = None
    values = [pusher.sub(o) for o in outputs]
    tangents = [pusher.output_tangent(v) for v in values]
    defaults = {pusher.mapping[p]: c for p, c in defaults.items()}
    return Tangent(fresh_params, defaults, tangent_params, b.eqns, values, tangents)


class Pusher:
    """Replays statements into a Builder, pushing tangents forward through each one.

    `mapping` takes the source program's variables to the replayed ones,
    `tangents` a replayed variable to its tangent (absent: zero), and `varied`
    holds the source variables that may have a nonzero tangent: a loop carries
    a tangent, and a branch returns one, exactly for those.
    """

    def __init__(self, b: Builder, prefix: str):
        self.b = b
        self.prefix = prefix
        self.mapping: dict = {}
        self.tangents: dict = {}
        self.varied: set = set()
        self.fresh: set = set()  # initial values of accumulators: never hash-consed

    def sub(self, a):
        return self.mapping.get(a, a) if isinstance(a, Var) else a

    def tangent_or_zeros(self, a):
        if isinstance(a, Const) and a.value is None:
            return a  # the other branch's placeholder for a value saved on a tape
        t = self.tangents.get(a) if isinstance(a, Var) else None
        if t is not None:
            return t
        e = self.b.def_of(a)
        return self.b.op("zeros_like", e.args[0] if e is not None and e.prim == "zeros_like" else a)

    def block(self, stmts) -> None:
        for s in stmts:
            self.b.loc = s.loc
            if isinstance(s, Loop):
                self.loop(s)
            elif isinstance(s, Cond):
                self.cond(s)
            else:
                self.equation(s)

    def equation(self, e: Eqn) -> None:
        args = tuple(self.sub(a) for a in e.args)
        if len(e.outs) != 1 or e.prim in TAPE_PRIMS:
            outs = [fresh_like(o) for o in e.outs]
            self.b.append(Eqn(tuple(outs), e.prim, args, dict(e.params), e.loc))
            self.mapping.update(zip(e.outs, outs))
            if e.prim in TAPE_PRIMS:
                self.push(e.prim, args, outs[0], e.params)
            return
        # an accumulator and its in-place updates are never shared with an equal value
        cse = e.prim != "scatter_add" and e.out not in self.fresh
        out = self.b.op(e.prim, *args, hint=e.out.hint, cse=cse, **e.params)
        if isinstance(out, Var) and not out.hint:
            out.hint = e.out.hint
        self.mapping[e.out] = out
        if isinstance(out, Var) and out not in self.tangents:
            self.push(e.prim, args, out, e.params)

    def push(self, prim: str, args, out: Var, params) -> None:
        """Apply prim's JVP rule to the tangents of its arguments, recording out's tangent."""
        ts = [self.tangents.get(a) if isinstance(a, Var) else None for a in args]
        if all(t is None for t in ts):
            return
        rule = PRIMITIVES[prim].jvp
        if rule is None:
            if PRIMITIVES[prim].vjp is not None:
                raise InternalError(f"primitive {prim} has a VJP rule but no JVP rule")
            return  # the result never varies
        t = rule(self.b, ts, out, args, params)
        if t is not None:
            name_tangent(t, out, self.prefix)
            self.tangents[out] = t

    def loop(self, s: Loop) -> None:
        """The loop, also carrying the tangent of each carried value that can vary.

        A tape the loop fills gets a tangent tape beside it when what it saves can
        vary; an accumulator the body updates in place (`acc += g`) gets a fresh
        tangent accumulator, updated in place too.
        """
        carried = [k for k, p in enumerate(s.params) if p in self.varied]
        in_place = updated_in_place(s.body)
        inits = [self.sub(a) for a in s.inits]
        tangent_inits = [self.loop_tangent_init(inits[k], s.params[k] in in_place) for k in carried]
        tapes = []
        for tape in s.tapes:
            new = fresh_like(tape)
            self.mapping[tape] = new
            tapes.append(new)
        for tape, new in zip(s.tapes, list(tapes)):
            if tape in self.varied:
                self.tangents[new] = Var(hint=tangent_hint(tape, self.prefix), static=True)
                tapes.append(self.tangents[new])
        index = fresh_like(s.index)
        self.mapping[s.index] = index
        params = [fresh_like(p) for p in s.params]
        self.mapping.update(zip(s.params, params))
        tangent_params = []
        for k in carried:
            t = Var(hint=tangent_hint(params[k], self.prefix), shape=params[k].shape)
            self.tangents[params[k]] = t
            tangent_params.append(t)
        self.b.open_block()
        self.block(s.body)
        results = [self.sub(a) for a in s.results]
        tangent_results = [self.tangent_or_zeros(results[k]) for k in carried]
        body = self.b.close_block()
        outs = [fresh_like(o) for o in s.outs]
        tangent_outs = [Var(hint=t.hint, shape=t.shape) for t in tangent_params]
        bounds = tuple(self.sub(a) for a in s.bounds)
        self.b.append(
            Loop(
                index,
                bounds,
                inits + tangent_inits,
                params + tangent_params,
                body,
                results + tangent_results,
                outs + tangent_outs,
                s.loc,
                s.reverse,
                tapes,
            )
        )
        self.mapping.update(zip(s.outs, outs))
        for k, t in zip(carried, tangent_outs):
            self.tangents[outs[k]] = t

    def loop_tangent_init(self, init, in_place: bool):
        """What a carried tangent starts as: init's tangent, or zeros shaped like init.

        An accumulator the body updates in place gets a new array (zeros, or a copy
        of init's tangent), as the accumulator itself does.
        """
        t = self.tangents.get(init) if isinstance(init, Var) else None
        if t is not None:
            return self.b.op("copy", t, cse=False) if in_place else t
        if isinstance(init, Const) and not in_place:
            return self.b.op("zeros_like", init)
        e = self.b.def_of(init)
        like = e.args[0] if e is not None and e.prim == "zeros_like" else init
        return self.b.op("zeros_like", like, cse=False)

    def cond(self, s: Cond) -> None:
        """The branch, each side also returning the tangents of the outputs that can vary."""
        varied = [k for k, o in enumerate(s.outs) if o in self.varied]
        branches = []
        for body, results in ((s.then_body, s.then_results), (s.else_body, s.else_results)):
            self.b.open_block()
            self.block(body)
            mapped = [self.sub(a) for a in results]
            mapped += [self.tangent_or_zeros(mapped[k]) for k in varied]
            branches.append((self.b.close_block(), mapped))
        outs = [fresh_like(o) for o in s.outs]
        tangent_outs = [
            Var(hint=tangent_hint(outs[k], self.prefix), shape=outs[k].shape) for k in varied
        ]
        (then_body, then_results), (else_body, else_results) = branches
        self.b.append(
            Cond(
                self.sub(s.pred),
                then_body,
                then_results,
                else_body,
                else_results,
                outs + tangent_outs,
                s.loc,
            )
        )
        self.mapping.update(zip(s.outs, outs))
        for k, t in zip(varied, tangent_outs):
            self.tangents[outs[k]] = t

    def output_tangent(self, value):
        """A returned tangent: zeros where nothing varies, an ordinary array, never a view."""
        t = self.tangents.get(value) if isinstance(value, Var) else None
        if t is None:
            t = self.b.op("zeros_like", value)
        elif isinstance(t, Const):
            t = self.b.op("full_like", value, t)
        else:
            t = materialize(self.b, t)
        if isinstance(value, Var):
            name_tangent(t, value, self.prefix)
        return t


# The tapes of loop adjoints: replayed as they are (a pop is never shared with an equal pop)
TAPE_PRIMS = {"push", "pop"}


def updated_in_place(body) -> set:
    """The variables of a loop body that a `scatter_add` (`acc += g`) updates in place."""
    return {e.args[0] for e in body if isinstance(e, Eqn) and e.prim == "scatter_add"}


def accumulator_inits(stmts) -> set:
    """Initial values of the accumulators of every loop in stmts (fresh arrays)."""
    found = set()
    for s in walk(stmts):
        if isinstance(s, Loop):
            targets = updated_in_place(s.body)
            found.update(i for p, i in zip(s.params, s.inits) if p in targets and is_var(i))
    return found


def varying(stmts, varied: set, out: set) -> None:
    """Add to `out` the variables of stmts whose tangent can be nonzero, given `varied`."""
    out.update(varied)
    for s in stmts:
        if isinstance(s, Eqn):
            if s.prim == "push":  # a tape varies once a value it saves does
                if is_in(s.args[1], out):
                    out.add(s.args[0])
            elif PRIMITIVES[s.prim].jvp is not None and any(is_in(a, out) for a in s.args):
                out.update(s.outs)
        elif isinstance(s, Loop):
            while True:  # a carried value varies once its initial value or its update does
                before = len(out)
                pairs = zip(s.params, s.inits, s.results)
                out.update(p for p, i, r in pairs if is_in(i, out) or is_in(r, out))
                varying(s.body, set(), out)
                if len(out) == before:
                    break
            out.update(o for o, p in zip(s.outs, s.params) if p in out)
        elif isinstance(s, Cond):
            varying(s.then_body, set(), out)
            varying(s.else_body, set(), out)
            pairs = zip(s.outs, s.then_results, s.else_results)
            out.update(o for o, a, b in pairs if is_in(a, out) or is_in(b, out))


def is_in(a, variables: set) -> bool:
    return isinstance(a, Var) and a in variables


def is_var(a) -> bool:
    return isinstance(a, Var)


def tangent_hint(var: Var, prefix: str) -> str:
    return tangent_name(var.hint, prefix, tape=var.static)


def tangent_name(hint: str, prefix: str, tape: bool = False) -> str:
    """`vh` for `h`; for a tape, `saved_vh` for `saved_h` and `saved_v` for `saved`."""
    if tape and hint == "saved":
        return "saved_" + prefix
    if tape and hint.startswith("saved_"):
        return "saved_" + tangent_name(hint.removeprefix("saved_"), prefix, tape)
    return prefix + hint if hint else ""


def name_tangent(t, var: Var, prefix: str) -> None:
    """Call the tangent of `a5` `da5` when it is a fresh temporary."""
    if isinstance(t, Var) and not t.hint and var.hint:
        t.hint = tangent_hint(var, prefix)


def unique(name: str, taken: set) -> str:
    candidate, k = name, 0
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    return candidate
