"""The one table of primitives: spelling, shape rule and derivative rule, side by side.

Each entry of `PRIMITIVES` says how a primitive is written in NumPy (`printer`),
what shape it returns (`shape`), how a cotangent flows back to its arguments
(`vjp`), how tangents of its arguments flow forward to its result (`jvp`), and,
for user-facing ones, which `np.NAME` / method spelling the front end accepts
and with which signature.  Adding a primitive means adding
one entry here and one row to `tests/test_rules.py`.

A VJP rule is `rule(b, g, ans, args, params) -> cotangents`, one per arg
(None where no derivative flows).  `b` is a `Builder`: `b.mul(g, b.op("cos",
x))` appends `g * np.cos(x)` to the program, simplifying as it goes.  Rules
return cotangents shaped like the primitive's output; broadcasting is undone
by the reverse pass (`b.unbroadcast`), so no rule repeats it.

A JVP rule is `rule(b, tangents, ans, args, params) -> tangent`: one tangent
per arg in, None meaning zero (the forward pass calls a rule only when some
tangent is not None), and the tangent of the result out, shaped like `ans`
(None if it is zero).  A term that only one argument of a broadcasting
primitive contributes is broadcast to the result's shape by the rule
(`to_output`).  Every primitive whose result can vary has a JVP rule, including
the ones only derivative rules emit (`broadcast_to`, `scatter`,
`matmul_grad_left`, ...): forward-over-reverse differentiates adjoint programs.
`jvp=None` means the result never varies (comparisons, shapes, constructors).

Conventions at non-smooth points (documented in the README, tested):
relu'(0) = 0 (a tie in np.maximum against a constant goes to the constant),
|x|'(0) = 0, sign' = 0, ties in np.maximum/np.minimum between two varying
values and ties in max/min reductions share the gradient equally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import shapes as sh
from .errors import InternalError
from .ir import Const, Eqn, Var

# Python operator precedence, higher binds tighter.
PREC_CMP, PREC_AND, PREC_ADD, PREC_MUL, PREC_UNARY, PREC_POW, PREC_ATOM = 6, 8, 11, 12, 13, 14, 17


@dataclass(frozen=True)
class Printed:
    """An argument as the emitter sees it: its text, precedence and atom."""

    text: str
    prec: int
    atom: object


@dataclass(frozen=True)
class Primitive:
    name: str
    printer: Callable
    shape: Callable
    vjp: Callable | None  # None: no derivative flows through (output is static)
    numpy: str | None = None  # accepted as np.<numpy>(...)
    signature: tuple = ()  # user-facing parameters; "name=default" ones are static
    method: str | None = None  # accepted as x.<method>(...)
    helper: str | None = None  # name of a module-level helper the printed code calls
    jvp: Callable | None = None  # None: the result never varies (its tangent is zero)


# ---------------------------------------------------------------- printing helpers


def wrap(p: Printed, prec: int) -> str:
    return f"({p.text})" if p.prec < prec else p.text


def is_array(atom) -> bool:
    shape = sh.known(getattr(atom, "shape", None))
    return isinstance(atom, Var) and not atom.static and shape is not None and len(shape) > 0


def shape_text(p: Printed) -> str:
    return f"{wrap(p, PREC_ATOM)}.shape" if is_array(p.atom) else f"np.shape({p.text})"


def literal(value) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if value is Ellipsis:
        return "..."
    return repr(value)


def kwargs_text(params, names) -> str:
    parts = []
    for name in names:
        if name in params and params[name] is not None and params[name] is not False:
            parts.append(f"{name}={literal(params[name])}")
    return "".join(", " + p for p in parts)


def call(fn: str, args, params=None, names=()):
    return f"{fn}({', '.join(a.text for a in args)}{kwargs_text(params or {}, names)})", PREC_ATOM


def np_call(fn: str, names=()):
    return lambda args, params: call(f"np.{fn}", args, params, names)


def infix(op: str, prec: int):
    def printer(args, params):
        left, right = args
        lhs = (
            f"({left.text})"
            if left.prec < prec or (op == "**" and left.prec == prec)
            else left.text
        )
        rhs_needs = right.prec < prec or (right.prec == prec and op != "**")
        rhs = f"({right.text})" if rhs_needs else right.text
        spaced = op != "**" or not (_simple(left) and _simple(right))
        return (f"{lhs} {op} {rhs}" if spaced else f"{lhs}{op}{rhs}"), prec

    return printer


def _simple(p: Printed) -> bool:
    """ruff/black hug `**` when both operands are names, numbers or attribute chains."""
    text = p.text.lstrip("-")
    return p.prec >= PREC_UNARY and all(c.isalnum() or c in "._" for c in text)


def print_neg(args, params):
    (x,) = args
    return f"-{wrap(x, PREC_UNARY)}", PREC_UNARY


def index_text(template, dyn) -> str:
    """Render an index template: items are ("int", k) ("slice", a, b, c) ("none",) ("ellipsis",)."""
    parts = []
    for item in template:
        kind = item[0]
        if kind == "int":
            parts.append(dyn[item[1]].text)
        elif kind == "none":
            parts.append("None")
        elif kind == "ellipsis":
            parts.append("...")
        else:
            bounds = ["" if k is None else dyn[k].text for k in item[1:]]
            if not bounds[2]:
                bounds.pop()
            # ruff/black put spaces around ':' when a bound is not a plain name or number
            spaced = any(b and not re.fullmatch(r"-?[\w.]+", b) for b in bounds)
            parts.append((" : " if spaced else ":").join(bounds).strip())
    return ", ".join(parts) if parts else "()"


def print_getitem(args, params):
    x, *dyn = args
    return f"{wrap(x, PREC_ATOM)}[{index_text(params['index'], dyn)}]", PREC_ATOM


def print_reduce(fn):
    def printer(args, params):
        return call(f"np.{fn}", args, params, ("axis", "keepdims"))

    return printer


def may_be_number(p: Printed) -> bool:
    """A value of shape (): it may be a Python float, which has no .T or .reshape."""
    return getattr(p.atom, "shape", None) == ()


def print_transpose(args, params):
    (x,) = args
    if params.get("axes") is not None:
        return f"np.transpose({x.text}, {literal(params['axes'])})", PREC_ATOM
    if may_be_number(x):
        return f"np.transpose({x.text})", PREC_ATOM
    return f"{wrap(x, PREC_ATOM)}.T", PREC_ATOM


def print_reshape(args, params):
    """x.reshape(shape); np.reshape(x, shape) for a scalar, which may be a Python float."""
    x, shape = args
    if may_be_number(x):
        return f"np.reshape({x.text}, {shape.text})", PREC_ATOM
    return f"{wrap(x, PREC_ATOM)}.reshape({shape.text})", PREC_ATOM


def print_list_call(fn):
    def printer(args, params):
        items = ", ".join(a.text for a in args)
        return f"np.{fn}([{items}]{kwargs_text(params, ('axis',))})", PREC_ATOM

    return printer


def print_tuple(args, params):
    if len(args) == 1:
        return f"({args[0].text},)", PREC_ATOM
    return f"({', '.join(a.text for a in args)})", PREC_ATOM


# ---------------------------------------------------------------- shape rules


def same(shapes, params):
    return shapes[0]


def broadcast(shapes, params):
    return sh.broadcast(*shapes)


def scalar(shapes, params):
    return ()


def unknown(shapes, params):
    return None


def reduced(shapes, params):
    return sh.reduce_shape(shapes[0], params.get("axis"), params.get("keepdims", False))


def shape_transpose(shapes, params):
    s = sh.known(shapes[0])
    if s is None:
        return None
    axes = params.get("axes")
    return tuple(reversed(s)) if axes is None else tuple(s[a] for a in axes)


def shape_getitem(shapes, params):
    s = sh.known(shapes[0])
    template = params["index"]
    if s is None:
        return None
    out, k = [], 0
    explicit = sum(1 for it in template if it[0] in ("int", "slice"))
    for item in template:
        kind = item[0]
        if kind == "none":
            out.append(1)
        elif kind == "int":
            k += 1
        elif kind == "ellipsis":
            n = len(s) - explicit
            out.extend(s[k : k + n])
            k += n
        else:
            full = all(b is None for b in item[1:])
            out.append(s[k] if full and k < len(s) else None)
            k += 1
    if k > len(s):
        return None
    return tuple(out) + tuple(s[k:])


def shape_matmul(shapes, params):
    return sh.matmul_shape(*shapes)


def shape_stacked(shapes, params):
    return None


# ---------------------------------------------------------------- derivative rules


def expand(b, g, x, params):
    """Cotangent of a reduction, re-inserted along the reduced axes.

    The result broadcasts against x; every rule multiplies it by something
    shaped like x or passes it to broadcast_to.
    """
    axis, keepdims = params.get("axis"), params.get("keepdims", False)
    source = b.def_of(g)
    if source is not None and source.prim == "broadcast_to" and source.args[0].shape == ():
        return source.args[0]  # a broadcast scalar: it broadcasts against x as it is
    if axis is None or keepdims:
        return g
    axes = axis if isinstance(axis, tuple) else (axis,)
    rank = sh.rank(x)
    if rank is not None:
        positions = sorted({a % rank for a in axes} if rank else ())
        if len(positions) == rank:
            return g  # every axis was reduced: g is a scalar and broadcasts as it is
        index, k = [], 0
        for pos in range(rank):
            if pos in positions:
                index.append(("none",))
            else:
                index.append(("slice", None, None, None))
                k += 1
        while index and index[-1] == ("slice", None, None, None):
            index.pop()
        return b.op("getitem", g, index=tuple(index))
    return b.op("expand_dims", g, axis=axis)


def count(b, x, params):
    """Number of elements each output of a reduction over `axis` summarises."""
    axis = params.get("axis")
    if axis is None:
        return b.size(x)
    total = Const(1)
    for a in axis if isinstance(axis, tuple) else (axis,):
        total = b.mul(total, b.dim(x, a))
    return total


def spread(b, g, x, params):
    """Cotangent of sum(x): g copied back over the reduced axes, shaped like x."""
    return b.op("broadcast_to", expand(b, g, x, params), x)


def to_output(b, t, ans):
    """A tangent term that one argument alone contributes, broadcast to the result's shape."""
    if t is None or sh.same_shape(getattr(t, "shape", None), getattr(ans, "shape", None)):
        return t
    return b.op("broadcast_to", t, ans)


