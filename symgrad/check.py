"""`symgrad check`: does a generated module compute the derivatives of its source?

For each function f it calls the module's f, grad_f, value_and_grad_f and vjp_f
(and jvp_f where the module has it; a forward-mode module, with jvp_f and no
vjp_f, is checked through jvp_f alone) at a few random points and compares them
with two references built from the source's IR (the source is parsed, never
executed; see `oracles.py`):

- "fd": central differences of the NumPy interpretation, per element for small
  parameters and along random directions for large ones;
- "sympy": sympy's exact local derivatives, chained numerically.

Guarantees:

- Shapes come from `--shape`, else from annotations (`X: "N,D"`); each symbol
  takes its `--dim` value or a small default, distinct per symbol (3, 2, 4, 5,
  ...) so a transposed gradient cannot hide.  A parameter with a numeric
  default is a scalar held at its default.  A function without shape
  information that another function of the file calls is checked at the
  arguments it receives there.  Anything else is a `SymgradError` (exit 2)
  naming the parameter.
- Domains: a parameter that reaches log, log1p, sqrt or a power's base through
  operations that keep signs (+, *, /, @, sums, indexing, maximum, ...) is
  drawn from [0.5, 2]; `positive` (`--positive NAME`) declares more.  Other
  values have magnitudes in [0.25, 1.5] and random signs.  A point where a
  non-smooth operation (abs, maximum, max, clip, a comparison) is within
  `KINK_MARGIN` of its kink is redrawn, so no difference straddles a kink;
  exact ties (`x - x`) are kept, since they persist under perturbation.
- Each entry point and parameter is one row: the largest absolute and
  relative error against each reference over all points, and PASS or FAIL.
  An exception, a missing function or a wrong shape fails the row.
- A module given with `module_text` whose recorded source hash differs from
  the source is stale: the report fails and names the command that
  regenerates it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import math
import re
import shlex
import types
import zlib
from dataclasses import dataclass, field

import numpy as np

from .api import generate, select_functions, select_wrt
from .errors import Diagnostic, SymgradError
from .frontend import called_helpers, parse, translate
from .interpret import NumpyBackend, evaluate
from .ir import Const, Eqn, Function, Var, walk
from .oracles import SympyOracle, directional, numpy_function, probe

DEFAULT_DIMS = (3, 2, 4, 5, 6, 7, 8, 9)
KINK_MARGIN = 1e-4
MAX_DRAWS = 100
SYMPY_ELEMENT_LIMIT = 400  # the sympy oracle is skipped above this many input elements

# Tolerances: an element passes when |actual - expected| <= RTOL * (|expected| + 1% of the
# largest |expected|) + the reference's rounding noise + ATOL.
FD_RTOL, FD_ATOL = 1e-5, 1e-10
SYMPY_RTOL, SYMPY_ATOL = 1e-8, 1e-12
VALUE_RTOL, VALUE_ATOL = 1e-9, 1e-12
SCALE_FLOOR = 1e-2

REFERENCES = ("fd", "sympy")
VALUE = "(value)"
TANGENT = "(tangent)"


@dataclass
class Options:
    """What to check and how: the `symgrad check` command line, as values."""

    funcs: list | None = None
    wrt: list | None = None
    shapes: dict = field(default_factory=dict)  # parameter -> annotation tuple ("N", 3)
    dims: dict = field(default_factory=dict)  # symbol -> size
    positive: set = field(default_factory=set)
    seed: int = 0
    points: int = 3
    references: tuple = REFERENCES
    mode: str = "reverse"  # what `generate` writes when no module is given


# ---------------------------------------------------------------- results


@dataclass
class Measure:
    """The largest errors of one row against one reference, over every point."""

    abs: float = 0.0
    rel: float = 0.0
    ok: bool = True

    def as_json(self) -> dict:
        return {"abs": _finite(self.abs), "rel": _finite(self.rel), "ok": self.ok}

    def add(self, actual, expected, noise, rtol: float, atol: float) -> None:
        actual = np.asarray(actual, dtype=float)
        expected = np.asarray(expected, dtype=float)
        err = np.abs(actual - expected)
        scale = np.abs(expected) + SCALE_FLOOR * (np.max(np.abs(expected), initial=0.0))
        rel = np.divide(err, scale, out=np.where(err == 0, 0.0, np.inf), where=scale > 0)
        self.ok = self.ok and bool(np.all(err <= rtol * scale + noise + atol))
        self.abs = _worst(self.abs, err)
        self.rel = _worst(self.rel, rel)


def _worst(previous: float, errors) -> float:
    errors = np.ravel(errors)
    if errors.size and np.isnan(errors).any():
        return math.nan
    current = float(np.max(errors, initial=0.0))
    return math.nan if math.isnan(previous) else max(previous, current)


@dataclass
class Row:
    function: str  # the module's entry point: f, grad_f, value_and_grad_f, vjp_f or jvp_f
    parameter: str  # a parameter, VALUE, or TANGENT (jvp_f's output)
    shape: tuple
    measures: dict = field(default_factory=dict)  # reference -> Measure
    errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(m.ok for m in self.measures.values())

    def measure(self, reference: str) -> Measure:
        return self.measures.setdefault(reference, Measure())

    def fail(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)


@dataclass
class Report:
    rows: list = field(default_factory=list)
    functions: list = field(default_factory=list)  # one dict per checked function
    notes: list = field(default_factory=list)
    stale: str = ""  # why the module is stale, or ""
    regenerate: str = ""  # the command that regenerates a stale module
    options: Options = field(default_factory=Options)
    module: str | None = None

    @property
    def ok(self) -> bool:
        return not self.stale and all(r.ok for r in self.rows)

    def row(self, function: str, parameter: str, shape) -> Row:
        for r in self.rows:
            if r.function == function and r.parameter == parameter:
                return r
        r = Row(function, parameter, tuple(shape))
        self.rows.append(r)
        return r

    def table(self) -> str:
        refs = list(self.options.references)
        head = ["function", "parameter", "shape"]
        for ref in refs:
            head += [f"{ref} abs", f"{ref} rel"]
        body = []
        for r in self.rows:
            cells = [r.function, r.parameter, _shape_text(r.shape)]
            for ref in refs:
                m = r.measures.get(ref)
                cells += ["-", "-"] if m is None else [_number(m.abs), _number(m.rel)]
            body.append(cells + ["PASS" if r.ok else "FAIL"])
        head.append("result")
        widths = [max(len(line[k]) for line in [head, *body]) for k in range(len(head))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body]
        ]
        for r in self.rows:
            lines += [f"{r.function} {r.parameter}: {e}" for e in r.errors]
        lines += [f"note: {n}" for n in self.notes]
        if self.stale:
            lines.append(f"stale: {self.stale}")
            lines.append(f"  regenerate with: {self.regenerate}")
        failed = sum(not r.ok for r in self.rows)
        verdict = "all passed" if failed == 0 else f"{failed} FAILED"
        lines.append(
            f"{len(self.rows)} checks, {verdict} "
            f"({self.options.points} points, seed {self.options.seed})"
            + ("; module is STALE" if self.stale else "")
        )
        return "\n".join(lines)

    def as_json(self) -> dict:
        rows = []
        for r in self.rows:
            row = {
                "function": r.function,
                "parameter": r.parameter,
                "shape": list(r.shape),
                "status": "PASS" if r.ok else "FAIL",
                "errors": list(r.errors),
            }
            for ref in self.options.references:
                m = r.measures.get(ref)
                row[ref] = None if m is None else m.as_json()
            rows.append(row)
        return {
            "ok": self.ok,
            "module": self.module,
            "stale": bool(self.stale),
            "stale_reason": self.stale or None,
            "regenerate": self.regenerate or None,
            "seed": self.options.seed,
            "points": self.options.points,
            "functions": self.functions,
            "notes": list(self.notes),
            "rows": rows,
        }


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _number(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def _finite(x: float):
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------- the module


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def read_header(text: str) -> tuple[str | None, list]:
    """The source hash and function list a generated module records in its header."""
    digest, functions = None, []
    for line in text.splitlines()[:10]:
        if line.startswith("# source sha256:"):
            digest = line.partition(":")[2].strip()
        elif line.startswith("# functions:"):
            functions = [f.strip() for f in line.partition(":")[2].split(",") if f.strip()]
    return digest, functions


def recorded_wrt(text: str, name: str) -> list | None:
    """The parameters a generated module differentiates NAME with respect to.

    Read from vjp_NAME's docstring ("... -> cotangents of W, V."), else from
    jvp_NAME's tangent parameters (those after NAME's own, "dW, dV").
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    defs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    if f"vjp_{name}" in defs:
        doc = ast.get_docstring(defs[f"vjp_{name}"]) or ""
        found = re.search(r"-> cotangents of (.+)\.$", doc)
        return [w.strip() for w in found.group(1).split(",")] if found else None
    if f"jvp_{name}" in defs and name in defs:
        params = [a.arg for a in defs[name].args.args]
        tangents = [a.arg for a in defs[f"jvp_{name}"].args.args][len(params) :]
        wrt = [t[1:] for t in tangents]
        return (
            wrt if all(t.startswith("d") and w in params for t, w in zip(tangents, wrt)) else None
        )
    return None


