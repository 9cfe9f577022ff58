"""Evaluates symgrad IR with NumPy or with sympy: the engine behind `symgrad check`'s oracles.

Guarantees:

- `EVALUATORS` holds one entry per primitive of `primitives.PRIMITIVES` (a test
  checks they match), each `evaluator(backend, args, params) -> value`.  Every
  entry is written once for both backends: array plumbing (indexing, reshapes,
  sums, matmul) goes through NumPy, which handles object arrays of sympy
  expressions; the math that differs (exp, max, comparisons, ...) goes through
  the backend.
- `Runner.run` executes statements as the emitted code does: loops (forwards or
  reversed, with their tapes) and branches included; `Interpreter` evaluates
  each equation with one backend, `evaluate(fn, args, backend)` runs a function.
- `NumpyBackend` computes what the emitted code computes, in float64.
- `SympyBackend` computes an exact expression per array element.  Booleans are
  0/1 indicator expressions (`Piecewise((1, x > y), (0, True))`), so every value
  is something sympy can differentiate.  sympy is imported only when this
  backend is created, never by `symgrad gen`.
- Nothing here executes the user's source: it evaluates IR the front end built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import InternalError
from .ir import Cond, Const, Eqn, Function, Loop
from .primitives import HELPERS

# ---------------------------------------------------------------- backends


class NumpyBackend:
    """Float64 NumPy, exactly as the generated module spells each primitive."""

    name = "numpy"

    def math(self, name: str, *xs):
        return getattr(np, name)(*xs)

    def compare(self, op: str, x, y):
        return getattr(np, COMPARISONS[op])(x, y)

    def logical_and(self, x, y):
        return x & y

    def where(self, c, x, y):
        return np.where(c, x, y)

    def extremum(self, which: str, x, axis, keepdims: bool):
        return getattr(np, which)(x, axis=axis, keepdims=keepdims)

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def var(self, x, axis, keepdims: bool):
        return np.var(x, axis=axis, keepdims=keepdims)

    def std(self, x, axis, keepdims: bool):
        return np.std(x, axis=axis, keepdims=keepdims)

    def norm(self, x, axis, keepdims: bool):
        return np.linalg.norm(x, axis=axis, keepdims=keepdims)


class SympyBackend:
    """Exact expressions: arrays are NumPy object arrays of sympy expressions.

    Non-smooth functions (abs, sign, maximum, max, clip, comparisons) are
    `Piecewise` expressions with unevaluated conditions: sympy differentiates
    them branch by branch, and never runs its slow simplifications of `Max`.
    """

    name = "sympy"

    def __init__(self):
        import sympy

        self.sp = sympy
        self.functions = {
            "exp": sympy.exp,
            "log": sympy.log,
            "log1p": lambda x: sympy.log(1 + x),
            "expm1": lambda x: sympy.exp(x) - 1,
            "sqrt": sympy.sqrt,
            "square": lambda x: x**2,
            "abs": lambda x: self.piecewise((x, self.relation("ge", x, 0)), (-x, True)),
            "sign": lambda x: self.piecewise(
                (1, self.relation("gt", x, 0)), (-1, self.relation("lt", x, 0)), (0, True)
            ),
            "sin": sympy.sin,
            "cos": sympy.cos,
            "tan": sympy.tan,
            "tanh": sympy.tanh,
            "arctan": sympy.atan,
            "sinh": sympy.sinh,
            "cosh": sympy.cosh,
            "maximum": lambda x, y: self.piecewise((x, self.relation("ge", x, y)), (y, True)),
            "minimum": lambda x, y: self.piecewise((x, self.relation("le", x, y)), (y, True)),
            "logaddexp": lambda x, y: sympy.log(sympy.exp(x) + sympy.exp(y)),
        }
        self.relations = {
            "gt": sympy.Gt,
            "ge": sympy.Ge,
            "lt": sympy.Lt,
            "le": sympy.Le,
            "eq": sympy.Eq,
            "ne": sympy.Ne,
        }

    def relation(self, op: str, x, y):
        """x OP y: a Python bool between numbers, else an unevaluated sympy relation."""
        if _is_number(x) and _is_number(y):
            return bool(getattr(np, COMPARISONS[op])(float(x), float(y)))
        return self.relations[op](x, y, evaluate=False)

    def piecewise(self, *pieces):
        """The value of the first (value, condition) piece whose condition holds.

        Conditions are Python bools or relations between plain symbols, never
        between Piecewise expressions: sympy's Piecewise simplifies nested
        conditions very slowly.
        """
        kept = []
        for value, condition in pieces:
            if condition is False:
                continue
            if condition is True:
                if not kept:
                    return value
                kept.append((value, True))
                break
            kept.append((value, condition))
        return self.sp.Piecewise(*kept, evaluate=False)

    def extreme(self, op: str, items):
        """The first of `items` that is OP every other one ("ge": the max, "le": the min)."""
        pieces = []
        for i, item in enumerate(items[:-1]):
            rest = items[:i] + items[i + 1 :]
            pieces.append((item, self.sp.And(*(self.relation(op, item, r) for r in rest))))
        return self.piecewise(*pieces, (items[-1], True))

    def elementwise(self, fn: Callable, nin: int, *xs):
        return np.frompyfunc(fn, nin, 1)(*xs)

    def math(self, name: str, *xs):
        return self.elementwise(self.functions[name], len(xs), *xs)

    def compare(self, op: str, x, y):
        return self.elementwise(
            lambda a, b: self.piecewise((1, self.relation(op, a, b)), (0, True)), 2, x, y
        )

    def logical_and(self, x, y):
        return x * y

    def where(self, c, x, y):
        return self.elementwise(
            lambda a, b, d: self.piecewise((b, self.relation("ne", a, 0)), (d, True)), 3, c, x, y
        )

    def clip(self, x, lo, hi):
        """np.clip is minimum(maximum(x, lo), hi), written without nesting."""

        def one(a, low, high):
            above = self.sp.Or(self.relation("ge", a, high), self.relation("ge", low, high))
            return self.piecewise((high, above), (low, self.relation("ge", low, a)), (a, True))

        return self.elementwise(one, 3, x, lo, hi)

    def extremum(self, which: str, x, axis, keepdims: bool):
        if np.ndim(x) == 0:
            return x
        x = np.asarray(x, dtype=object)
        axes = range(x.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        reduced = sorted({a % x.ndim for a in axes})
        kept = [a for a in range(x.ndim) if a not in reduced]
        rows = np.transpose(x, kept + reduced).reshape([x.shape[a] for a in kept] + [-1])
        out = np.empty(rows.shape[:-1], dtype=object)
        op = "ge" if which == "max" else "le"
        for index in np.ndindex(out.shape):
            out[index] = self.extreme(op, list(rows[index]))
        if keepdims:
            out = out.reshape([1 if a in reduced else n for a, n in enumerate(x.shape)])
        return out[()] if out.ndim == 0 else out

    def var(self, x, axis, keepdims: bool):
        centred = x - np.mean(x, axis=axis, keepdims=True)
        return np.mean(centred * centred, axis=axis, keepdims=keepdims)

    def std(self, x, axis, keepdims: bool):
        return self.math("sqrt", self.var(x, axis, keepdims))

    def norm(self, x, axis, keepdims: bool):
        return self.math("sqrt", np.sum(x * x, axis=axis, keepdims=keepdims))


def _is_number(x) -> bool:
    return isinstance(x, (bool, int, float, np.number, np.bool_)) or bool(
        getattr(x, "is_Number", False)
    )


COMPARISONS = {
    "gt": "greater",
    "ge": "greater_equal",
    "lt": "less",
    "le": "less_equal",
    "eq": "equal",
    "ne": "not_equal",
}


def backend(name: str):
    """The backend called `name`: "numpy" or "sympy"."""
    if name == "numpy":
        return NumpyBackend()
    if name == "sympy":
        return SympyBackend()
    raise ValueError(f"unknown backend {name!r}")


# ---------------------------------------------------------------- evaluators


def math(name: str):
    return lambda k, args, p: k.math(name, *args)


def compare(op: str):
    return lambda k, args, p: k.compare(op, *args)


def axis_keepdims(p) -> tuple:
    return p.get("axis"), p.get("keepdims", False)


def reduction(numpy_fn: Callable):
    return lambda k, args, p: numpy_fn(
        args[0], axis=p.get("axis"), keepdims=p.get("keepdims", False)
    )


def extremum(which: str):
    return lambda k, args, p: k.extremum(which, args[0], *axis_keepdims(p))


def index_of(template, dyn):
    """The Python index an index template describes (see `primitives.index_text`)."""
    parts = []
    for item in template:
        kind = item[0]
        if kind == "int":
            parts.append(dyn[item[1]])
        elif kind == "none":
            parts.append(None)
        elif kind == "ellipsis":
            parts.append(Ellipsis)
        else:
            parts.append(slice(*(None if k is None else dyn[k] for k in item[1:])))
    return parts[0] if len(parts) == 1 else tuple(parts)


def getitem(k, args, p):
    x, *dyn = args
    return x[index_of(p["index"], dyn)]


def scatter(k, args, p):
    """Written by the emitter as `d = np.zeros_like(x); d[index] = g`."""
    g, x, *dyn = args
    out = np.zeros_like(x, dtype=object if k.name == "sympy" else None)
    out[index_of(p["index"], dyn)] = g
    return out


def scatter_add(k, args, p):
    """Written by the emitter as `acc[index] += g` (or `acc += g`): arrays change in place."""
    acc, g, *dyn = args
    if not isinstance(acc, np.ndarray):
        return acc + g
    acc[index_of(p["index"], dyn) if p["index"] else ...] += g
    return acc


def inplace(k, args, p):
    """`a op= b` or `np.op(..., out=a)`: the result of `op`, written into argument `slot`."""
    params = {key: value for key, value in p.items() if key not in ("op", "slot")}
    result = EVALUATORS[p["op"]](k, args, params)
    target = args[p["slot"]]
    if isinstance(target, np.ndarray) and target.shape == np.shape(result):
        target[...] = result
        return target
    return result


_helper_namespace: dict = {}


def helper(name: str):
    """A function of the generated module's preamble, run from its own source text."""

    def run_helper(k, args, p):
        if not _helper_namespace:
            _helper_namespace["np"] = np
            for text in HELPERS.values():
                exec(compile(text, "<symgrad helpers>", "exec"), _helper_namespace)
        return _helper_namespace[name](*args)

    return run_helper