def multilinear(prim: str, positions=(0,)):
    """JVP of a primitive that is linear in each argument at `positions`, the others fixed.

    The tangent is the sum, over those arguments, of the primitive applied with the
    argument's tangent in its place: d(x @ y) = dx @ y + x @ dy, d sum(x) = sum(dx).
    """

    def rule(b, ts, ans, args, p):
        terms = []
        for k in positions:
            if ts[k] is not None:
                moved = list(args)
                moved[k] = ts[k]
                terms.append(b.op(prim, *moved, **p))
        return b.total(terms)

    return rule


def vjp_sum(b, g, ans, args, p):
    return [spread(b, g, args[0], p)]


def vjp_mean(b, g, ans, args, p):
    return [spread(b, b.div(g, count(b, args[0], p)), args[0], p)]


def vjp_extremum(b, g, ans, args, p):
    (x,) = args
    mask = b.op("eq", x, expand(b, ans, x, p))
    ties = b.op("sum", mask, axis=p.get("axis"), keepdims=True)
    return [b.div(b.mul(mask, expand(b, g, x, p)), ties)]


def jvp_extremum(b, ts, ans, args, p):
    (x,) = args
    mask = b.op("eq", x, expand(b, ans, x, p))
    ties = b.op("sum", mask, axis=p.get("axis"), keepdims=True)
    return b.op("sum", b.div(b.mul(mask, ts[0]), ties), **p)