def load(text: str, path: str) -> types.ModuleType:
    """Execute a generated module's text (never the user's source) as a fresh module."""
    module = types.ModuleType("symgrad_checked_module")
    module.__file__ = path
    exec(compile(text, path, "exec"), module.__dict__)
    return module


def gen_command(path: str, funcs, wrt, shapes: dict, output: str, mode: str = "") -> str:
    """The `symgrad gen` command line that writes `output` from `path` (mode: "" for reverse)."""
    parts = ["symgrad", "gen", path]
    for f in funcs or ():
        parts += ["--func", f]
    if wrt:
        parts += ["--wrt", ",".join(wrt)]
    for name, dims in shapes.items():
        parts += ["--shape", f"{name}={','.join(str(d) for d in dims)}"]
    if mode:
        parts += ["--mode", mode]
    return shlex.join(parts + ["-o", output])


# ---------------------------------------------------------------- inputs


@dataclass
class Plan:
    """One function to check: its IR (helpers inlined), what to differentiate and where."""

    name: str
    fn: Function
    wrt: list
    positive: set = field(default_factory=set)
    points: list = field(default_factory=list)  # each a list of argument values
    origin: str = "random"  # or "as called from NAME"


def concrete_shapes(fn: Function, dims: dict) -> dict | None:
    """Parameter -> shape of ints, or None when a parameter has no shape information."""
    shapes = {}
    for p in fn.params:
        if not isinstance(p.shape, tuple):
            return None
        shapes[p.hint] = tuple(d if isinstance(d, int) else dims[d] for d in p.shape)
    return shapes


