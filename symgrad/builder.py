"""Builder: appends equations to a straight-line program, simplifying as it goes.

Every equation the front end, the inliner and the derivative rules create goes
through `Builder.op`, which
- folds constants and drops identities that keep shape and NaN (`x * 1`, `x + 0`,
  `--x`; never `0 * x`),
- hash-conses: an equation identical to one already built returns the existing
  variable, so each shared value is computed once (common subexpression
  elimination across the forward and adjoint sweeps),
- infers the static shape of the result from the primitive's shape rule.
"""

from __future__ import annotations

from . import shapes as sh
from .ir import Const, Eqn, Loc, Var, is_one_const, is_zero_const
from .primitives import PRIMITIVES

BOOLEAN = {"gt", "ge", "lt", "le", "eq", "ne", "and_"}
ARITHMETIC = {"add", "sub", "mul", "div", "pow", "neg"}
ELEMENTWISE_BINARY = {"add", "sub", "mul", "div", "pow", "where", "maximum", "minimum"}
COMPARE = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}
FOLDABLE = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
}


def _const_key(a):
    if isinstance(a, Const):
        return ("const", type(a.value).__name__, repr(a.value))
    return ("var", id(a))


def _shape_key(shape):
    if isinstance(shape, sh.Opaque):
        return ("opaque", id(shape))
    if isinstance(shape, tuple) and all(isinstance(d, (int, str)) for d in shape):
        return ("dims", shape)
    return None


def _number(a) -> bool:
    return isinstance(a, Const) and type(a.value) in (int, float)