def vjp_prod(b, g, ans, args, p):
    (x,) = args
    return [b.div(expand(b, b.mul(g, ans), x, p), x)]


def jvp_prod(b, ts, ans, args, p):
    return b.mul(ans, b.op("sum", b.div(ts[0], args[0]), **p))


def centred(b, x, p):
    return b.sub(x, b.op("mean", x, axis=p.get("axis"), keepdims=True))


def vjp_var(b, g, ans, args, p):
    (x,) = args
    scale = b.div(b.mul(Const(2.0), expand(b, g, x, p)), count(b, x, p))
    return [b.mul(scale, centred(b, x, p))]


def jvp_var(b, ts, ans, args, p):
    return b.mul(Const(2.0), b.op("mean", b.mul(centred(b, args[0], p), ts[0]), **p))


def vjp_std(b, g, ans, args, p):
    (x,) = args
    scale = b.div(expand(b, b.div(g, ans), x, p), count(b, x, p))
    return [b.mul(scale, centred(b, x, p))]


def jvp_std(b, ts, ans, args, p):
    return b.div(b.op("mean", b.mul(centred(b, args[0], p), ts[0]), **p), ans)


def vjp_norm(b, g, ans, args, p):
    (x,) = args
    return [b.mul(x, expand(b, b.div(g, ans), x, p))]


def jvp_norm(b, ts, ans, args, p):
    axis, keepdims = p.get("axis"), p.get("keepdims", False)
    return b.div(b.op("sum", b.mul(args[0], ts[0]), axis=axis, keepdims=keepdims), ans)


def vjp_matmul(b, g, ans, args, p):
    x, y = args
    rx, ry = sh.rank(x), sh.rank(y)
    if rx == 2 and ry == 2:
        return [b.op("matmul", g, b.op("transpose", y)), b.op("matmul", b.op("transpose", x), g)]
    if rx == 2 and ry == 1:
        return [b.mul(column(b, g), y), b.op("matmul", b.op("transpose", x), g)]
    if rx == 1 and ry == 2:
        return [b.op("matmul", y, g), b.mul(column(b, x), g)]
    if rx == 1 and ry == 1:
        return [b.mul(g, y), b.mul(g, x)]
    return [b.op("matmul_grad_left", g, x, y), b.op("matmul_grad_right", g, x, y)]


def column(b, v):
    """v[:, None]: times a row it is their outer product, without np.outer's copies."""
    return b.op("getitem", v, index=(("slice", None, None, None), ("none",)))


def vjp_outer(b, g, ans, args, p):
    x, y = args
    if sh.rank(x) == 1 and sh.rank(y) == 1:
        return [b.op("matmul", g, y), b.op("matmul", x, g)]
    dx = b.op("matmul", g, b.op("ravel", y))
    dy = b.op("matmul", b.op("ravel", x), g)
    return [b.op("reshape_like", dx, x), b.op("reshape_like", dy, y)]


def vjp_pow(b, g, ans, args, p):
    x, y = args
    dx = b.mul(g, b.mul(y, b.pow(x, b.sub(y, Const(1)))))
    if isinstance(y, Const):
        return [dx, None]
    safe_x = b.op("where", b.op("eq", x, Const(0)), Const(1.0), x)
    return [dx, b.mul(g, b.mul(ans, b.op("log", safe_x)))]


