"""Reverse mode: a program plus its adjoint sweep.

`reverse` replays the primal statements into a fresh `Builder` (so forward and
adjoint share one hash-consing table: every value is computed once), then walks
them backwards.  Cotangent contributions to a variable are collected and added
once, when the walk reaches the variable's definition, before they are
propagated further ("accumulate, then propagate").  Only *active* variables get
adjoints: those that depend on a differentiated parameter and can reach the
output.

Control flow:
- an `if` becomes an `if` on the same predicate in the adjoint sweep; each
  branch differentiates its own statements;
- a `for` loop becomes a loop over the same range, reversed.  The values the
  adjoint of an iteration reads are saved by the forward loop on tapes (Python
  lists, `saved_h.append(h)`) and popped in reverse order: only those values,
  nothing else (a to-be-recorded analysis, as Tapenade does).  Cotangents of
  loop-carried values are carried backwards; cotangents of values the body
  reads from outside the loop are accumulated across iterations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .builder import Builder
from .errors import InternalError
from .ir import (
    Cond,
    Const,
    Eqn,
    Function,
    Loop,
    Var,
    block_results,
    blocks,
    blocks_flat,
    uses,
    walk,
)
from .primitives import PRIMITIVES, only_adds_or_drops_unit_axes

BROADCASTING = {
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "power",
    "maximum",
    "minimum",
    "logaddexp",
    "where",
    "clip",
}


@dataclass
class Adjoint:
    """A function's forward sweep and adjoint sweep, in one list of statements."""

    params: list  # primal parameters (fresh Vars of this program)
    defaults: dict
    stmts: list
    value: object  # the primal result atom
    grads: list  # one atom per wrt parameter
    seed: Var | None  # the cotangent parameter of a vjp, else None
    adjoint_ids: set  # ids of the top-level statements of the adjoint sweep
    grads_wrt: list = field(default_factory=list)  # the differentiated parameters

    @property
    def eqns(self) -> list:
        return self.stmts

    @property
    def n_forward(self) -> int:
        """The forward sweep is stmts[:n_forward]; the adjoint sweep follows it."""
        return sum(1 for s in self.stmts if id(s) not in self.adjoint_ids)


# ---------------------------------------------------------------- replay


def replay(fn: Function, b: Builder) -> tuple[list, dict, object]:
    """Copy fn's statements into b, returning fresh params, defaults and the result."""
    mapping: dict = {}
    params = []
    for p in fn.params:
        fresh = Var(hint=p.hint, shape=p.shape, static=p.static)
        mapping[p] = fresh
        params.append(fresh)
        b.register_shape(fresh)
    copy_block(fn.body, b, mapping)
    defaults = {mapping[p]: c for p, c in fn.defaults.items()}
    return params, defaults, substitute(fn.result, mapping)


def substitute(a, mapping):
    return mapping.get(a, a) if isinstance(a, Var) else a


def fresh_like(v: Var) -> Var:
    return Var(hint=v.hint, shape=v.shape, static=v.static)


def copy_block(stmts, b: Builder, mapping: dict) -> None:
    for s in stmts:
        b.loc = s.loc
        if isinstance(s, Eqn):
            args = tuple(substitute(a, mapping) for a in s.args)
            if len(s.outs) == 1 and s.prim not in ("push", "pop"):
                out = b.op(s.prim, *args, hint=s.out.hint, **s.params)
                if isinstance(out, Var) and not out.hint:
                    out.hint = s.out.hint
                mapping[s.out] = out
            else:
                outs = [fresh_like(o) for o in s.outs]
                mapping.update(zip(s.outs, outs))
                b.append(Eqn(tuple(outs), s.prim, args, dict(s.params), s.loc))
        elif isinstance(s, Loop):
            index = fresh_like(s.index)
            mapping[s.index] = index
            params = [fresh_like(p) for p in s.params]
            mapping.update(zip(s.params, params))
            b.open_block()
            copy_block(s.body, b, mapping)
            body = b.close_block()
            outs = [fresh_like(o) for o in s.outs]
            b.append(
                Loop(
                    index,
                    tuple(substitute(a, mapping) for a in s.bounds),
                    [substitute(a, mapping) for a in s.inits],
                    params,
                    body,
                    [substitute(a, mapping) for a in s.results],
                    outs,
                    s.loc,
                    s.reverse,
                )
            )
            mapping.update(zip(s.outs, outs))
        else:
            branches = []
            for body in (s.then_body, s.else_body):
                b.open_block()
                copy_block(body, b, mapping)
                branches.append(b.close_block())
            outs = [fresh_like(o) for o in s.outs]
            b.append(
                Cond(
                    substitute(s.pred, mapping),
                    branches[0],
                    [substitute(a, mapping) for a in s.then_results],
                    branches[1],
                    [substitute(a, mapping) for a in s.else_results],
                    outs,
                    s.loc,
                )
            )
            mapping.update(zip(s.outs, outs))


