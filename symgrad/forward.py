"""Forward mode: a program with its tangent program woven in, in one list of equations.

`push_forward` replays a straight-line program into a fresh `Builder` and,
right after each equation, applies its primitive's JVP rule
(`PRIMITIVES[prim].jvp`) to the tangents of the arguments.  So the tangent of
`a5 = a4 + a1` is built as soon as `a5` is, as in the lecture's evaluation
trace, and the primal and tangent equations share one hash-consing table: the
`cos(a5)` that the tangent of `a6 = sin(a5)` needs *is* `a7 = cos(a5)`.

Tangents are kept only where they can be nonzero: a variable gets one when some
argument of its equation has one, starting from the differentiated parameters.
A rule sees None for a zero tangent.

`forward` differentiates a function (`jvp_f`); `forward_over_reverse` applies
the same transform to the adjoint program that `reverse.reverse(fn, wrt,
"grad")` builds, which gives Hessian-vector products (`hvp_f`).  Tangent
parameters and temporaries are named after what they are tangents of:
`dw` for `w` in `jvp_f`, `vw` for `w` and `vdw` for its gradient `dw` in
`hvp_f` (whose own gradients are named `dw`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .builder import Builder
from .errors import InternalError
from .ir import Const, Eqn, Function, Var
from .primitives import PRIMITIVES
from .reverse import materialize, reverse


@dataclass
class Tangent:
    """A program and its tangent program, woven into one list of equations."""

    params: list  # primal parameters (fresh Vars of this program)
    defaults: dict
    tangent_params: list  # one per wrt parameter, in wrt order
    eqns: list
    values: list  # the program's outputs
    tangents: list  # the tangent of each output, aligned with `values`


def forward(fn: Function, wrt_names: list) -> Tangent:
    """fn's equations with tangents pushed forward from the wrt parameters."""
    return push_forward(fn.params, fn.defaults, fn.body, [fn.result], wrt_names, prefix="d")


def forward_over_reverse(fn: Function, wrt_names: list) -> Tangent:
    """The gradient program of scalar fn, differentiated forward: its tangents are H v."""
    adjoint = reverse(fn, wrt_names, "grad")
    return push_forward(
        adjoint.params, adjoint.defaults, adjoint.stmts, adjoint.grads, wrt_names, prefix="v"
    )


def first_unsupported(fn: Function):
    """The first statement of fn that is not a plain equation (a loop or a branch), or None."""
    return next((s for s in fn.body if not isinstance(s, Eqn)), None)


def push_forward(params, defaults, eqns, outputs, wrt_names, prefix: str) -> Tangent:
    b = Builder()
    mapping: dict = {}
    fresh_params = []
    for p in params:
        fresh = Var(hint=p.hint, shape=p.shape, static=p.static)
        mapping[p] = fresh
        fresh_params.append(fresh)
        b.register_shape(fresh)
    by_name = {p.hint: p for p in fresh_params}
    taken = set(by_name)
    tangents: dict = {}
    tangent_params = []
    for name in wrt_names:
        var = by_name[name]
        t = Var(hint=unique(prefix + name, taken), shape=var.shape)
        taken.add(t.hint)
        tangents[var] = t
        tangent_params.append(t)

    def sub(a):
        return mapping.get(a, a) if isinstance(a, Var) else a

    for e in eqns:
        if not isinstance(e, Eqn):
            raise InternalError("forward mode got a loop or a branch; only equations are supported")
        b.loc = e.loc
        args = tuple(sub(a) for a in e.args)
        if len(e.outs) != 1:
            outs = [Var(hint=o.hint, shape=o.shape, static=o.static) for o in e.outs]
            b.emit_multi(e.prim, args, outs, **e.params)
            mapping.update(zip(e.outs, outs))
            continue
        out = b.op(e.prim, *args, hint=e.out.hint, **e.params)
        if isinstance(out, Var) and not out.hint:
            out.hint = e.out.hint
        mapping[e.out] = out
        if isinstance(out, Var) and out not in tangents:
            push(b, e, args, out, tangents, prefix)
    b.loc = None
    values = [sub(o) for o in outputs]
    return Tangent(
        fresh_params,
        {mapping[p]: c for p, c in defaults.items()},
        tangent_params,
        b.eqns,
        values,
        [output_tangent(b, v, tangents.get(v), prefix) for v in values],
    )


def push(b: Builder, e: Eqn, args, out: Var, tangents: dict, prefix: str) -> None:
    """Apply e's JVP rule to the tangents of its (replayed) arguments, recording out's tangent."""
    ts = [tangents.get(a) if isinstance(a, Var) else None for a in args]
    if all(t is None for t in ts):
        return
    rule = PRIMITIVES[e.prim].jvp
    if rule is None:
        if PRIMITIVES[e.prim].vjp is not None:
            raise InternalError(f"primitive {e.prim} has a VJP rule but no JVP rule")
        return  # the result never varies
    t = rule(b, ts, out, args, e.params)
    if t is not None:
        name_tangent(t, out, prefix)
        tangents[out] = t


def output_tangent(b: Builder, value, t, prefix: str):
    """A returned tangent: zeros where nothing varies, an ordinary array, never a view."""
    if t is None:
        t = b.op("zeros_like", value)
    elif isinstance(t, Const):
        t = b.op("full_like", value, t)
    else:
        t = materialize(b, t)
    if isinstance(value, Var):
        name_tangent(t, value, prefix)
    return t


def name_tangent(t, var: Var, prefix: str) -> None:
    """Call the tangent of `a5` `da5` when it is a fresh temporary."""
    if isinstance(t, Var) and not t.hint and var.hint:
        t.hint = prefix + var.hint


def unique(name: str, taken: set) -> str:
    candidate, k = name, 0
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    return candidate