def jvp_pow(b, ts, ans, args, p):
    x, y = args
    tx, ty = ts
    dx = None if tx is None else b.mul(tx, b.mul(y, b.pow(x, b.sub(y, Const(1)))))
    if ty is None:
        return dx
    safe_x = b.op("where", b.op("eq", x, Const(0)), Const(1.0), x)
    return b.total([dx, b.mul(ty, b.mul(ans, b.op("log", safe_x)))])


def vjp_extremum2(strict: str):
    """np.maximum (strict="gt") / np.minimum (strict="lt"): ties share, except against constants."""
    other = {"gt": "lt", "lt": "gt"}[strict]

    def rule(b, g, ans, args, p):
        x, y = args
        if isinstance(y, Const) or getattr(y, "static", False):
            return [b.mul(g, b.op(strict, x, y)), None]
        if isinstance(x, Const) or getattr(x, "static", False):
            return [None, b.mul(g, b.op(other, x, y))]
        half_tie = b.mul(Const(0.5), b.op("eq", x, y))
        return [
            b.mul(g, b.add(b.op(strict, x, y), half_tie)),
            b.mul(g, b.add(b.op(other, x, y), half_tie)),
        ]

    return rule


def jvp_extremum2(strict: str):
    """Tangent of np.maximum / np.minimum, with the same tie convention as its VJP."""
    other = {"gt": "lt", "lt": "gt"}[strict]

    def rule(b, ts, ans, args, p):
        x, y = args
        tx, ty = ts
        if isinstance(y, Const) or getattr(y, "static", False):
            return b.mul(tx, b.op(strict, x, y))
        if isinstance(x, Const) or getattr(x, "static", False):
            return b.mul(ty, b.op(other, x, y))
        half_tie = b.mul(Const(0.5), b.op("eq", x, y))
        return b.total(
            [
                None if tx is None else b.mul(tx, b.add(b.op(strict, x, y), half_tie)),
                None if ty is None else b.mul(ty, b.add(b.op(other, x, y), half_tie)),
            ]
        )

    return rule


def vjp_clip(b, g, ans, args, p):
    x, lo, hi = args
    inside = b.op("and_", b.op("ge", x, lo), b.op("le", x, hi))
    return [b.mul(g, inside), b.mul(g, b.op("lt", x, lo)), b.mul(g, b.op("gt", x, hi))]


def jvp_clip(b, ts, ans, args, p):
    x, lo, hi = args
    tx, tlo, thi = ts
    terms = []
    if tx is not None:
        terms.append(b.mul(tx, b.op("and_", b.op("ge", x, lo), b.op("le", x, hi))))
    if tlo is not None:
        terms.append(to_output(b, b.mul(tlo, b.op("lt", x, lo)), ans))
    if thi is not None:
        terms.append(to_output(b, b.mul(thi, b.op("gt", x, hi)), ans))
    return b.total(terms)


def vjp_where(b, g, ans, args, p):
    c, x, y = args
    return [None, b.op("where", c, g, Const(0.0)), b.op("where", c, Const(0.0), g)]


def jvp_where(b, ts, ans, args, p):
    c, x, y = args
    _, tx, ty = ts
    t = b.op("where", c, Const(0.0) if tx is None else tx, Const(0.0) if ty is None else ty)
    return t if tx is not None and ty is not None else to_output(b, t, ans)


def only_adds_or_drops_unit_axes(x, template, dyn) -> bool:
    """True when x[index] only inserts new axes or takes index 0 of axes of length 1."""
    shape = sh.known(x.shape)
    if any(item[0] == "ellipsis" for item in template) and any(i[0] == "int" for i in template):
        return False
    axis = 0
    for item in template:
        if item[0] == "int":
            at_zero = isinstance(dyn[item[1]], Const) and dyn[item[1]].value == 0
            if not (at_zero and shape is not None and axis < len(shape) and shape[axis] == 1):
                return False
            axis += 1
        elif item[0] == "slice":
            if item != ("slice", None, None, None):
                return False
            axis += 1
    return True


def vjp_getitem(b, g, ans, args, p):
    x, *dyn = args
    template = p["index"]
    if only_adds_or_drops_unit_axes(x, template, dyn):
        return [b.op("reshape_like", g, x)] + [None] * len(dyn)
    return [b.op("scatter", g, x, *dyn, index=template)] + [None] * len(dyn)


def vjp_transpose(b, g, ans, args, p):
    axes = p.get("axes")
    if axes is None:
        return [b.op("transpose", g)]
    inverse = tuple(sorted(range(len(axes)), key=lambda k: axes[k]))
    return [b.op("transpose", g, axes=inverse)]


def vjp_reshape(b, g, ans, args, p):
    return [b.op("reshape_like", g, args[0]), None]


def along(axis, position_index):
    """Index template selecting `position` along `axis` (negative axes count from the end)."""
    if axis >= 0:
        return (("slice", None, None, None),) * axis + (position_index,)
    return (("ellipsis",), position_index) + (("slice", None, None, None),) * (-axis - 1)