def assign_dims(fns, given: dict) -> dict:
    """Every symbol of the parameters' shapes -> a size: the given one, else small distinct."""
    dims = dict(given)
    unused = [d for d in DEFAULT_DIMS if d not in given.values()]
    fresh = max(DEFAULT_DIMS) + 1
    for fn in fns:
        for p in fn.params:
            for d in p.shape if isinstance(p.shape, tuple) else ():
                if isinstance(d, str) and d not in dims:
                    if unused:
                        dims[d] = unused.pop(0)
                    else:
                        dims[d], fresh = fresh, fresh + 1
    return dims


# Operations whose result is positive when the inputs at these positions are
# (None: every input).
SIGN_KEEPING = {
    "add": (0, 1),
    "mul": (0, 1),
    "div": (0, 1),
    "pow": (0,),
    "power": (0,),
    "matmul": (0, 1),
    "matmul_fn": (0, 1),
    "dot": (0, 1),
    "outer": (0, 1),
    "sum": (0,),
    "mean": (0,),
    "prod": (0,),
    "max": (0,),
    "min": (0,),
    "maximum": (0, 1),
    "minimum": (0, 1),
    "where": (1, 2),
    "clip": (0, 1, 2),
    "getitem": (0,),
    "transpose": (0,),
    "reshape": (0,),
    "concatenate": None,
    "stack": None,
}
# Operations defined only for a positive input at these positions.
NEEDS_POSITIVE = {"log": (0,), "log1p": (0,), "sqrt": (0,), "pow": (0,), "power": (0,)}


