"""Reference derivatives of a `Function`, computed without symgrad's derivative rules.

Two oracles, both reading the IR the front end built from the source (never the
source itself, never the generated module):

- `probe` / `Probe` (for vector-Jacobian products) and `directional` (for
  Jacobian-vector products): central differences in float64 of the NumPy
  interpretation.  Small parameters are perturbed one element at a time;
  larger ones along a few random directions (a directional check compares
  <grad, v> with (f(x + hv) - f(x - hv)) / 2h).  Each reference value comes
  with an estimate of its rounding noise, so tolerances can follow the size of f.
- `SympyOracle`: running the function (loops and branches as Python runs them),
  every equation that reads an array or float is rewritten with sympy, one
  symbol per element of its inputs; `sympy.diff` gives each local partial
  derivative exactly, and the partials are chained numerically, backwards for
  `value_and_vjp`, forwards for `value_and_jvp` (sparse local Jacobians).  The
  values themselves are also computed from the sympy expressions, so this
  oracle does not share the NumPy backend's code paths.

Why equations one at a time rather than the whole function as one expression:
sympy expressions are trees, so a value read twice is differentiated twice; the
lecture's MLP at 3x2x4x5 took over a minute per run that way, and an equation
at a time takes well under a second.  Local derivatives come only from sympy,
and the chain rule is generic matrix algebra, so no derivative rule of
`primitives.py` is involved.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .interpret import EVALUATORS, NumpyBackend, Runner, SympyBackend, evaluate
from .ir import Function

EPS = np.finfo(float).eps
STEP = 1e-6  # relative central-difference step
NOISE_FACTOR = 100.0  # rounding error of f, in units of eps * |f|
ELEMENT_LIMIT = 64  # larger parameters are checked along random directions
DIRECTIONS = 4


def inner(g, out) -> float:
    return float(np.sum(np.asarray(g, dtype=float) * np.asarray(out, dtype=float)))


def magnitude(g, out) -> float:
    return float(np.sum(np.abs(np.asarray(g, dtype=float) * np.asarray(out, dtype=float))))


def with_value(args, index, value):
    moved = list(args)
    moved[index] = value
    return moved


@dataclass
class Probe:
    """f evaluated around a point, moving one parameter: what central differences need.

    `directions` is None when each element was moved alone; otherwise the
    reference values are directional derivatives along each direction.
    """

    steps: np.ndarray  # one step per element or per direction
    plus: list  # outputs f(x + h e_k) (or f(x + h v_k))
    minus: list
    directions: list | None

    def reference(self, g) -> tuple[np.ndarray, np.ndarray]:
        """Central differences of <g, f> and their rounding noise, one per element/direction."""
        values = np.array(
            [
                (inner(g, p) - inner(g, m)) / (2 * h)
                for p, m, h in zip(self.plus, self.minus, self.steps)
            ]
        )
        noise = np.array(
            [
                NOISE_FACTOR * EPS * (magnitude(g, p) + magnitude(g, m)) / (2 * h)
                for p, m, h in zip(self.plus, self.minus, self.steps)
            ]
        )
        return values, noise

    def project(self, grad) -> np.ndarray:
        """The module's gradient in the probe's coordinates: elements, or <grad, v_k>."""
        grad = np.asarray(grad, dtype=float)
        if self.directions is None:
            return grad.ravel()
        return np.array([float(np.sum(grad * v)) for v in self.directions])


def probe(f, args, index: int, rng: np.random.Generator) -> Probe:
    """Evaluate f around `args`, moving args[index]; f returns the output array."""
    x = np.asarray(args[index], dtype=float)
    scalar = x.ndim == 0
    plus, minus, steps, directions = [], [], [], None
    if x.size <= ELEMENT_LIMIT:
        flat = x.ravel()
        for k in range(flat.size):
            h = STEP * max(1.0, abs(flat[k]))
            for sign, outputs in ((1.0, plus), (-1.0, minus)):
                moved = flat.copy()
                moved[k] += sign * h
                value = float(moved[0]) if scalar else moved.reshape(x.shape)
                outputs.append(f(with_value(args, index, value)))
            steps.append(h)
    else:
        directions = []
        h = STEP * max(1.0, float(np.max(np.abs(x))))
        for _ in range(DIRECTIONS):
            v = rng.standard_normal(x.shape)
            v /= np.max(np.abs(v))
            directions.append(v)
            plus.append(f(with_value(args, index, x + h * v)))
            minus.append(f(with_value(args, index, x - h * v)))
            steps.append(h)
    return Probe(np.array(steps), plus, minus, directions)


def directional(f, args, indices, tangents) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of f along tangents (moving args[i] by t_i together), and noise."""
    scale = max([1.0] + [float(np.max(np.abs(args[i]), initial=0.0)) for i in indices])
    h = STEP * scale / max([1e-300] + [float(np.max(np.abs(t), initial=0.0)) for t in tangents])
    outs = []
    for sign in (1.0, -1.0):
        moved = list(args)
        for i, t in zip(indices, tangents):
            moved[i] = args[i] + sign * h * t
        outs.append(np.asarray(f(moved), dtype=float))
    plus, minus = outs
    noise = NOISE_FACTOR * EPS * (np.abs(plus) + np.abs(minus)) / (2 * h)
    return (plus - minus) / (2 * h), noise