def vjp_concatenate(b, g, ans, args, p):
    axis = p.get("axis", 0)
    start, cts = Const(0), []
    for x in args:
        size = b.op("getitem", b.op("shape", x), Const(axis), index=(("int", 0),))
        stop = b.add(start, size)
        lo = None if isinstance(start, Const) and start.value == 0 else 0
        bounds = [start, stop] if lo is not None else [stop]
        template = along(
            axis, ("slice", 0, 1, None) if lo is not None else ("slice", None, 0, None)
        )
        cts.append(b.op("getitem", g, *bounds, index=template))
        start = stop
    return cts


def vjp_stack(b, g, ans, args, p):
    axis = p.get("axis", 0)
    return [b.op("getitem", g, Const(k), index=along(axis, ("int", 0))) for k in range(len(args))]


def jvp_joined(prim: str):
    """np.concatenate / np.stack: the same join of the tangents, zeros for constant parts."""

    def rule(b, ts, ans, args, p):
        parts = [b.op("zeros_like", x) if t is None else t for x, t in zip(args, ts)]
        return b.op(prim, *parts, **p)

    return rule


def vjp_full_like(b, g, ans, args, p):
    return [None, b.op("sum", g)]


def jvp_full_like(b, ts, ans, args, p):
    return None if ts[1] is None else b.op("full_like", args[0], ts[1])


def unary(rule):
    """Lift a one-argument elementwise rule `(b, g, ans, x) -> ct` to the table's signature."""
    return lambda b, g, ans, args, p: [rule(b, g, ans, args[0])]


def diagonal(rule):
    """JVP of a one-argument elementwise function from its rule `(b, g, ans, x) -> ct`.

    Its Jacobian is diagonal, so pushing a tangent forward multiplies by the same
    derivative as pulling a cotangent back: the tangent takes the cotangent's place.
    """
    return lambda b, ts, ans, args, p: rule(b, ts[0], ans, args[0])


def linear_add(b, g, ans, args, p):
    return [g, g]


def jvp_add(b, ts, ans, args, p):
    tx, ty = ts
    if tx is not None and ty is not None:
        return b.add(tx, ty)
    return to_output(b, ty if tx is None else tx, ans)


def linear_sub(b, g, ans, args, p):
    return [g, b.neg(g)]


def jvp_sub(b, ts, ans, args, p):
    tx, ty = ts
    if tx is not None and ty is not None:
        return b.sub(tx, ty)
    return to_output(b, b.neg(ty) if tx is None else tx, ans)


def vjp_mul(b, g, ans, args, p):
    x, y = args
    return [b.mul(g, y), b.mul(g, x)]


def vjp_div(b, g, ans, args, p):
    x, y = args
    if isinstance(x, Const) and x.value == 1:  # a reciprocal: -1/y**2 is -ans * ans
        return [None, b.neg(b.mul(b.mul(g, ans), ans))]
    return [b.div(g, y), b.neg(b.div(b.mul(g, ans), y))]


def jvp_div(b, ts, ans, args, p):
    x, y = args
    tx, ty = ts
    if ty is None:
        return b.div(tx, y)
    through_y = b.div(b.mul(ty, ans), y)
    return b.neg(through_y) if tx is None else b.sub(b.div(tx, y), through_y)


def vjp_logaddexp(b, g, ans, args, p):
    x, y = args
    return [b.mul(g, b.op("exp", b.sub(x, ans))), b.mul(g, b.op("exp", b.sub(y, ans)))]


def jvp_logaddexp(b, ts, ans, args, p):
    x, y = args
    tx, ty = ts
    return b.total(
        [
            None if tx is None else b.mul(tx, b.op("exp", b.sub(x, ans))),
            None if ty is None else b.mul(ty, b.op("exp", b.sub(y, ans))),
        ]
    )


# ---------------------------------------------------------------- loop adjoints, forward

# Forward-over-reverse differentiates the adjoint of a loop, which holds tapes and
# accumulators.  The tangent of a tape (a Python list) is a parallel list of tangents,
# created by the same loop (forward.py adds it to `Loop.tapes`); the tangent of an
# accumulator is a fresh array that forward.py allocates where the accumulator is.


def jvp_push(b, ts, ans, args, p):
    """`tape.append(v)`: v's tangent goes on the tangent tape, in the same order.

    Zeros go there when v has no tangent, so that the two lists stay aligned.
    """
    tape_tangent, tangent = ts
    tape, value = args
    if tape_tangent is None:
        raise InternalError("a value with a tangent pushed on a tape that has no tangent tape")
    if tangent is None:
        tangent = b.op("zeros_like", value)
    b.append(Eqn((Var(static=True),), "push", (tape_tangent, tangent), {}, b.loc))
    return None


def jvp_pop(b, ts, ans, args, p):
    """`tape.pop()`: the tangent comes off the tangent tape (never shared: cse does not apply)."""
    out = Var(shape=ans.shape)
    b.append(Eqn((out,), "pop", (ts[0],), {}, b.loc))
    return out