def inferred_positive(fn: Function) -> set:
    """Parameters that reach a log, sqrt or power base through sign-keeping operations."""
    eqns = [s for s in walk(fn.body) if isinstance(s, Eqn)]
    definition = {o: e for e in eqns for o in e.outs}
    params = {p: p.hint for p in fn.params}
    todo = [
        e.args[k]
        for e in eqns
        for k in NEEDS_POSITIVE.get(e.prim, ())
        if not (e.prim in ("pow", "power") and _integer_const(e.args[1]))
    ]
    found, seen = set(), set()
    while todo:
        v = todo.pop()
        if not isinstance(v, Var) or v in seen:
            continue
        seen.add(v)
        if v in params:
            found.add(params[v])
            continue
        e = definition.get(v)
        if e is not None and e.prim in SIGN_KEEPING:
            positions = SIGN_KEEPING[e.prim]
            todo.extend(e.args if positions is None else [e.args[k] for k in positions])
    return found


def _integer_const(a) -> bool:
    return (
        isinstance(a, Const) and isinstance(a.value, (int, float)) and float(a.value).is_integer()
    )


def kink_distances(prim: str, args, params):
    """How far a non-smooth operation's inputs are from its kink (None: smooth)."""
    if prim in ("abs", "sign"):
        return np.abs(np.asarray(args[0], dtype=float))
    if prim in ("maximum", "minimum", "gt", "ge", "lt", "le", "eq", "ne"):
        return np.abs(np.asarray(args[0], dtype=float) - np.asarray(args[1], dtype=float))
    if prim == "clip":
        x, lo, hi = (np.asarray(a, dtype=float) for a in args)
        return np.minimum(np.abs(x - lo), np.abs(x - hi))
    if prim in ("max", "min"):
        x = np.asarray(args[0], dtype=float)
        best = getattr(np, prim)(x, axis=params.get("axis"), keepdims=True)
        return np.abs(x - best)
    return None