def numpy_function(fn: Function):
    """fn as a Python function of its argument list, evaluated with the NumPy backend."""
    k = NumpyBackend()

    def f(args):
        with np.errstate(all="ignore"):
            return evaluate(fn, args, k)

    return f


# ---------------------------------------------------------------- sympy


@dataclass
class Local:
    """One equation written with sympy: its output and its partial derivatives."""

    function: object  # lambdified: input element values -> [outputs..., partials...]
    out_shape: tuple
    n_out: int
    entries: list  # (output element, argument position, argument element) per partial


def is_symbolic(value) -> bool:
    """Arrays and floats become sympy symbols; ints and tuples (shapes, indices) stay literal."""
    if isinstance(value, np.ndarray):
        return True
    return isinstance(value, (float, np.floating, np.bool_)) and not isinstance(value, bool)


@dataclass
class Cell:
    """A value on the sympy oracle's tape; `slot` names this binding (None: no derivative)."""

    value: object
    slot: int | None = None


class Tape(Runner):
    """Runs a function, recording each equation that reads an array or float."""

    def __init__(self, oracle: SympyOracle):
        self.oracle = oracle
        self.records: list = []  # (argument cells, Local, partial values, output slot)
        self.slots = itertools.count()

    def entry(self, value):
        return Cell(value)

    def plain(self, entry):
        return entry.value

    def fresh(self, value) -> Cell:
        return Cell(value, next(self.slots))

    def step(self, e, env: dict) -> None:
        """Static values (shapes, masks, constants) come from NumPy; the rest from sympy."""
        cells = [self.read(env, a) for a in e.args]
        values = [c.value for c in cells]
        if len(e.outs) != 1 or e.out.static or not any(is_symbolic(v) for v in values):
            result = EVALUATORS[e.prim](self.oracle.numpy, values, e.params)
            results = [result] if len(e.outs) == 1 else result
            env.update(zip(e.outs, map(self.entry, results)))
            return
        local = self.oracle.local(e, values)
        flat = [float(v) for value in values if is_symbolic(value) for v in np.ravel(value)]
        with np.errstate(all="ignore"):
            numbers = [float(v) for v in local.function(*flat)]
        out = np.array(numbers[: local.n_out]).reshape(local.out_shape)
        cell = self.fresh(float(out) if local.out_shape == () else out)
        env[e.out] = cell
        self.records.append((cells, local, numbers[local.n_out :], cell.slot))