def jvp_scatter_add(b, ts, ans, args, p):
    """`acc[index] += g`: `tacc[index] += tg`, in place on the tangent accumulator.

    The tangent of an accumulator is a fresh array the loop owns (forward.py
    allocates it), so updating it in place is as safe as updating acc.
    """
    acc, _g, *dyn = args
    tacc, tg = ts[0], ts[1]
    if tg is None:
        return tacc
    if tacc is None:
        tacc = b.op("zeros_like", acc, cse=False)
    return b.op("scatter_add", tacc, tg, *dyn, cse=False, **p)


# ---------------------------------------------------------------- the table


def _prims(*entries):
    return {e.name: e for e in entries}


def elementwise(name, rule):
    return Primitive(
        name, np_call(name), same, unary(rule), numpy=name, signature=("x",), jvp=diagonal(rule)
    )


def nondiff(name, printer, shape=unknown, **kw):
    return Primitive(name, printer, shape, None, **kw)


def reduction(name, rule, jvp):
    return Primitive(
        name,
        print_reduce(name),
        reduced,
        rule,
        numpy=name,
        signature=("a", "axis=None", "keepdims=False"),
        method=name,
        jvp=jvp,
    )


def comparison(name, op):
    return nondiff(name, infix(op, PREC_CMP), broadcast)