# ---------------------------------------------------------------- activity


def is_var(a) -> bool:
    return isinstance(a, Var)


def varied_pass(stmts, varied: set) -> None:
    for s in stmts:
        if isinstance(s, Eqn):
            if PRIMITIVES[s.prim].vjp is not None and any(a in varied for a in s.args if is_var(a)):
                varied.update(o for o in s.outs if not o.static)
        elif isinstance(s, Loop):
            while True:
                before = len(varied)
                for p, init, result in zip(s.params, s.inits, s.results):
                    if not p.static and (init in varied or result in varied):
                        varied.add(p)
                varied_pass(s.body, varied)
                if len(varied) == before:
                    break
            varied.update(o for o, p in zip(s.outs, s.params) if p in varied)
        else:
            varied_pass(s.then_body, varied)
            varied_pass(s.else_body, varied)
            for o, a, b in zip(s.outs, s.then_results, s.else_results):
                if not o.static and (a in varied or b in varied):
                    varied.add(o)


def useful_pass(stmts, useful: set) -> None:
    for s in reversed(stmts):
        if isinstance(s, Eqn):
            if any(o in useful for o in s.outs):
                useful.update(a for a in s.args if is_var(a))
        elif isinstance(s, Loop):
            while True:
                before = len(useful)
                for o, p, init, result in zip(s.outs, s.params, s.inits, s.results):
                    if o in useful or p in useful:
                        useful.update(v for v in (p, init, result) if is_var(v))
                useful_pass(s.body, useful)
                if len(useful) == before:
                    break
        else:
            for o, a, b in zip(s.outs, s.then_results, s.else_results):
                if o in useful:
                    useful.update(v for v in (a, b) if is_var(v))
            useful_pass(s.then_body, useful)
            useful_pass(s.else_body, useful)


def active_vars(stmts, wrt, result) -> set:
    """Variables that depend on a wrt parameter and that the result depends on."""
    varied = set(wrt)
    varied_pass(stmts, varied)
    useful = {result} if is_var(result) else set()
    useful_pass(stmts, useful)
    return (varied & useful) - shift_invariant_maxima(stmts)


def shift_invariant_maxima(stmts) -> set:
    """Maxima whose exact cotangent is zero: the shift of a stable logsumexp.

    In `m + log(sum(exp(Z - m)))` with `m = max(Z)` the result does not depend on
    m, so d/dm is exactly 0; differentiating through m would only add rounding
    noise and the tie masks of max.  Returns m and its reshaped views when every
    use of them is this pattern (JAX's logsumexp stops the gradient there too).
    """
    eqns = [s for s in stmts if isinstance(s, Eqn) and len(s.outs) == 1]
    users: dict = {}
    for s in stmts:
        for a in s.args if isinstance(s, Eqn) else free_reads([s]):
            if is_var(a):
                users.setdefault(a, []).append(s)

    def all_are(var, prim, axis=None, check_axis=False) -> list:
        found = users.get(var, [])
        good = found and all(
            isinstance(u, Eqn)
            and u.prim == prim
            and (not check_axis or u.params.get("axis") == axis)
            for u in found
        )
        return found if good else []

    result: set = set()
    for e in eqns:
        if e.prim not in ("max", "min"):
            continue
        m, z, axis = e.out, e.args[0], e.params.get("axis")
        views = {m} | {
            u.out
            for u in users.get(m, [])
            if isinstance(u, Eqn) and u.prim == "getitem" and unit_reshape(u)
        }
        uses = [u for v in views for u in users.get(v, []) if getattr(u, "out", None) not in views]
        subs = [
            u
            for u in uses
            if isinstance(u, Eqn) and u.prim == "sub" and u.args[0] is z and u.args[1] in views
        ]
        adds = [u for u in uses if isinstance(u, Eqn) and u.prim == "add"]
        if not subs or not adds or len(subs) + len(adds) != len(uses):
            continue
        logs: set = set()
        ok = True
        for u in subs:
            exps = all_are(u.out, "exp")
            sums = [x for ex in exps for x in all_are(ex.out, "sum", axis, check_axis=True)]
            found_logs = [lg for sm in sums for lg in all_are(sm.out, "log")]
            ok = ok and bool(exps) and len(sums) == sum(len(users[x.out]) for x in exps)
            ok = ok and bool(found_logs)
            logs.update(lg.out for lg in found_logs)
        for u in adds:
            others = [a for a in u.args if a not in views]
            ok = ok and len(others) == 1 and others[0] in logs
        # each log is only ever used with m added back
        ok = ok and all(all(u in adds for u in users.get(lg, [])) for lg in logs)
        if ok:
            result |= views
    return result