class Builder:
    def __init__(self):
        self.eqns: list = []  # the statements of the innermost open block
        self.defs: dict[Var, Eqn] = {}
        self._memos: list[dict] = [{}]  # one per open block; inner blocks see outer values
        self._outer: list[list] = []
        self.loc: Loc | None = None
        self._shape_owner: dict = {}  # shape key -> the parameter that has that shape
        self._dim_owner: dict = {}  # dim symbol -> (parameter, axis) that has it
        self._dims = 0
        # derivative code may gather constant factors (0.5 * (2 * x) -> x); the primal
        # never is, so its values stay the user's bit for bit
        self.fold_factors = False

    def _fresh_dim(self) -> str:
        """A length known only to equal itself (a slice of unknown extent, say)."""
        self._dims += 1
        return f"?{self._dims}"

    def register_shape(self, var: Var) -> None:
        """Let `np.shape(t)` of a value shaped like parameter `var` read `np.shape(var)`."""
        key = _shape_key(var.shape)
        if key is not None:
            self._shape_owner.setdefault(key, var)
        for axis, d in enumerate(sh.known(var.shape) or ()):
            if isinstance(d, str):
                self._dim_owner.setdefault(d, (var, axis))

    def dim(self, x, axis: int):
        """The length of axis `axis` of x, read from a parameter that has it where possible."""
        shape = sh.known(getattr(x, "shape", None))
        d = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
        if isinstance(d, int):
            return Const(d)
        owner, k = self._dim_owner.get(d, (x, axis))
        return self.op("getitem", self.op("shape", owner), Const(k), index=(("int", 0),))

    def size(self, x):
        """x.size, as a product of parameter dims when x's shape is known."""
        shape = sh.known(getattr(x, "shape", None))
        if shape is None or not all(isinstance(d, int) or d in self._dim_owner for d in shape):
            return self.op("size", x)
        total = Const(1)
        for axis in range(len(shape)):
            total = self.mul(total, self.dim(x, axis))
        return total

    # ------------------------------------------------------------ core

    def op(self, prim: str, *args, hint: str = "", cse: bool = True, **params):
        """Append `prim(*args)`, or return an equal value already built (unless cse=False)."""
        args = tuple(args)
        if prim in ("shape", "size") and isinstance(args[0], Var):
            args = (self._shape_owner.get(_shape_key(args[0].shape), args[0]),)
        simplified = self._simplify(prim, args, params)
        if simplified is not None:
            return simplified
        key = (prim, tuple(_const_key(a) for a in args), repr(sorted(params.items())))
        for memo in reversed(self._memos if cse else ()):
            if key in memo:
                return memo[key]
        entry = PRIMITIVES[prim]
        shape = entry.shape([getattr(a, "shape", None) for a in args], params)
        if prim in ("size", "ndim") or (prim == "getitem" and self._is_tuple(args[0])):
            shape = ()  # a Python int
        if shape is None:
            shape = sh.Opaque(hint or prim)
        elif isinstance(shape, tuple) and None in shape:
            shape = tuple(self._fresh_dim() if d is None else d for d in shape)
        static = entry.vjp is None or all(isinstance(a, Const) or a.static for a in args)
        out = Var(hint=hint, shape=shape, static=static)
        eqn = Eqn((out,), prim, args, dict(params), self.loc)
        self.eqns.append(eqn)
        self.defs[out] = eqn
        if cse:
            self._memos[-1][key] = out
        return out

    # ------------------------------------------------------------ blocks

    def open_block(self, stmts=None) -> None:
        """Start appending to a nested block (a loop body or a branch)."""
        self._outer.append(self.eqns)
        self.eqns = [] if stmts is None else stmts
        self._memos.append({})

    def close_block(self) -> list:
        block = self.eqns
        self.eqns = self._outer.pop()
        self._memos.pop()
        return block

    def append(self, stmt) -> None:
        """Append a Loop, a Cond or a hand-made Eqn."""
        self.eqns.append(stmt)
        if isinstance(stmt, Eqn):
            for o in stmt.outs:
                self.defs[o] = stmt

    def emit_multi(self, prim: str, args, outs, **params):
        """An equation with several outputs (tuple unpacking); never hash-consed."""
        eqn = Eqn(tuple(outs), prim, tuple(args), dict(params), self.loc)
        self.eqns.append(eqn)
        for o in outs:
            self.defs[o] = eqn
        return outs

    def _is_tuple(self, a) -> bool:
        if isinstance(a, Const):
            return isinstance(a.value, tuple)
        d = self.def_of(a)
        return d is not None and d.prim in ("shape", "tuple")

    def _python_scalar(self, a) -> bool:
        """A number, or a value computed from shapes and numbers only.

        Never one computed from a comparison (`-(x == m)`): a NumPy bool, which `-` rejects.
        """
        if _number(a):
            return True
        if not (isinstance(a, Var) and a.static and a.shape == ()):
            return False
        d = self.def_of(a)
        if d is None:
            return True
        if d.prim in BOOLEAN:
            return False
        return d.prim not in ARITHMETIC or all(self._python_scalar(x) for x in d.args)

    def def_of(self, a):
        return self.defs.get(a) if isinstance(a, Var) else None

    # ------------------------------------------------------------ arithmetic

    def add(self, x, y):
        return self.op("add", x, y)

    def sub(self, x, y):
        return self.op("sub", x, y)

    def mul(self, x, y):
        return self.op("mul", x, y)

    def div(self, x, y):
        return self.op("div", x, y)

    def neg(self, x):
        return self.op("neg", x)

    def pow(self, x, y):
        return self.op("pow", x, y)

    def total(self, terms):
        """Sum of cotangent contributions (None entries are zeros)."""
        terms = [t for t in terms if t is not None]
        if not terms:
            return None
        acc = terms[0]
        for t in terms[1:]:
            acc = self.add(acc, t)
        return acc

    # ------------------------------------------------------------ broadcasting

    def unbroadcast(self, ct, x, out_shape):
        """Reduce cotangent `ct` (of a broadcast result shaped out_shape) to x's shape."""
        xs = getattr(x, "shape", None)
        if sh.same_shape(xs, out_shape):
            return ct
        if xs == () and isinstance(x, Const):
            return None
        plan = sh.reduction_plan(xs, out_shape)
        if plan is None:
            return self.op("unbroadcast", ct, x)
        lead, kept = plan
        if lead:
            ct = self.op("sum", ct, axis=lead if len(lead) > 1 else lead[0])
        if kept:
            ct = self.op("sum", ct, axis=kept if len(kept) > 1 else kept[0], keepdims=True)
        return ct

    # ------------------------------------------------------------ peepholes

    def _simplify(self, prim, args, params):
        if prim == "neg":
            (x,) = args
            if _number(x):
                return Const(-x.value)
            d = self.def_of(x)
            if d is not None and d.prim == "neg":
                return d.args[0]
            if d is not None and d.prim in ("mul", "div") and self._python_scalar(d.args[0]):
                # -(c / v) is (-c) / v: negate the Python number, not the array
                return self.op(d.prim, self.neg(d.args[0]), d.args[1])
            return None
        if prim in FOLDABLE and all(_number(a) for a in args):
            return Const(FOLDABLE[prim](args[0].value, args[1].value))
        if prim == "div" and all(_number(a) for a in args) and args[1].value != 0:
            return Const(args[0].value / args[1].value)
        if prim in ELEMENTWISE_BINARY:
            narrowed = self._drop_broadcast_to(prim, args)
            if narrowed is not None:
                return self.op(prim, *narrowed, **params)
        if prim == "mul":
            x, y = args
            if is_one_const(x):
                return y
            if is_one_const(y):
                return x
            if self.fold_factors:
                folded = self._fold_factors(x, y)
                if folded is not None:
                    return folded
            if _number(x) and x.value == -1:
                return self.neg(y)
            if _number(y) and y.value == -1:
                return self.neg(x)
            for a, other, flip in ((x, y, False), (y, x, True)):
                d = self.def_of(a)
                if d is not None and d.prim == "neg" and not self._python_scalar(a):
                    inner = (other, d.args[0]) if flip else (d.args[0], other)
                    return self.neg(self.mul(*inner))
        if prim == "div":
            x, y = args
            if is_one_const(y):
                return x
            d = self.def_of(x)
            if d is not None and d.prim == "neg" and not self._python_scalar(x):
                return self.neg(self.div(d.args[0], y))
        if prim == "add":
            x, y = args
            if is_zero_const(x):
                return y
            if is_zero_const(y):
                return x
            dy, dx = self.def_of(y), self.def_of(x)
            if dy is not None and dy.prim == "neg":
                return self.sub(x, dy.args[0])
            if dx is not None and dx.prim == "neg":
                return self.sub(y, dx.args[0])
        if prim == "sub":
            x, y = args
            if is_zero_const(y):
                return x
            if is_zero_const(x):
                return self.neg(y)
            dy = self.def_of(y)
            if dy is not None and dy.prim == "neg":
                return self.add(x, dy.args[0])
        if prim == "pow" and is_one_const(args[1]):
            return args[0]
        if prim == "ndim" and sh.rank(args[0]) is not None:
            return Const(sh.rank(args[0]))
        if prim in COMPARE and all(_number(a) for a in args):
            return Const(COMPARE[prim](args[0].value, args[1].value))
        if prim == "add" and args[0] is args[1] and isinstance(args[0], Var):
            return self.mul(Const(2), args[0])
        if prim == "reshape_like":
            return self._reshape_like(*args)
        return None

    def _constant_factor(self, a):
        """(c, rest) with a == c * rest for a number c, or (None, a)."""
        if _number(a) and isinstance(a.value, float | int):
            return a.value, None
        d = self.def_of(a)
        if d is not None and d.prim == "mul":
            x, y = d.args
            if _number(x):
                return x.value, y
            if _number(y):
                return y.value, x
        return None, a

    def _fold_factors(self, x, y):
        """c1 * (c2 * r) -> (c1 * c2) * r, when a factor hides inside a product."""
        cx, rx = self._constant_factor(x)
        cy, ry = self._constant_factor(y)
        nested = (cx is not None and rx is not None) or (cy is not None and ry is not None)
        if not nested:
            return None
        c = (1 if cx is None else cx) * (1 if cy is None else cy)
        rest = ry if rx is None else rx if ry is None else self.mul(rx, ry)
        if rest is None:
            return Const(c)
        return rest if c == 1 else self.mul(Const(c), rest)

    def _reshape_like(self, a, like):
        """Skip reshapes that change nothing; `sum(keepdims=True).reshape` is a plain sum."""
        target = getattr(like, "shape", None)
        if isinstance(a, Const):  # a constant cotangent of a one-element view
            return self.op("full_like", like, a)
        if sh.same_shape(getattr(a, "shape", None), target):
            return a
        d = self.def_of(a)
        if d is not None and d.prim == "sum" and d.params.get("keepdims"):
            axis = d.params.get("axis")
            if sh.same_shape(sh.reduce_shape(d.args[0].shape, axis, False), target):
                return self.op("sum", d.args[0], axis=axis)
        return None

    def _drop_broadcast_to(self, prim, args):
        """`broadcast_to(a, x) * y` is `a * y` when y already has x's shape.

        The other arguments are read as already narrowed, so that of two broadcasts
        (`broadcast_to(g, x) + broadcast_to(h, x)`) one stays and keeps x's shape.
        """
        changed = list(args)
        for k, a in enumerate(args):
            d = self.def_of(a)
            if d is None or d.prim != "broadcast_to":
                continue
            target = d.args[1].shape
            others = [o for j, o in enumerate(changed) if j != k]
            if any(sh.same_shape(getattr(o, "shape", None), target) for o in others):
                changed[k] = d.args[0]
        return tuple(changed) if changed != list(args) else None