def call_unsupported(k, args, p):
    raise InternalError(f"a call to {p['func']}() needs the `calls` argument of evaluate")


# One entry per primitive of primitives.PRIMITIVES.
EVALUATORS: dict[str, Callable] = {
    "add": lambda k, a, p: a[0] + a[1],
    "sub": lambda k, a, p: a[0] - a[1],
    "mul": lambda k, a, p: a[0] * a[1],
    "div": lambda k, a, p: a[0] / a[1],
    "pow": lambda k, a, p: a[0] ** a[1],
    "neg": lambda k, a, p: -a[0],
    "matmul": lambda k, a, p: np.matmul(a[0], a[1]),
    "exp": math("exp"),
    "log": math("log"),
    "log1p": math("log1p"),
    "expm1": math("expm1"),
    "sqrt": math("sqrt"),
    "square": math("square"),
    "abs": math("abs"),
    "sin": math("sin"),
    "cos": math("cos"),
    "tan": math("tan"),
    "tanh": math("tanh"),
    "arctan": math("arctan"),
    "sinh": math("sinh"),
    "cosh": math("cosh"),
    "sign": math("sign"),
    "maximum": math("maximum"),
    "minimum": math("minimum"),
    "power": lambda k, a, p: np.power(a[0], a[1]),
    "logaddexp": math("logaddexp"),
    "dot": lambda k, a, p: np.dot(a[0], a[1]),
    "matmul_fn": lambda k, a, p: np.matmul(a[0], a[1]),
    "outer": lambda k, a, p: np.outer(a[0], a[1]),
    "where": lambda k, a, p: k.where(*a),
    "clip": lambda k, a, p: k.clip(*a),
    "sum": reduction(np.sum),
    "mean": reduction(np.mean),
    "max": extremum("max"),
    "min": extremum("min"),
    "prod": reduction(np.prod),
    "var": lambda k, a, p: k.var(a[0], *axis_keepdims(p)),
    "std": lambda k, a, p: k.std(a[0], *axis_keepdims(p)),
    "norm": lambda k, a, p: k.norm(a[0], *axis_keepdims(p)),
    "transpose": lambda k, a, p: np.transpose(a[0], p.get("axes")),
    "reshape": lambda k, a, p: np.reshape(a[0], a[1]),
    "getitem": getitem,
    "concatenate": lambda k, a, p: np.concatenate(a, axis=p.get("axis", 0)),
    "stack": lambda k, a, p: np.stack(a, axis=p.get("axis", 0)),
    "ones": lambda k, a, p: np.ones(a[0]),
    "zeros": lambda k, a, p: np.zeros(a[0]),
    "ones_like": lambda k, a, p: np.ones_like(a[0]),
    "zeros_like": lambda k, a, p: np.zeros_like(a[0]),
    "eye": lambda k, a, p: np.eye(a[0]),
    "full_like": lambda k, a, p: np.full_like(a[0], a[1]),
    "gt": compare("gt"),
    "ge": compare("ge"),
    "lt": compare("lt"),
    "le": compare("le"),
    "eq": compare("eq"),
    "ne": compare("ne"),
    "and_": lambda k, a, p: k.logical_and(a[0], a[1]),
    "shape": lambda k, a, p: np.shape(a[0]),
    "ndim": lambda k, a, p: np.ndim(a[0]),
    "size": lambda k, a, p: np.size(a[0]),
    "tuple": lambda k, a, p: tuple(a),
    "broadcast_to": lambda k, a, p: np.broadcast_to(a[0], np.shape(a[1])),
    "expand_dims": lambda k, a, p: np.expand_dims(a[0], p["axis"]),
    "reshape_like": lambda k, a, p: np.reshape(a[0], np.shape(a[1])),
    "ravel": lambda k, a, p: np.ravel(a[0]),
    "scatter": scatter,
    "scatter_add": scatter_add,
    "unbroadcast": lambda k, a, p: helper("_unbroadcast")(k, [a[0], np.shape(a[1])], p),
    "matmul_grad_left": helper("_matmul_grad_left"),
    "matmul_grad_right": helper("_matmul_grad_right"),
    "copy": lambda k, a, p: np.array(a[0]),
    "grad_seed": helper("_grad_seed"),
    "call": call_unsupported,  # evaluate() handles calls through its `calls` argument
    "unpack": lambda k, a, p: tuple(a[0]),  # several outputs: one per item
    "int_min": lambda k, a, p: min(a[0], a[1]),
    "inplace": inplace,
    "push": lambda k, a, p: a[0].append(a[1]),
    "pop": lambda k, a, p: a[0].pop(),
}