class Sampler:
    """Draws points, evaluating the source's IR there; records what helpers receive."""

    def __init__(self, src, options: Options):
        self.src = src
        self.options = options
        self.k = NumpyBackend()
        self.primals: dict = {}
        self.received: dict = {}  # helper -> {point index: argument values}
        self.callers: dict = {}  # helper -> the function whose points it was called at
        self.drawing = ""
        self.index = 0

    def primal(self, name: str) -> Function:
        """The IR of `name` with calls to helpers kept, so their arguments can be seen."""
        if name not in self.primals:
            self.primals[name] = translate(self.src, name, inline=False, shapes=self.options.shapes)
        return self.primals[name]

    def draw(self, plan: Plan, shapes: dict) -> None:
        """Fill plan.points with points where f is finite and no kink is near."""
        rng = np.random.default_rng([self.options.seed, zlib.crc32(plan.name.encode())])
        fn = self.primal(plan.name)
        defaults = {p.hint: c.value for p, c in fn.defaults.items()}
        self.drawing = plan.name
        for index in range(self.options.points):
            self.index = index
            for attempt in range(MAX_DRAWS):
                args = [
                    self.value(p.hint, shapes[p.hint], defaults, plan.positive, rng)
                    for p in fn.params
                ]
                near: list = []
                before = {name: dict(calls) for name, calls in self.received.items()}
                finite = np.all(np.isfinite(np.asarray(self.evaluate(fn, args, near), float)))
                if finite and (not near or attempt == MAX_DRAWS - 1):
                    break  # the last finite point is kept even beside a kink
                self.received = before
            else:
                raise self.error(
                    fn,
                    f"'{plan.name}' is not finite at any of {MAX_DRAWS} random points",
                    "declare the parameters that must be positive with --positive NAME",
                )
            plan.points.append(args)

    def evaluate(self, fn: Function, args, near: list):
        def observe(e, values, out):
            distances = kink_distances(e.prim, values, e.params)
            if distances is not None:
                d = np.ravel(distances)
                near.extend(d[(d > 0) & (d < KINK_MARGIN)])

        def calls(name, values):
            received = self.received.setdefault(name, {})
            if self.index not in received:
                received[self.index] = [_copy(v) for v in values]
                self.callers.setdefault(name, self.drawing)
            return evaluate(self.primal(name), values, self.k, calls, observe)

        with np.errstate(all="ignore"):
            try:
                return evaluate(fn, args, self.k, calls, observe)
            except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
                shapes = ", ".join(
                    f"{p.hint}{_shape_text(np.shape(a))}" for p, a in zip(fn.params, args)
                )
                raise self.error(
                    fn,
                    f"cannot evaluate '{fn.name}' at shapes {shapes}: {exc}",
                    "check the shape annotations, --shape and --dim",
                ) from None

    def value(self, name: str, shape: tuple, defaults: dict, positive: set, rng):
        default = defaults.get(name)
        if shape == () and isinstance(default, (int, float)) and not isinstance(default, bool):
            return float(default)
        if name in positive:
            values = rng.uniform(0.5, 2.0, size=shape)
        else:
            values = rng.uniform(0.25, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return float(values) if shape == () else values

    def error(self, fn: Function, message: str, hint: str = "") -> SymgradError:
        line, col = (fn.loc.line, fn.loc.col) if fn.loc else (1, 1)
        return SymgradError([Diagnostic(self.src.path, line, col, message, hint)])


def _copy(value):
    return np.array(value) if isinstance(value, np.ndarray) else value


def sample(src, plans: list, options: Options) -> None:
    """Give every plan its points: random ones, or the arguments its callers pass it."""
    sampler = Sampler(src, options)
    everything = [sampler.primal(name) for name in src.functions]
    dims = assign_dims(everything, options.dims)
    shapes = {fn.name: concrete_shapes(fn, dims) for fn in everything}
    drawn = set()
    for plan in plans:
        if shapes[plan.name] is not None:
            sampler.draw(plan, shapes[plan.name])
            drawn.add(plan.name)
    for plan in plans:
        if shapes[plan.name] is not None:
            continue
        for caller in src.functions:
            if plan.name in sampler.received:
                break
            if caller in drawn or shapes[caller] is None:
                continue
            if plan.name in called_helpers(src, caller):
                inline = translate(src, caller, inline=True, shapes=options.shapes)
                positive = inferred_positive(inline) | set(options.positive)
                sampler.draw(Plan(caller, inline, [], positive), shapes[caller])
                drawn.add(caller)
        if plan.name not in sampler.received:
            raise no_shape(src, sampler.primal(plan.name))
        received = sampler.received[plan.name]
        plan.points = [received[k] for k in sorted(received)]
        plan.origin = f"as called from {sampler.callers[plan.name]}"


def no_shape(src, fn: Function) -> SymgradError:
    missing = next(p for p in fn.params if not isinstance(p.shape, tuple))
    loc = fn.param_locs.get(missing) or fn.loc
    return SymgradError(
        [
            Diagnostic(
                src.path,
                loc.line,
                loc.col,
                f"cannot check '{fn.name}': parameter '{missing.hint}' has no shape",
                f'annotate it ({missing.hint}: "N,D") or pass --shape {missing.hint}=N,D; '
                "a parameter with a numeric default is a scalar",
            )
        ]
    )


# ---------------------------------------------------------------- the check


def check(
    source: str,
    path: str = "<string>",
    module_text: str | None = None,
    module_path: str | None = None,
    options: Options | None = None,
) -> Report:
    """Check `module_text` (default: what `generate` writes now) against `source`."""
    options = options or Options()
    report = Report(options=options, module=module_path)
    src = parse(source, path)
    if module_text is None:
        names = select_functions(src, options.funcs)
        module_text = generate(source, path, names, options.wrt, options.shapes, mode=options.mode)
    else:
        names = module_functions(src, module_text, options, report)
    plans = []
    for name in names:
        fn = translate(src, name, inline=True, shapes=options.shapes)
        wrt = options.wrt if options.wrt is not None else recorded_wrt(module_text, name)
        plans.append(Plan(name, fn, select_wrt(src, fn, wrt)))
        plans[-1].positive = inferred_positive(fn) | set(options.positive)
    if report.stale:
        report.regenerate = regenerate_command(src, plans, options, module_path, module_text)
    sample(src, plans, options)
    try:
        module = load(module_text, module_path or "<generated>")
    except Exception as exc:  # noqa: BLE001 - a module that does not load fails the check
        report.row("(module)", "(load)", ()).fail(f"cannot load the module: {describe(exc)}")
        return report
    for plan in plans:
        check_function(plan, src, module, report, options)
    return report


def module_functions(src, module_text: str, options: Options, report: Report) -> list:
    """The functions a given module was generated for; notes whether it is stale."""
    digest, recorded = read_header(module_text)
    if digest is None:
        report.stale = "the module records no source hash (was it written by symgrad gen?)"
    elif digest != source_hash(src.text):
        report.stale = f"the module was generated from another version of {src.path}"
    return select_functions(src, options.funcs or recorded or None)


def regenerate_command(src, plans: list, options: Options, module_path, module_text) -> str:
    """The `symgrad gen` command that rewrites a stale module as it was generated."""
    wrt = options.wrt
    if wrt is None:
        wrt = []
        for plan in plans:
            wrt += [w for w in plan.wrt if w not in wrt]
        if all(plan.wrt == [p.hint for p in plan.fn.params] for plan in plans):
            wrt = None
    funcs = [plan.name for plan in plans]
    vjp, jvp = (f"def {entry}_{funcs[0]}(" in module_text for entry in ("vjp", "jvp"))
    mode = "all" if vjp and jvp else "forward" if jvp else ""
    return gen_command(src.path, funcs, wrt, options.shapes, module_path or "OUT.py", mode)


# ---------------------------------------------------------------- one function


@dataclass
class Failure:
    message: str


@dataclass
class Point:
    """What the references say at one point."""

    args: list
    value: object  # f at args, from the NumPy interpretation
    cotangent: object  # the random cotangent vjp_ is called with
    probes: dict  # parameter index -> Probe (finite differences)
    tangents: list = field(default_factory=list)  # one per wrt parameter, for jvp_
    exact: dict = field(default_factory=dict)  # "grad"/"vjp"/"jvp" -> sympy's (value, derivative)
    directional: tuple | None = None  # differences along the tangents, and their noise

    def seed(self, kind: str):
        return 1.0 if kind == "grad" else self.cotangent


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def call(module, name: str, args):
    """module.name(*args) on copies of args, or a Failure saying what went wrong."""
    fn = getattr(module, name, None)
    if not callable(fn):
        return Failure(f"{name} is missing from the module")
    try:
        with np.errstate(all="ignore"):
            return fn(*[_copy(a) for a in args])
    except Exception as exc:  # noqa: BLE001 - any exception of the module fails the row
        return Failure(f"{name} raised {describe(exc)}")


def unpack(result, n: int):
    """The gradients a grad_/vjp_ returned, as a list of n (a bare array when n == 1)."""
    if isinstance(result, Failure):
        return result
    if n == 1:
        return [result]
    if not isinstance(result, tuple) or len(result) != n:
        return Failure(f"returned {type(result).__name__}, expected a tuple of {n} gradients")
    return list(result)


@functools.lru_cache(maxsize=64)
def sympy_oracle(source: str, path: str, name: str, shapes: tuple) -> SympyOracle:
    """The sympy oracle of a function; its local derivatives are built once per process."""
    return SympyOracle(translate(parse(source, path), name, inline=True, shapes=dict(shapes)))


def make_oracle(plan: Plan, src, options: Options):
    """The sympy oracle for plan, or None and the reason it is skipped."""
    if "sympy" not in options.references:
        return None, ""
    size = sum(int(np.size(a)) for a in plan.points[0])
    if size > SYMPY_ELEMENT_LIMIT:
        return None, f"{size} input elements (limit {SYMPY_ELEMENT_LIMIT}); use a smaller --dim"
    try:
        import sympy  # noqa: F401
    except ImportError:
        return None, "sympy is not installed (pip install 'symgrad[check]')"
    shapes = tuple(sorted(options.shapes.items()))
    return sympy_oracle(src.text, src.path, plan.name, shapes), ""


def check_function(plan: Plan, src, module, report: Report, options: Options) -> None:
    names = [p.hint for p in plan.fn.params]
    indices = [names.index(w) for w in plan.wrt]
    f = numpy_function(plan.fn)
    oracle, skipped = make_oracle(plan, src, options)
    if skipped:
        report.notes.append(f"{plan.name}: sympy reference skipped: {skipped}")
    report.functions.append(
        {
            "name": plan.name,
            "wrt": list(plan.wrt),
            "shapes": {n: list(np.shape(a)) for n, a in zip(names, plan.points[0])},
            "positive": sorted(plan.positive),
            "points": plan.origin,
        }
    )
    rng = np.random.default_rng([options.seed, zlib.crc32(plan.name.encode()), 1])
    name = plan.name
    has = {e: callable(getattr(module, f"{e}_{name}", None)) for e in ("vjp", "jvp")}
    # a forward-mode module has jvp_ and no vjp_; any other lacks nothing
    reverse_entries = has["vjp"] or not has["jvp"]
    fd = "fd" in options.references
    for args in plan.points:
        value = f(args)
        point = Point(
            args,
            value,
            draw_like(rng, value),
            {i: probe(f, args, i, rng) for i in indices} if fd and reverse_entries else {},
            tangents=[draw_like(rng, args[i]) for i in indices],
        )
        scalar = np.ndim(value) == 0
        if oracle is not None:
            for kind in ("grad", "vjp") if scalar and reverse_entries else ("vjp",):
                point.exact[kind] = oracle.value_and_vjp(args, point.seed(kind))
            if has["jvp"]:
                point.exact["jvp"] = oracle.value_and_jvp(args, dict(zip(indices, point.tangents)))
        if fd and has["jvp"]:
            point.directional = directional(f, args, indices, point.tangents)
        check_value(report.row(name, VALUE, np.shape(value)), call(module, name, args), point)
        if has["jvp"]:
            check_jvp(
                report, f"jvp_{name}", call(module, f"jvp_{name}", [*args, *point.tangents]), point
            )
        if not reverse_entries:
            continue
        if scalar:
            grads = call(module, f"grad_{name}", args)
            check_grads(report, f"grad_{name}", grads, point, "grad", plan, indices)
            entry = f"value_and_grad_{name}"
            both = call(module, entry, args)
            if not isinstance(both, Failure):
                if isinstance(both, tuple) and len(both) == 2:
                    check_value(report.row(entry, VALUE, np.shape(value)), both[0], point)
                    both = both[1]
                else:
                    both = Failure(f"{entry} returned {type(both).__name__}, not (value, grads)")
            if isinstance(both, Failure):
                report.row(entry, VALUE, np.shape(value)).fail(both.message)
            check_grads(report, entry, both, point, "grad", plan, indices)
        vjp = call(module, f"vjp_{name}", [*args, point.cotangent])
        check_grads(report, f"vjp_{name}", vjp, point, "vjp", plan, indices)


def draw_like(rng, value):
    """A standard normal array shaped like value (a float for a scalar)."""
    drawn = rng.standard_normal(np.shape(value))
    return float(drawn) if np.ndim(value) == 0 else drawn


def check_value(row: Row, result, point: Point) -> None:
    if isinstance(result, Failure):
        row.fail(result.message)
        return
    if np.shape(result) != np.shape(point.value):
        row.fail(f"value has shape {np.shape(result)}, expected {np.shape(point.value)}")
        return
    if point.probes or point.directional:
        row.measure("fd").add(result, point.value, 0.0, VALUE_RTOL, VALUE_ATOL)
    if point.exact:
        exact_value = next(iter(point.exact.values()))[0]
        row.measure("sympy").add(result, exact_value, 0.0, VALUE_RTOL, VALUE_ATOL)


def check_jvp(report: Report, entry: str, result, point: Point) -> None:
    """jvp_f(*args, *tangents) returns (value, tangent of the value)."""
    shape = np.shape(point.value)
    if not isinstance(result, Failure) and not (isinstance(result, tuple) and len(result) == 2):
        result = Failure(f"{entry} returned {type(result).__name__}, not (value, tangent)")
    if isinstance(result, Failure):
        for parameter in (VALUE, TANGENT):
            report.row(entry, parameter, shape).fail(result.message)
        return
    check_value(report.row(entry, VALUE, shape), result[0], point)
    row = report.row(entry, TANGENT, shape)
    try:
        tangent = np.asarray(result[1], dtype=float)
    except (TypeError, ValueError):
        row.fail(f"returned {type(result[1]).__name__} as the tangent, not an array")
        return
    if tangent.shape != shape:
        row.fail(f"tangent has shape {tangent.shape}, expected {shape}")
        return
    if point.directional is not None:
        expected, noise = point.directional
        row.measure("fd").add(tangent, expected, noise, FD_RTOL, FD_ATOL)
    if "jvp" in point.exact:
        row.measure("sympy").add(tangent, point.exact["jvp"][1], 0.0, SYMPY_RTOL, SYMPY_ATOL)


def check_grads(report, entry: str, result, point: Point, kind: str, plan, indices) -> None:
    grads = unpack(result, len(indices))
    for position, (i, name) in enumerate(zip(indices, plan.wrt)):
        row = report.row(entry, name, np.shape(point.args[i]))
        if isinstance(grads, Failure):
            row.fail(grads.message)
            continue
        grad = grads[position]
        try:
            grad = np.asarray(grad, dtype=float)
        except (TypeError, ValueError):
            row.fail(f"returned {type(grads[position]).__name__} for {name}, not an array")
            continue
        if grad.shape != np.shape(point.args[i]):
            row.fail(f"gradient has shape {grad.shape}, expected {np.shape(point.args[i])}")
            continue
        if point.probes:
            probe_ = point.probes[i]
            expected, noise = probe_.reference(point.seed(kind))
            row.measure("fd").add(probe_.project(grad), expected, noise, FD_RTOL, FD_ATOL)
        if kind in point.exact:
            exact = point.exact[kind][1][i]
            row.measure("sympy").add(grad, exact, 0.0, SYMPY_RTOL, SYMPY_ATOL)