PRIMITIVES = _prims(
    # arithmetic (operators)
    Primitive("add", infix("+", PREC_ADD), broadcast, linear_add, jvp=jvp_add),
    Primitive("sub", infix("-", PREC_ADD), broadcast, linear_sub, jvp=jvp_sub),
    Primitive("mul", infix("*", PREC_MUL), broadcast, vjp_mul, jvp=multilinear("mul", (0, 1))),
    Primitive("div", infix("/", PREC_MUL), broadcast, vjp_div, jvp=jvp_div),
    Primitive("pow", infix("**", PREC_POW), broadcast, vjp_pow, jvp=jvp_pow),
    Primitive(
        "neg",
        print_neg,
        same,
        unary(lambda b, g, ans, x: b.neg(g)),
        jvp=diagonal(lambda b, t, ans, x: b.neg(t)),
    ),
    Primitive(
        "matmul", infix("@", PREC_MUL), shape_matmul, vjp_matmul, jvp=multilinear("matmul", (0, 1))
    ),
    # elementwise functions: d/dx, written with the result `ans` where that saves work
    elementwise("exp", lambda b, g, ans, x: b.mul(g, ans)),
    elementwise("log", lambda b, g, ans, x: b.div(g, x)),
    elementwise("log1p", lambda b, g, ans, x: b.div(g, b.add(Const(1), x))),
    elementwise("expm1", lambda b, g, ans, x: b.mul(g, b.add(ans, Const(1)))),
    elementwise("sqrt", lambda b, g, ans, x: b.div(g, b.mul(Const(2), ans))),
    elementwise("square", lambda b, g, ans, x: b.mul(g, b.mul(Const(2), x))),
    elementwise("abs", lambda b, g, ans, x: b.mul(g, b.op("sign", x))),
    elementwise("sin", lambda b, g, ans, x: b.mul(g, b.op("cos", x))),
    elementwise("cos", lambda b, g, ans, x: b.neg(b.mul(g, b.op("sin", x)))),
    elementwise("tan", lambda b, g, ans, x: b.mul(g, b.add(Const(1), b.pow(ans, Const(2))))),
    elementwise("tanh", lambda b, g, ans, x: b.mul(g, b.sub(Const(1), b.pow(ans, Const(2))))),
    elementwise("arctan", lambda b, g, ans, x: b.div(g, b.add(Const(1), b.pow(x, Const(2))))),
    elementwise("sinh", lambda b, g, ans, x: b.mul(g, b.op("cosh", x))),
    elementwise("cosh", lambda b, g, ans, x: b.mul(g, b.op("sinh", x))),
    nondiff("sign", np_call("sign"), same, numpy="sign", signature=("x",)),
    # binary functions
    Primitive(
        "maximum",
        np_call("maximum"),
        broadcast,
        vjp_extremum2("gt"),
        "maximum",
        ("x1", "x2"),
        jvp=jvp_extremum2("gt"),
    ),
    Primitive(
        "minimum",
        np_call("minimum"),
        broadcast,
        vjp_extremum2("lt"),
        "minimum",
        ("x1", "x2"),
        jvp=jvp_extremum2("lt"),
    ),
    Primitive("power", np_call("power"), broadcast, vjp_pow, "power", ("x1", "x2"), jvp=jvp_pow),
    Primitive(
        "logaddexp",
        np_call("logaddexp"),
        broadcast,
        vjp_logaddexp,
        "logaddexp",
        ("x1", "x2"),
        jvp=jvp_logaddexp,
    ),
    Primitive(
        "dot",
        np_call("dot"),
        shape_matmul,
        vjp_matmul,
        "dot",
        ("a", "b"),
        method="dot",
        jvp=multilinear("dot", (0, 1)),
    ),
    Primitive(
        "matmul_fn",
        np_call("matmul"),
        shape_matmul,
        vjp_matmul,
        "matmul",
        ("x1", "x2"),
        jvp=multilinear("matmul_fn", (0, 1)),
    ),
    Primitive(
        "outer",
        np_call("outer"),
        unknown,
        vjp_outer,
        "outer",
        ("a", "b"),
        jvp=multilinear("outer", (0, 1)),
    ),
    Primitive(
        "where",
        np_call("where"),
        broadcast,
        vjp_where,
        "where",
        ("condition", "x", "y"),
        jvp=jvp_where,
    ),
    Primitive(
        "clip", np_call("clip"), broadcast, vjp_clip, "clip", ("a", "a_min", "a_max"), jvp=jvp_clip
    ),
    # reductions
    reduction("sum", vjp_sum, multilinear("sum")),
    reduction("mean", vjp_mean, multilinear("mean")),
    reduction("max", vjp_extremum, jvp_extremum),
    reduction("min", vjp_extremum, jvp_extremum),
    reduction("prod", vjp_prod, jvp_prod),
    reduction("var", vjp_var, jvp_var),
    reduction("std", vjp_std, jvp_std),
    Primitive(
        "norm",
        lambda args, params: call("np.linalg.norm", args, params, ("axis", "keepdims")),
        reduced,
        vjp_norm,
        numpy="linalg.norm",
        signature=("x", "ord=None", "axis=None", "keepdims=False"),
        jvp=jvp_norm,
    ),
    # structure
    Primitive(
        "transpose",
        print_transpose,
        shape_transpose,
        vjp_transpose,
        "transpose",
        ("a", "axes=None"),
        method="transpose",
        jvp=multilinear("transpose"),
    ),
    Primitive(
        "reshape",
        print_reshape,
        unknown,
        vjp_reshape,
        "reshape",
        ("a", "newshape"),
        method="reshape",
        jvp=multilinear("reshape"),
    ),
    Primitive("getitem", print_getitem, shape_getitem, vjp_getitem, jvp=multilinear("getitem")),
    Primitive(
        "concatenate",
        print_list_call("concatenate"),
        shape_stacked,
        vjp_concatenate,
        "concatenate",
        ("*arrays", "axis=0"),
        jvp=jvp_joined("concatenate"),
    ),
    Primitive(
        "stack",
        print_list_call("stack"),
        shape_stacked,
        vjp_stack,
        "stack",
        ("*arrays", "axis=0"),
        jvp=jvp_joined("stack"),
    ),
    # constructors: their values carry no derivative (except full_like's fill value)
    nondiff("ones", np_call("ones"), numpy="ones", signature=("shape",)),
    nondiff("zeros", np_call("zeros"), numpy="zeros", signature=("shape",)),
    nondiff("ones_like", np_call("ones_like"), same, numpy="ones_like", signature=("a",)),
    nondiff("zeros_like", np_call("zeros_like"), same, numpy="zeros_like", signature=("a",)),
    nondiff("eye", np_call("eye"), numpy="eye", signature=("N",)),
    Primitive(
        "full_like",
        np_call("full_like"),
        same,
        vjp_full_like,
        "full_like",
        ("a", "fill_value"),
        jvp=jvp_full_like,
    ),
    # comparisons and logic: boolean results, no derivative
    comparison("gt", ">"),
    comparison("ge", ">="),
    comparison("lt", "<"),
    comparison("le", "<="),
    comparison("eq", "=="),
    comparison("ne", "!="),
    nondiff("and_", infix("&", PREC_AND), broadcast),
    # static (Python-level) values: shapes, sizes, tuples
    nondiff("shape", lambda args, params: (shape_text(args[0]), PREC_ATOM)),
    nondiff("ndim", lambda args, params: (f"np.ndim({args[0].text})", PREC_ATOM)),
    nondiff("size", lambda args, params: (f"np.size({args[0].text})", PREC_ATOM), scalar),
    nondiff("tuple", print_tuple),
    # only emitted by derivative rules; those linear in an argument have JVP rules, since
    # forward-over-reverse (Hessian-vector products) differentiates adjoint programs
    nondiff(
        "broadcast_to",
        lambda args, params: (f"np.broadcast_to({args[0].text}, {shape_text(args[1])})", PREC_ATOM),
        lambda shapes, params: shapes[1],
        jvp=multilinear("broadcast_to"),
    ),
    nondiff("expand_dims", np_call("expand_dims", ("axis",)), jvp=multilinear("expand_dims")),
    nondiff(
        "reshape_like",
        lambda args, params: print_reshape(
            [args[0], Printed(shape_text(args[1]), PREC_ATOM, None)], params
        ),
        lambda shapes, params: shapes[1],
        jvp=multilinear("reshape_like"),
    ),
    nondiff("ravel", np_call("ravel"), jvp=multilinear("ravel")),
    nondiff(
        "scatter",
        None,  # printed as statements by emit
        lambda shapes, params: shapes[1],
        jvp=multilinear("scatter"),
    ),
    # `acc[index] += g` (or `acc += g`) on an accumulator symgrad allocated itself
    nondiff("scatter_add", None, lambda shapes, params: shapes[0], jvp=jvp_scatter_add),
    nondiff(
        "unbroadcast",
        lambda args, params: (f"_unbroadcast({args[0].text}, {shape_text(args[1])})", PREC_ATOM),
        lambda shapes, params: shapes[1],
        helper="_unbroadcast",
        jvp=multilinear("unbroadcast"),
    ),
    # _matmul_grad_left(g, a, b) reads only the shape of a: it is linear in g and in b
    nondiff(
        "matmul_grad_left",
        lambda args, params: call("_matmul_grad_left", args),
        lambda shapes, params: shapes[1],
        helper="_matmul_grad_left",
        jvp=multilinear("matmul_grad_left", (0, 2)),
    ),
    nondiff(
        "matmul_grad_right",
        lambda args, params: call("_matmul_grad_right", args),
        lambda shapes, params: shapes[2],
        helper="_matmul_grad_right",
        jvp=multilinear("matmul_grad_right", (0, 1)),
    ),
    nondiff(
        "copy",
        lambda args, params: (f"np.array({args[0].text})", PREC_ATOM),
        same,
        jvp=multilinear("copy"),
    ),
    nondiff(
        "grad_seed",
        lambda args, params: call("_grad_seed", args),
        scalar,
        helper="_grad_seed",
    ),
    # a call to a helper function of the user's file (primal only; gradients inline helpers)
    nondiff("call", lambda args, params: call(params["func"], args)),
    nondiff("unpack", None),  # `N, D = X.shape`: printed as a statement by emit
    nondiff("int_min", lambda args, params: call("min", args), scalar),
    # `a op= b` or `np.op(..., out=a)`: an elementwise op written into its dead argument
    # (inplace.py); printed as a statement by emit
    nondiff("inplace", None, lambda shapes, params: shapes[params["slot"]]),
    # the tape of a loop: values the adjoint sweep needs, saved by the forward sweep
    nondiff("push", None, jvp=jvp_push),  # `tape.append(value)`: a statement, by emit
    nondiff(
        "pop",
        lambda args, params: (f"{wrap(args[0], PREC_ATOM)}.pop()", PREC_ATOM),
        jvp=jvp_pop,
    ),
)