def unit_reshape(e: Eqn) -> bool:
    """A getitem that only inserts new axes or drops axes of length 1."""
    return only_adds_or_drops_unit_axes(e.args[0], e.params["index"], e.args[1:])


# ---------------------------------------------------------------- the adjoint sweep


class Adjointer:
    def __init__(self, b: Builder, active: set, forward: list):
        self.b = b
        self.active = active
        self.uses = uses(forward)

    def block(self, stmts, cts: dict) -> None:
        """Append the adjoint of `stmts` (walked backwards); cts maps var -> contributions."""
        for s in reversed(stmts):
            if isinstance(s, Eqn):
                self.equation(s, cts)
            elif isinstance(s, Loop):
                self.loop(s, cts)
            else:
                self.cond(s, cts)

    def equation(self, e: Eqn, cts: dict) -> None:
        out = e.outs[0]
        if len(e.outs) != 1 or out not in self.active:
            return
        b = self.b
        b.loc = e.loc
        g = b.total(cts.pop(out, []))
        if g is None:
            return
        name_adjoint(g, out)
        logistic_input = self.logistic_input(e)
        if logistic_input is not None:  # the sigmoid's own rule: g * s * (1 - s)
            ds = b.mul(b.mul(g, out), b.sub(Const(1), out))
            cts.setdefault(logistic_input, []).append(ds)
            return
        rule = PRIMITIVES[e.prim].vjp
        contributions = rule(b, g, out, e.args, e.params)
        if len(contributions) != len(e.args):
            raise InternalError(
                f"rule for {e.prim} returned {len(contributions)} cotangents for {len(e.args)} args"
            )
        for arg, ct in zip(e.args, contributions):
            if ct is None or arg not in self.active:
                continue
            if e.prim in BROADCASTING:
                ct = b.unbroadcast(ct, arg, out.shape)
            cts.setdefault(arg, []).append(ct)

    def logistic_input(self, e: Eqn):
        """q when e is `1 / (1 + np.exp(-q))` and nothing else reads its intermediates.

        The chain rule through its four primitives keeps exp(-q) and 1 + exp(-q)
        alive and divides; the sigmoid's derivative s * (1 - s) needs only s.
        """

        def only_use(v, prim):
            d = self.b.def_of(v)
            if d is None or d.prim != prim or self.uses.get(v, 0) != 1:
                return None
            return d

        if e.prim != "div" or not (isinstance(e.args[0], Const) and e.args[0].value == 1):
            return None
        add = only_use(e.args[1], "add")
        if add is None or not any(isinstance(a, Const) and a.value == 1 for a in add.args):
            return None
        exp = only_use(next(a for a in add.args if not isinstance(a, Const)), "exp")
        neg = exp and only_use(exp.args[0], "neg")
        q = neg.args[0] if neg else None
        return q if q in self.active else None

    def outgoing(self, outs, cts) -> list:
        """Total cotangent of each output of a Loop or Cond (None where there is none)."""
        totals = []
        for o in outs:
            g = self.b.total(cts.pop(o, [])) if o in self.active else None
            if g is not None:
                name_adjoint(g, o)
            totals.append(g)
        return totals

    def zeros(self, like):
        return self.b.op("zeros_like", like)

    def cond(self, s: Cond, cts: dict) -> None:
        b = self.b
        g_outs = self.outgoing(s.outs, cts)
        if all(g is None for g in g_outs):
            return
        b.loc = s.loc
        built = []
        for body, results in ((s.then_body, s.then_results), (s.else_body, s.else_results)):
            local: dict = {}
            for r, g in zip(results, g_outs):
                if g is not None and r in self.active:
                    local.setdefault(r, []).append(g)
            b.open_block()
            self.block(body, local)
            b.loc = s.loc
            totals = {v: b.total(terms) for v, terms in local.items()}
            built.append((b.close_block(), totals))
        keys = list(dict.fromkeys(k for _, totals in built for k in totals))
        if not keys:
            return
        branches = []
        for block, totals in built:
            b.open_block(block)
            results = [totals.get(k) if totals.get(k) is not None else self.zeros(k) for k in keys]
            branches.append((b.close_block(), results))
        outs = [Var(hint=adjoint_hint(k), shape=k.shape) for k in keys]
        b.append(
            Cond(
                s.pred, branches[0][0], branches[0][1], branches[1][0], branches[1][1], outs, s.loc
            )
        )
        for k, o in zip(keys, outs):
            cts.setdefault(k, []).append(o)

    def loop(self, s: Loop, cts: dict) -> None:
        b = self.b
        g_outs = self.outgoing(s.outs, cts)
        if all(g is None for g in g_outs):
            return
        b.loc = s.loc
        carried = [
            k for k, p in enumerate(s.params) if p in self.active or s.outs[k] in self.active
        ]
        dparams = {k: Var(hint=adjoint_hint(s.params[k]), shape=s.params[k].shape) for k in carried}
        local: dict = {}
        for k in carried:
            if s.results[k] in self.active:
                local.setdefault(s.results[k], []).append(dparams[k])
        b.open_block()
        self.block(s.body, local)
        b.loc = s.loc
        carried_next = []
        for k in carried:
            g = b.total(local.pop(s.params[k], []))
            carried_next.append(g if g is not None else self.zeros(s.params[k]))
        free = [v for v in local if local[v]]
        accumulators = [Var(hint=adjoint_hint(v), shape=v.shape) for v in free]
        accumulated = [self.accumulate(acc, local[v]) for acc, v in zip(accumulators, free)]
        body = b.close_block()
        body = self.tape(s, body)
        inits = [g_outs[k] if g_outs[k] is not None else self.zeros(s.outs[k]) for k in carried]
        inits += [b.op("zeros_like", v, cse=False) for v in free]  # fresh: updated in place
        outs = [
            Var(
                hint=adjoint_hint(s.inits[k]) if is_var(s.inits[k]) else "", shape=s.params[k].shape
            )
            for k in carried
        ]
        outs += [Var(hint=adjoint_hint(v), shape=v.shape) for v in free]
        params = [dparams[k] for k in carried] + accumulators
        results = carried_next + accumulated
        b.append(Loop(s.index, s.bounds, inits, params, body, results, outs, s.loc, not s.reverse))
        for k, o in zip(carried, outs):
            if s.inits[k] in self.active:
                cts.setdefault(s.inits[k], []).append(o)
        for v, o in zip(free, outs[len(carried) :]):
            cts.setdefault(v, []).append(o)

    def accumulate(self, acc: Var, terms: list):
        """`acc += sum(terms)` in place: acc is a fresh array the loop owns.

        A term that is zeros with one slice set becomes `acc[i] += g`.
        """
        b = self.b
        rest = []
        for term in terms:
            e = b.def_of(term)
            if e is not None and e.prim == "scatter":
                g, _x, *dyn = e.args
                acc = b.op("scatter_add", acc, g, *dyn, cse=False, index=e.params["index"])
            else:
                rest.append(term)
        if rest:
            acc = b.op("scatter_add", acc, b.total(rest), cse=False, index=())
        return acc

    def tape(self, s: Loop, adjoint_body: list) -> list:
        """Save what the adjoint body reads of the forward iteration; pop it in reverse."""
        defined_in_forward = set(s.params)
        for st in walk(s.body):
            defined_in_forward.update(st.outs)
            defined_in_forward.update(getattr(st, "tapes", ()))
        needed = [v for v in free_reads(adjoint_body) if v in defined_in_forward]
        recomputed = recomputable(s, needed)
        mapping, restore, pushes = {}, [], []
        for v in needed:
            if v in recomputed:
                continue
            restored = fresh_like(v)
            if v in s.params:
                restored.hint = f"{v.hint}_prev" if v.hint else ""
            tape = Var(hint=f"saved_{restored.hint}" if restored.hint else "saved", static=True)
            s.tapes.append(tape)
            pushed, position = lift(s.body, v)
            pushes.append((position, Eqn((Var(static=True),), "push", (tape, pushed), {}, s.loc)))
            restore.append(Eqn((restored,), "pop", (tape,), {}, s.loc))
            mapping[v] = restored
        for position, push in sorted(pushes, key=lambda p: -p[0]):
            s.body.insert(position, push)
        for e in recomputed.values():  # cheap views of loop-invariant arrays: X[t]
            again = replace(rename(e, mapping), outs=tuple(fresh_like(o) for o in e.outs))
            mapping.update(zip(e.outs, again.outs))
            restore.append(again)
        return restore + [rename(st, mapping) for st in adjoint_body]