# ---------------------------------------------------------------- running programs

Calls = Callable[[str, list], object]  # (helper name, argument values) -> its result
Observer = Callable[[Eqn, list, object], None]  # (equation, argument values, result)


class Runner:
    """Runs statements: equations through `step`, loops and branches as Python runs them.

    `env` maps each Var to an entry: by default the value itself; a subclass may
    store richer entries (see `oracles.SympyOracle`) and say how to make one
    from a plain value (`entry`) and read one back (`plain`).  Loop-carried
    values and branch results are handed on as entries, unchanged.
    """

    def step(self, e: Eqn, env: dict) -> None:
        raise NotImplementedError

    def entry(self, value):
        return value

    def plain(self, entry):
        return entry

    def read(self, env: dict, a):
        return self.entry(a.value) if isinstance(a, Const) else env[a]

    def run(self, stmts, env: dict) -> dict:
        for s in stmts:
            if isinstance(s, Loop):
                self.loop(s, env)
            elif isinstance(s, Cond):
                taken = bool(self.plain(self.read(env, s.pred)))
                body, results = (
                    (s.then_body, s.then_results) if taken else (s.else_body, s.else_results)
                )
                self.run(body, env)
                env.update(zip(s.outs, [self.read(env, r) for r in results]))
            else:
                self.step(s, env)
        return env

    def loop(self, s: Loop, env: dict) -> None:
        start, stop, stride = (self.plain(self.read(env, b)) for b in s.bounds)
        span = range(start, stop, stride)
        for tape in s.tapes:
            env[tape] = self.entry([])
        carried = [self.read(env, a) for a in s.inits]
        for index in reversed(span) if s.reverse else span:
            env[s.index] = self.entry(index)
            env.update(zip(s.params, carried))
            self.run(s.body, env)
            carried = [self.read(env, r) for r in s.results]
        env.update(zip(s.outs, carried))

    def function(self, fn: Function, args) -> dict:
        """The environment after running fn on args; parameters left out take their defaults."""
        if len(args) > len(fn.params):
            raise TypeError(f"{fn.name}() takes {len(fn.params)} arguments, got {len(args)}")
        env = dict(zip(fn.params, args))
        for p in fn.params[len(args) :]:
            if p not in fn.defaults:
                raise TypeError(f"{fn.name}() is missing argument '{p.hint}'")
            env[p] = self.entry(fn.defaults[p].value)
        return self.run(fn.body, env)