class SympyOracle:
    """Value and vector-Jacobian products of a function, from sympy's local derivatives."""

    def __init__(self, fn: Function):
        self.fn = fn
        self.sympy = SympyBackend()
        self.numpy = NumpyBackend()
        self.cache: dict = {}

    def value_and_vjp(self, args, g) -> tuple[object, list]:
        """f(args) and the cotangent of every parameter for output cotangent g."""
        tape = Tape(self)
        inputs = [tape.fresh(a) for a in args]
        result = tape.read(tape.function(self.fn, inputs), self.fn.result)
        adjoint = {}
        if result.slot is not None:
            adjoint[result.slot] = np.asarray(g, dtype=float) * np.ones(np.shape(result.value))
        for cells, local, partials, slot in reversed(tape.records):
            if slot not in adjoint:
                continue
            g_out = np.ravel(adjoint[slot])
            sums: dict = {}
            for (i, j, col), d in zip(local.entries, partials):
                sums.setdefault(j, np.zeros(np.size(cells[j].value)))[col] += g_out[i] * d
            for j, total in sums.items():
                cell = cells[j]
                if cell.slot is not None:
                    contribution = total.reshape(np.shape(cell.value))
                    adjoint[cell.slot] = adjoint.get(cell.slot, 0.0) + contribution
        grads = [
            np.reshape(adjoint.get(c.slot, np.zeros(np.shape(c.value))), np.shape(c.value))
            for c in inputs
        ]
        return result.value, grads

    def value_and_jvp(self, args, tangents: dict):
        """f(args) and its derivative along tangents (parameter index -> tangent)."""
        tape = Tape(self)
        inputs = [tape.fresh(a) for a in args]
        result = tape.read(tape.function(self.fn, inputs), self.fn.result)
        tangent = {inputs[i].slot: np.ravel(t) for i, t in tangents.items()}
        for cells, local, partials, slot in tape.records:
            out = np.zeros(local.n_out)
            for (i, j, col), d in zip(local.entries, partials):
                if cells[j].slot in tangent:
                    out[i] += d * tangent[cells[j].slot][col]
            tangent[slot] = out
        out = tangent.get(result.slot, np.zeros(np.size(result.value)))
        return result.value, np.reshape(out, np.shape(result.value))

    def local(self, e, values) -> Local:
        key = (
            id(e),
            tuple(("sym", np.shape(v)) if is_symbolic(v) else ("lit", repr(v)) for v in values),
        )
        if key not in self.cache:
            self.cache[key] = self.build(e, values)
        return self.cache[key]

    def derivative(self, expr, symbol):
        """d expr / d symbol; a Piecewise branch by branch, without sympy's slow re-evaluation."""
        sp = self.sympy.sp
        if isinstance(expr, sp.Piecewise):
            pieces = [(self.derivative(value, symbol), cond) for value, cond in expr.args]
            return sp.Piecewise(*pieces, evaluate=False)
        return sp.diff(expr, symbol)

    def build(self, e, values) -> Local:
        sp = self.sympy.sp
        symbols, args, varying = [], [], {}
        for j, value in enumerate(values):
            if not is_symbolic(value):
                args.append(value)
                continue
            names = [sp.Symbol(f"a{j}_{k}", real=True) for k in range(np.size(value))]
            symbols.extend(names)
            arg = e.args[j]
            if not getattr(arg, "static", True):
                varying.update({s: (j, k) for k, s in enumerate(names)})
            if np.ndim(value) == 0:
                args.append(names[0])
            else:
                args.append(np.array(names, dtype=object).reshape(np.shape(value)))
        out = EVALUATORS[e.prim](self.sympy, args, e.params)
        out_shape = np.shape(out)
        outputs = [sp.sympify(o) for o in np.ravel(np.asarray(out, dtype=object))]
        entries, partials = [], []
        for i, expr in enumerate(outputs):
            for s in sorted(expr.free_symbols & varying.keys(), key=lambda s: s.name):
                j, col = varying[s]
                entries.append((i, j, col))
                partials.append(self.derivative(expr, s))
        function = sp.lambdify(symbols, outputs + partials, modules="math")
        return Local(function, out_shape, len(outputs), entries)