def defines(stmts, v) -> bool:
    return any(v in st.outs or v in getattr(st, "tapes", ()) for st in walk(stmts))


def lift(block: list, v: Var) -> tuple:
    """Make v, defined somewhere in block, readable at the top level of block.

    Returns the variable to read and the position in block just after its
    definition (0 for a loop parameter).  A value defined inside a branch of an
    `if` becomes an extra output of that `if` (None from the other branch), so
    the loop body can save it on a tape.
    """
    for k, st in enumerate(block):
        if v in st.outs or v in getattr(st, "tapes", ()):
            return v, k + 1
        if not isinstance(st, Cond):
            continue
        for body, results, other in (
            (st.then_body, st.then_results, st.else_results),
            (st.else_body, st.else_results, st.then_results),
        ):
            if defines(body, v):
                out = Var(hint=v.hint, shape=v.shape, static=True)
                st.outs.append(out)
                results.append(lift(body, v)[0])
                other.append(Const(None))
                return out, k + 1
    return v, 0


CHEAP = {"getitem", "transpose", "shape", "size", "ndim", "int_min"}


def recomputable(loop: Loop, needed) -> dict:
    """Needed values the adjoint recomputes instead of saving: cheap functions (views,
    shapes) of the loop index and of values from outside the loop."""
    defs = {o: st for st in loop.body if isinstance(st, Eqn) for o in st.outs}
    inside = set(loop.params) | {o for st in walk(loop.body) for o in st.outs}
    chosen: dict = {}

    def cheap(v) -> bool:
        if not is_var(v) or v is loop.index or v not in inside:
            return True
        e = defs.get(v)
        if e is None or e.prim not in CHEAP or not all(cheap(a) for a in e.args):
            return False
        chosen[v] = e
        return True

    result = {}
    for v in needed:
        if cheap(v):
            result.update((k, chosen[k]) for k in chosen if k not in result)
    return {k: result[k] for k in sorted(result, key=lambda k: loop.body.index(defs[k]))}


