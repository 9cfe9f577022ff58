"""Reverse mode: a straight-line program plus its adjoint sweep.

`reverse` replays the primal equations into a fresh `Builder` (so forward and
adjoint share one hash-consing table: every value is computed once), then walks
them backwards.  Cotangent contributions to a variable are collected and added
once, when the walk reaches the variable's definition, before they are
propagated further ("accumulate, then propagate").  Only *active* variables get
adjoints: those that depend on a differentiated parameter and can reach the
output.
"""

from __future__ import annotations

from dataclasses import dataclass

from .builder import Builder
from .errors import InternalError
from .ir import Const, Eqn, Function, Var
from .primitives import PRIMITIVES


@dataclass
class Adjoint:
    """A function's forward sweep and adjoint sweep, in one list of equations."""

    params: list  # primal parameters (fresh Vars of this program)
    defaults: dict
    eqns: list
    value: object  # the primal result atom
    grads: list  # one atom per wrt parameter
    seed: Var | None  # the cotangent parameter of a vjp, else None
    n_forward: int  # eqns[:n_forward] are the forward sweep


def replay(fn: Function, b: Builder) -> tuple[list, dict, object]:
    """Copy fn's equations into b, returning fresh params, defaults and the result."""
    mapping: dict = {}
    params = []
    for p in fn.params:
        fresh = Var(hint=p.hint, shape=p.shape, static=p.static)
        mapping[p] = fresh
        params.append(fresh)
        b.register_shape(fresh)

    def sub(a):
        return mapping.get(a, a) if isinstance(a, Var) else a

    for e in fn.body:
        b.loc = e.loc
        args = tuple(sub(a) for a in e.args)
        if len(e.outs) == 1:
            out = b.op(e.prim, *args, hint=e.out.hint, **e.params)
            if isinstance(out, Var) and not out.hint:
                out.hint = e.out.hint
            mapping[e.out] = out
        else:
            outs = [Var(hint=o.hint, shape=o.shape, static=o.static) for o in e.outs]
            b.emit_multi(e.prim, args, outs, **e.params)
            mapping.update(zip(e.outs, outs))
    defaults = {mapping[p]: c for p, c in fn.defaults.items()}
    return params, defaults, sub(fn.result)


def active_vars(eqns, wrt, result) -> set:
    """Variables that depend on a wrt parameter and that the result depends on."""
    varied = set(wrt)
    for e in eqns:
        if PRIMITIVES[e.prim].vjp is None:
            continue
        if any(isinstance(a, Var) and a in varied for a in e.args):
            varied.update(o for o in e.outs if not o.static)
    useful = {result} if isinstance(result, Var) else set()
    for e in reversed(eqns):
        if any(o in useful for o in e.outs):
            useful.update(a for a in e.args if isinstance(a, Var))
    return varied & useful


def reverse(fn: Function, wrt_names: list, mode: str) -> Adjoint:
    """Build the adjoint program. mode: "grad" (seed 1.0) or "vjp" (seed parameter g)."""
    b = Builder()
    params, defaults, value = replay(fn, b)
    by_name = {p.hint: p for p in params}
    wrt = [by_name[n] for n in wrt_names]
    forward = list(b.eqns)
    n_forward = len(forward)
    seed = Var(hint="g", shape=getattr(value, "shape", None)) if mode == "vjp" else None
    active = active_vars(forward, wrt, value)
    contributions: dict = {}
    if isinstance(value, Var) and value in active:
        contributions[value] = [seed if seed is not None else grad_seed(b, value)]
    for e in reversed(forward):
        out = e.outs[0]
        if len(e.outs) != 1 or out not in active:
            continue
        b.loc = e.loc
        g = b.total(contributions.pop(out, []))
        if g is None:
            continue
        name_adjoint(g, out)
        rule = PRIMITIVES[e.prim].vjp
        cts = rule(b, g, out, e.args, e.params)
        if len(cts) != len(e.args):
            raise InternalError(
                f"rule for {e.prim} returned {len(cts)} cotangents for {len(e.args)} args"
            )
        for arg, ct in zip(e.args, cts):
            if ct is None or not (isinstance(arg, Var) and arg in active):
                continue
            if e.prim in BROADCASTING:
                ct = b.unbroadcast(ct, arg, out.shape)
            contributions.setdefault(arg, []).append(ct)
    grads = []
    b.loc = None
    for p in wrt:
        g = b.total(contributions.get(p, []))
        if g is None:
            g = b.op("zeros_like", p)
        elif isinstance(g, Const):
            g = b.op("full_like", p, g)
        else:
            g = materialize(b, g)
        name_adjoint(g, p)
        grads.append(g)
    return Adjoint(params, defaults, b.eqns, value, grads, seed, n_forward)


def grad_seed(b: Builder, value: Var):
    """1.0 when the result is known to be a scalar; else a run-time checked 1.0."""
    if value.shape == ():
        return Const(1.0)
    return b.op("grad_seed", value, hint="d" + value.hint if value.hint else "")


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


def name_adjoint(g, var: Var) -> None:
    """Call the adjoint of `W` `dW` when it is a fresh temporary of the adjoint sweep."""
    if isinstance(g, Var) and not g.hint and var.hint:
        g.hint = "d" + var.hint


def materialize(b: Builder, g):
    """Gradients handed to the caller are ordinary writable arrays, not broadcast views."""
    e = b.def_of(g)
    if e is not None and e.prim == "broadcast_to":
        source, like = e.args
        if getattr(source, "shape", None) == ():
            return b.op("full_like", like, source)
        return b.op("copy", g)
    return g


def dead_code(eqns: list[Eqn], roots) -> list[Eqn]:
    """Keep only equations whose outputs the roots need."""
    live = {r for r in roots if isinstance(r, Var)}
    kept = []
    for e in reversed(eqns):
        if any(o in live for o in e.outs):
            kept.append(e)
            live.update(a for a in e.args if isinstance(a, Var))
    kept.reverse()
    return kept