class Interpreter(Runner):
    """Evaluates every equation with one backend.

    `calls` evaluates the IR's calls to helper functions (IR translated with
    `inline=False`); `observe` sees every equation with its argument values
    and result.
    """

    def __init__(self, k, calls: Calls | None = None, observe: Observer | None = None):
        self.k = k
        self.calls = calls
        self.observe = observe

    def step(self, e: Eqn, env: dict) -> None:
        args = [self.read(env, a) for a in e.args]
        if e.prim == "call" and self.calls is not None:
            value = self.calls(e.params["func"], args)
        else:
            value = EVALUATORS[e.prim](self.k, args, e.params)
        if self.observe is not None:
            self.observe(e, args, value)
        if len(e.outs) == 1:
            env[e.out] = value
        else:
            env.update(zip(e.outs, value))


def run(stmts, env: dict, k, calls: Calls | None = None, observe: Observer | None = None) -> dict:
    """Run `stmts` with backend `k`, binding their outputs in `env` (Var -> value)."""
    return Interpreter(k, calls, observe).run(stmts, env)


def evaluate(fn: Function, args, k, calls: Calls | None = None, observe: Observer | None = None):
    """fn(*args) with backend `k`; parameters left out take their defaults."""
    runner = Interpreter(k, calls, observe)
    return runner.read(runner.function(fn, args), fn.result)