def adjoint_hint(v) -> str:
    return "d" + v.hint if isinstance(v, Var) and v.hint else ""


def name_adjoint(g, var: Var) -> None:
    """Call the adjoint of `W` `dW` when it is a fresh temporary of the adjoint sweep."""
    if isinstance(g, Var) and not g.hint and var.hint:
        g.hint = "d" + var.hint


def free_reads(stmts) -> list:
    """Variables read by the statements but not defined by them, in order of first read."""
    defined, seen, order = set(), set(), []

    def visit(block, results=()):
        for s in block:
            for a in s.args:
                note(a)
            if isinstance(s, Loop):
                defined.add(s.index)
                defined.update(s.params)
            for inner, inner_results in zip(blocks(s), block_results(s)):
                visit(inner, inner_results)
            defined.update(s.outs)
            defined.update(getattr(s, "tapes", ()))
        for r in results:
            note(r)

    def note(a):
        if is_var(a) and a not in defined and a not in seen:
            seen.add(a)
            order.append(a)

    visit(stmts)
    return order


def rename(s, mapping: dict):
    """A copy of statement s reading mapping[v] wherever it read v."""
    if not mapping:
        return s

    def m(a):
        return substitute(a, mapping)

    if isinstance(s, Eqn):
        return replace(s, args=tuple(m(a) for a in s.args))
    if isinstance(s, Loop):
        return replace(
            s,
            bounds=tuple(m(a) for a in s.bounds),
            inits=[m(a) for a in s.inits],
            body=[rename(x, mapping) for x in s.body],
            results=[m(a) for a in s.results],
        )
    return replace(
        s,
        pred=m(s.pred),
        then_body=[rename(x, mapping) for x in s.then_body],
        then_results=[m(a) for a in s.then_results],
        else_body=[rename(x, mapping) for x in s.else_body],
        else_results=[m(a) for a in s.else_results],
    )


# ---------------------------------------------------------------- driver