# Derivative-rule helpers live in the generated module's preamble, emitted only when used.
HELPERS = {
    "_unbroadcast": '''
def _unbroadcast(g, shape):
    """Sum g over the axes NumPy broadcasting added, so it has `shape`."""
    if np.shape(g) == shape:
        return g
    lead = np.ndim(g) - len(shape)
    g = np.sum(g, axis=tuple(range(lead)))
    kept = tuple(k for k, n in enumerate(shape) if n == 1 and np.shape(g)[k] != 1)
    return np.sum(g, axis=kept, keepdims=True).reshape(shape)
''',
    "_matmul_grad_left": '''
def _matmul_grad_left(g, a, b):
    """Gradient of a @ b with respect to a, for operands of any rank."""
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return g * b
    if np.ndim(a) == 0:
        return np.sum(g * b)
    if np.ndim(b) == 0:
        return g * b
    if np.ndim(b) == 1:
        return _unbroadcast(g[..., None] * b, np.shape(a))
    if np.ndim(a) == 1:
        return _unbroadcast((b @ g[..., None])[..., 0], np.shape(a))
    return _unbroadcast(g @ np.swapaxes(b, -1, -2), np.shape(a))
''',
    "_matmul_grad_right": '''
def _matmul_grad_right(g, a, b):
    """Gradient of a @ b with respect to b, for operands of any rank."""
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return g * a
    if np.ndim(b) == 0:
        return np.sum(g * a)
    if np.ndim(a) == 0:
        return g * a
    if np.ndim(a) == 1:
        return _unbroadcast(a[:, None] * g[..., None, :], np.shape(b))
    if np.ndim(b) == 1:
        return _unbroadcast(np.sum(a * g[..., None], axis=-2), np.shape(b))
    return _unbroadcast(np.swapaxes(a, -1, -2) @ g, np.shape(b))
''',
}
HELPERS["_grad_seed"] = '''
def _grad_seed(value):
    """The cotangent 1.0 of a scalar result; grad_ and value_and_grad_ need one."""
    if np.ndim(value) != 0:
        raise ValueError("grad_ needs a scalar result; use vjp_ instead")
    return 1.0
'''
HELPER_DEPENDS = {"_matmul_grad_left": ("_unbroadcast",), "_matmul_grad_right": ("_unbroadcast",)}

# The user-facing names the front end accepts, derived from the table.
NUMPY_FUNCTIONS = {p.numpy: p for p in PRIMITIVES.values() if p.numpy}
NUMPY_FUNCTIONS["matmul"] = PRIMITIVES["matmul_fn"]
ARRAY_METHODS = {p.method: p for p in PRIMITIVES.values() if p.method}
NUMPY_CONSTANTS = {
    "pi": Const(3.141592653589793),
    "e": Const(2.718281828459045),
    "newaxis": Const(None),
}