def reverse(fn: Function, wrt_names: list, mode: str) -> Adjoint:
    """Build the adjoint program. mode: "grad" (seed 1.0) or "vjp" (seed parameter g)."""
    b = Builder()
    params, defaults, value = replay(fn, b)
    by_name = {p.hint: p for p in params}
    wrt = [by_name[n] for n in wrt_names]
    forward = list(b.eqns)
    seed = None
    if mode == "vjp":
        taken = {p.hint for p in params}
        hint = next(h for h in ("g", "gbar", "g_out", "cotangent") if h not in taken)
        seed = Var(hint=hint, shape=getattr(value, "shape", None))
    active = active_vars(forward, wrt, value)
    cts: dict = {}
    b.fold_factors = True
    if is_var(value) and value in active:
        cts[value] = [seed if seed is not None else grad_seed(b, value)]
    Adjointer(b, active, forward).block(forward, cts)
    grads = []
    b.loc = None
    for p in wrt:
        g = b.total(cts.get(p, []))
        if g is None:
            g = b.op("zeros_like", p)
        elif isinstance(g, Const):
            g = b.op("full_like", p, g)
        else:
            g = materialize(b, g)
        name_adjoint(g, p)
        grads.append(g)
    forward_ids = {id(s) for s in forward}
    adjoint_ids = {id(s) for s in b.eqns if id(s) not in forward_ids}
    return Adjoint(params, defaults, b.eqns, value, grads, seed, adjoint_ids, wrt)


def grad_seed(b: Builder, value: Var):
    """1.0 when the result is known to be a scalar; else a run-time checked 1.0."""
    if value.shape == ():
        return Const(1.0)
    return b.op("grad_seed", value, hint="d" + value.hint if value.hint else "")


def materialize(b: Builder, g):
    """Gradients handed to the caller are ordinary writable arrays, not broadcast views."""
    e = b.def_of(g)
    if e is not None and e.prim == "broadcast_to":
        source, like = e.args
        if getattr(source, "shape", None) == ():
            return b.op("full_like", like, source)
        return b.op("copy", g)
    return g


# ---------------------------------------------------------------- dead code


def dead_code(stmts, roots) -> list:
    """Keep only the statements the roots need (new Loop/Cond objects; inputs untouched)."""
    live = {r for r in roots if is_var(r)}
    return _dce(stmts, live)


def _dce(stmts, live: set) -> list:
    kept = []
    for s in reversed(stmts):
        if isinstance(s, Eqn):
            if s.prim == "push":
                needed = s.args[0] in live
            else:
                needed = any(o in live for o in s.outs)
            if needed:
                kept.append(s)
                live.update(a for a in s.args if is_var(a))
            continue
        inner_defined = {o for st in walk(blocks_flat(s)) for o in st.outs}
        needed = any(o in live for o in s.outs) or bool(inner_defined & live)
        needed = needed or any(t in live for t in getattr(s, "tapes", ()))
        if not needed:
            continue
        new = _dce_loop(s, live) if isinstance(s, Loop) else _dce_cond(s, live)
        kept.append(new)
        live.update(free_reads([new]))
    kept.reverse()
    return kept


def _dce_loop(s: Loop, live: set) -> Loop:
    """Keep the carried values read after the loop, or by what the body keeps (to a
    fixed point: a kept value may need another carried one), and the tapes some pop reads."""
    tapes = [t for t in s.tapes if t in live]
    keep = {k for k, o in enumerate(s.outs) if o in live}
    while True:
        results = {s.results[k] for k in keep if is_var(s.results[k])}
        body = _dce(s.body, set(live) | results | set(tapes))
        reads = set(free_reads(body)) | results
        grown = keep | {k for k, p in enumerate(s.params) if p in reads}
        if grown == keep:
            break
        keep = grown
    ks = sorted(keep)
    return replace(
        s,
        body=body,
        tapes=tapes,
        inits=[s.inits[k] for k in ks],
        params=[s.params[k] for k in ks],
        results=[s.results[k] for k in ks],
        outs=[s.outs[k] for k in ks],
    )


def _dce_cond(s: Cond, live: set) -> Cond:
    """Keep the outputs read after the `if`; each branch keeps what they need."""
    ks = [k for k, o in enumerate(s.outs) if o in live]
    then_results = [s.then_results[k] for k in ks]
    else_results = [s.else_results[k] for k in ks]
    return replace(
        s,
        then_body=_dce(s.then_body, set(live) | {r for r in then_results if is_var(r)}),
        else_body=_dce(s.else_body, set(live) | {r for r in else_results if is_var(r)}),
        then_results=then_results,
        else_results=else_results,
        outs=[s.outs[k] for k in ks],
    )
