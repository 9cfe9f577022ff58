"""Property-based tests: random valid programs differentiate correctly; invalid ones fail cleanly.

`programs()` builds random straight-line cost functions: 3-30 operations of the
supported subset, each reading earlier values (a random DAG), over 1-4
parameters whose shapes broadcast against one base shape.  Every value carries
an interval that contains it for any input the check draws (magnitudes up to
2), and an operation is only applied where its domain holds (log of values
>= 0.2, division by values away from zero, exp of values <= 3, ...) and its
result stays within +-100, so central differences stay accurate.  Each program
is generated (annotated, or shape-generic with the shapes given to the check)
and checked against finite differences.

Invalid programs (arbitrary text, and valid programs with random edits) must
never produce a traceback: `generate` raises only `SymgradError`, and the
command line exits 0 or 2.

The normal run tries a few hundred programs with a fixed seed; `pytest -m fuzz`
runs thousands with fresh randomness.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symgrad import generate
from symgrad.check import Options, check
from symgrad.cli import main
from symgrad.errors import SymgradError

BOUND = 100.0  # every value of a program stays within +-BOUND
INPUT = 2.0  # the check draws inputs with magnitude below this
SYMBOLS = "ABC"

NORMAL = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LONG = settings(
    max_examples=6000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Value:
    name: str
    shape: tuple  # of ints
    lo: float
    hi: float
    clamped: bool = False  # may hold exact zeros or repeated values (relu, clip, max, ...)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Program:
    source: str
    shapes: dict  # parameter -> annotation tuple
    dims: dict  # symbol -> size
    annotated: bool

    def __repr__(self) -> str:
        return f"Program(annotated={self.annotated}, dims={self.dims})\n{self.source}"


def span(*values) -> tuple[float, float]:
    return min(values), max(values)


def magnitude(v: Value) -> float:
    return max(abs(v.lo), abs(v.hi))


# Unary elementwise operations: (template, applicable(interval), result interval).
UNARY = {
    "neg": ("-{x}", lambda lo, hi: True, lambda lo, hi: (-hi, -lo)),
    "exp": ("np.exp({x})", lambda lo, hi: hi <= 3, lambda lo, hi: (math.exp(lo), math.exp(hi))),
    "log": ("np.log({x})", lambda lo, hi: lo >= 0.2, lambda lo, hi: (math.log(lo), math.log(hi))),
    "log1p": (
        "np.log1p({x})",
        lambda lo, hi: lo >= -0.5,
        lambda lo, hi: (math.log1p(lo), math.log1p(hi)),
    ),
    "expm1": (
        "np.expm1({x})",
        lambda lo, hi: hi <= 3,
        lambda lo, hi: (math.expm1(lo), math.expm1(hi)),
    ),
    "sqrt": ("np.sqrt({x})", lambda lo, hi: lo >= 0.1, lambda lo, hi: (lo**0.5, hi**0.5)),
    "square": (
        "np.square({x})",
        lambda lo, hi: True,
        lambda lo, hi: (0.0 if lo < 0 < hi else min(lo * lo, hi * hi), max(lo * lo, hi * hi)),
    ),
    "abs": (
        "np.abs({x})",
        lambda lo, hi: True,
        lambda lo, hi: (0.0 if lo < 0 < hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi))),
    ),
    "sin": ("np.sin({x})", lambda lo, hi: True, lambda lo, hi: (-1.0, 1.0)),
    "cos": ("np.cos({x})", lambda lo, hi: True, lambda lo, hi: (-1.0, 1.0)),
    "tan": (
        "np.tan({x})",
        lambda lo, hi: -1 <= lo and hi <= 1,
        lambda lo, hi: (math.tan(lo), math.tan(hi)),
    ),
    "tanh": ("np.tanh({x})", lambda lo, hi: True, lambda lo, hi: (math.tanh(lo), math.tanh(hi))),
    "arctan": (
        "np.arctan({x})",
        lambda lo, hi: True,
        lambda lo, hi: (math.atan(lo), math.atan(hi)),
    ),
    "sinh": (
        "np.sinh({x})",
        lambda lo, hi: -3 <= lo and hi <= 3,
        lambda lo, hi: (math.sinh(lo), math.sinh(hi)),
    ),
    "cosh": (
        "np.cosh({x})",
        lambda lo, hi: -3 <= lo and hi <= 3,
        lambda lo, hi: (1.0, max(math.cosh(lo), math.cosh(hi))),
    ),
    "cube": (
        "{x} ** 3",
        lambda lo, hi: True,
        lambda lo, hi: (lo**3, hi**3),
    ),
    "root": ("{x} ** 0.5", lambda lo, hi: lo >= 0.1, lambda lo, hi: (lo**0.5, hi**0.5)),
    "rpow": ("2.0 ** {x}", lambda lo, hi: hi <= 4, lambda lo, hi: (2.0**lo, 2.0**hi)),
    "relu": (
        "np.maximum({x}, 0.0)",
        lambda lo, hi: True,
        lambda lo, hi: (max(lo, 0.0), max(hi, 0.0)),
    ),
    "clip": (
        "np.clip({x}, -0.5, 0.5)",
        lambda lo, hi: True,
        lambda lo, hi: (min(max(lo, -0.5), 0.5), min(max(hi, -0.5), 0.5)),
    ),
    "leaky": (
        "np.where({x} > 0, {x}, 0.1 * {x})",
        lambda lo, hi: True,
        lambda lo, hi: (min(lo, 0.1 * lo), max(hi, 0.1 * hi)),
    ),
    "affine": (
        "1.5 - 0.5 * {x}",
        lambda lo, hi: True,
        lambda lo, hi: (1.5 - 0.5 * hi, 1.5 - 0.5 * lo),
    ),
    "rdiv": (
        "1.0 / {x}",
        lambda lo, hi: lo >= 0.3 or hi <= -0.3,
        lambda lo, hi: span(1 / lo, 1 / hi),
    ),
    "sign-times": ("{x} * np.sign({x})", lambda lo, hi: True, lambda lo, hi: (0.0, max(-lo, hi))),
}


def product(a: Value, b: Value) -> tuple[float, float]:
    return span(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)


def power_interval(a: Value, b: Value) -> tuple[float, float]:
    return span(*(x**y for x in (a.lo, a.hi) for y in (b.lo, b.hi)))


# Binary operations: (template, applicable(a, b), result interval(a, b)).
BINARY = {
    "add": ("{x} + {y}", lambda a, b: True, lambda a, b: (a.lo + b.lo, a.hi + b.hi)),
    "sub": ("{x} - {y}", lambda a, b: True, lambda a, b: (a.lo - b.hi, a.hi - b.lo)),
    "mul": ("{x} * {y}", lambda a, b: True, product),
    "div": (
        "{x} / {y}",
        lambda a, b: b.lo >= 0.3 or b.hi <= -0.3,
        lambda a, b: span(*(x / y for x in (a.lo, a.hi) for y in (b.lo, b.hi))),
    ),
    "maximum": (
        "np.maximum({x}, {y})",
        lambda a, b: True,
        lambda a, b: (max(a.lo, b.lo), max(a.hi, b.hi)),
    ),
    "minimum": (
        "np.minimum({x}, {y})",
        lambda a, b: True,
        lambda a, b: (min(a.lo, b.lo), min(a.hi, b.hi)),
    ),
    "logaddexp": (
        "np.logaddexp({x}, {y})",
        lambda a, b: True,
        lambda a, b: (max(a.lo, b.lo), max(a.hi, b.hi) + math.log(2)),
    ),
    "power": (
        "np.power({x}, {y})",
        lambda a, b: a.lo >= 0.2 and magnitude(b) <= 2,
        power_interval,
    ),
    "pow": ("{x} ** {y}", lambda a, b: a.lo >= 0.2 and magnitude(b) <= 2, power_interval),
    "where": (
        "np.where({x} > {y}, {x} * {y}, {y})",
        lambda a, b: True,
        lambda a, b: span(*product(a, b), b.lo, b.hi),
    ),
    "matmul": (
        "{x} @ {y}",
        lambda a, b: a.shape != () and b.shape != (),
        lambda a, b: (
            -a.shape[-1] * magnitude(a) * magnitude(b),
            a.shape[-1] * magnitude(a) * magnitude(b),
        ),
    ),
    "concatenate": (
        "np.concatenate([{x}, {y}], axis=0)",
        lambda a, b: a.shape != () and b.shape != (),
        lambda a, b: (min(a.lo, b.lo), max(a.hi, b.hi)),
    ),
    "stack": (
        "np.stack([{x}, {y}], axis=-1)",
        lambda a, b: a.shape == b.shape,
        lambda a, b: (min(a.lo, b.lo), max(a.hi, b.hi)),
    ),
}

REDUCTIONS = ("sum", "mean", "max", "min", "prod", "var", "std", "norm")
# operations whose result can be exactly zero or repeat a value, whatever the inputs
CLAMPING = {
    "abs",
    "relu",
    "clip",
    "leaky",
    "sign-times",
    "maximum",
    "minimum",
    "where",
    "max",
    "min",
    "var",  # zero over a single element
    "std",
}
# Reductions not differentiable where values are all equal (std), or whose gradient
# symgrad gets wrong at exact zeros (prod: see test_prod_gradient_at_an_exact_zero)
# or that are not differentiable there (norm of the zero vector): applied only where
# the values cannot be all equal, or cannot be zero.
ALL_EQUAL_SINGULAR = {"std"}
ZERO_SINGULAR = {"prod", "norm"}

# Structural operations on arrays: (template, minimum rank).
STRUCTURAL = {
    "first": ("{x}[0]", 1),
    "last": ("{x}[-1]", 1),
    "tail": ("{x}[1:]", 1),
    "reversed": ("{x}[::-1]", 1),
    "column": ("{x}[:, 0]", 2),
    "ellipsis": ("{x}[..., 0]", 1),
    "newaxis": ("{x}[None]", 0),
    "T": ("{x}.T", 1),
    "flat": ("{x}.reshape(-1)", 1),
    "transpose": ("np.transpose({x})", 2),
}


def result_shape(expr: str, values: dict):
    """The shape NumPy gives `expr` on arrays of the operands' shapes, or None if it fails."""
    dummies = {v.name: np.full(v.shape, 0.5) if v.shape else 0.5 for v in values.values()}
    try:
        with np.errstate(all="ignore"):
            return np.shape(eval(expr, {"np": np}, dummies))  # our own generated text
    except (ValueError, IndexError, TypeError):
        return None


def reduction(draw, x: Value):
    """A reduction of x: its name, template and interval, or None."""
    name = draw(st.sampled_from(REDUCTIONS))
    if name in ALL_EQUAL_SINGULAR and x.clamped or name in ZERO_SINGULAR and x.lo <= 0 <= x.hi:
        return None
    rank = len(x.shape)
    axis = None
    if rank and draw(st.booleans()):
        axis = draw(st.integers(-rank, rank - 1))
    keepdims = draw(st.booleans())
    count = x.size if axis is None else x.shape[axis]
    args = "" if axis is None else f", axis={axis}"
    args += ", keepdims=True" if keepdims else ""
    m = magnitude(x)
    if name == "sum":
        lo, hi = count * x.lo, count * x.hi
    elif name in ("mean", "max", "min"):
        lo, hi = x.lo, x.hi
    elif name == "prod":
        if m**count > BOUND:
            return None
        lo, hi = (x.lo**count, x.hi**count) if x.lo >= 0 else (-(m**count), m**count)
    elif name == "var":
        lo, hi = 0.0, (x.hi - x.lo) ** 2
    elif name == "std":
        # std is |a - b| / 2 for two elements: a kink the check does not look for
        if count < 3:
            return None
        lo, hi = 0.0, x.hi - x.lo
    else:  # norm: smooth away from the zero vector, which random inputs never give
        if count < 2 or keepdims or axis is not None and rank > 2:
            return None
        return name, f"np.linalg.norm({{x}}{args})", 0.0, math.sqrt(count) * m
    return name, f"np.{name}({{x}}{args})", lo, hi


def candidates(draw, x: Value, y: Value, values: dict) -> dict:
    """Operations applicable to x (and y), by kind: (text, lo, hi, shape, clamped) each."""
    found = []
    for name, (template, ok, interval) in UNARY.items():
        if ok(x.lo, x.hi):
            found.append(("unary", name, template.format(x=x.name), *interval(x.lo, x.hi)))
    for name, (template, ok, interval) in BINARY.items():
        if ok(x, y):
            text = template.format(x=x.name, y=y.name)
            found.append(("binary", name, text, *interval(x, y)))
    for name, (template, rank) in STRUCTURAL.items():
        if len(x.shape) >= rank:
            found.append(("structural", name, template.format(x=x.name), x.lo, x.hi))
    reduced = reduction(draw, x)
    if reduced is not None:
        name, template, lo, hi = reduced
        found.append(("reduce", name, template.format(x=x.name), lo, hi))
    usable: dict = {}
    for kind, name, text, lo, hi in found:
        if max(abs(lo), abs(hi)) > BOUND:
            continue
        shape = result_shape(text, values)
        if shape is not None and 0 not in shape:
            cancels = kind == "binary" and x.name == y.name and name in ("sub", "add")
            clamped = x.clamped or (kind == "binary" and y.clamped) or name in CLAMPING
            clamped = clamped or cancels or name == "neg"
            usable.setdefault(kind, []).append((text, lo, hi, shape, clamped))
    return usable


@st.composite
def programs(draw, max_ops: int = 30) -> Program:
    dims = {s: draw(st.integers(2, 4)) for s in SYMBOLS}
    base = tuple(draw(st.lists(st.sampled_from(SYMBOLS), min_size=0, max_size=3)))
    values: dict = {}
    annotations = {}
    for k in range(draw(st.integers(1, 4))):
        rank = draw(st.integers(0, len(base)))
        shape = tuple(1 if draw(st.integers(0, 4)) == 0 else d for d in base[len(base) - rank :])
        name = f"p{k}"
        annotations[name] = shape
        sizes = tuple(d if isinstance(d, int) else dims[d] for d in shape)
        values[name] = Value(name, sizes, -INPUT, INPUT)
    lines, read = [], set()
    for k in range(draw(st.integers(3, max_ops))):
        names = list(values)
        recent = st.sampled_from(names[-3:])
        x = values[draw(st.one_of(recent, st.sampled_from(names)))]
        y = values[draw(st.one_of(recent, st.sampled_from(names)))]
        usable = candidates(draw, x, y, values)
        kind = draw(st.sampled_from(sorted(usable)))
        text, lo, hi, shape, clamped = draw(st.sampled_from(usable[kind]))
        read.update(n for n in (x.name, y.name) if n in text.replace("(", " ").split())
        target = f"v{k}"
        values[target] = Value(target, shape, lo, hi, clamped)
        lines.append(f"{target} = {text}")
    last = f"v{len(lines) - 1}"
    if draw(st.integers(0, 4)) > 0:
        sinks = [n for n in values if n.startswith("v") and n not in read]
        result = " + ".join(f"np.sum({n})" for n in sinks)
    else:
        result = last
    annotated = draw(st.booleans())

    def parameter(name):
        dims_text = ",".join(str(d) for d in annotations[name])
        return f'{name}: "{dims_text}"' if annotated else name

    params = ", ".join(parameter(n) for n in annotations)
    body = "".join(f"    {line}\n" for line in lines)
    source = f"import numpy as np\n\n\ndef f({params}):\n{body}    return {result}\n"
    return Program(source, annotations, dims, annotated)


def assert_differentiates_correctly(
    program: Program, references=("fd",), mode: str = "reverse"
) -> None:
    module = generate(program.source, "fuzz.py", mode=mode)
    options = Options(
        shapes={} if program.annotated else program.shapes,
        dims=program.dims,
        points=2,
        references=references,
    )
    report = check(program.source, "fuzz.py", module, "fuzz_grad.py", options)
    assert report.ok, f"{program!r}\n{report.table()}"


@NORMAL
@given(programs())
def test_random_programs_match_finite_differences(program):
    assert_differentiates_correctly(program)


@settings(NORMAL, max_examples=25)
@given(programs(max_ops=8))
def test_random_programs_match_the_sympy_oracle(program):
    assert_differentiates_correctly(program, ("sympy",))


@settings(NORMAL, max_examples=60)
@given(programs())
def test_random_programs_forward_mode_matches_finite_differences(program):
    assert_differentiates_correctly(program, mode="forward")


@pytest.mark.fuzz
@LONG
@given(programs())
def test_random_programs_match_finite_differences_long(program):
    assert_differentiates_correctly(program)


@pytest.mark.fuzz
@settings(LONG, max_examples=2000)
@given(programs())
def test_random_programs_forward_mode_matches_finite_differences_long(program):
    assert_differentiates_correctly(program, mode="forward")


# ---------------------------------------------------------------- what the fuzzer found


def test_two_broadcast_cotangents_keep_their_shape():
    """Found by the fuzzer: sum(d) + mean(d) gave d a scalar cotangent (builder peephole).

    Each reduction's cotangent is a lazy `broadcast_to(g, d)`; the peephole that drops a
    broadcast next to an operand of the full shape dropped both, so dx had shape ()
    and dy summed one element instead of three.
    """
    source = (
        "import numpy as np\n\n\ndef f(x, y):\n    d = y - x\n    return np.sum(d) + np.mean(d)\n"
    )
    for shapes in ({"x": (3,), "y": ()}, {}):
        annotated = source.replace("f(x, y)", 'f(x: "3", y: "")') if not shapes else source
        report = check(annotated, "found.py", options=Options(shapes=shapes))
        assert report.ok, report.table()


@pytest.mark.parametrize(
    "body",
    ["x[0] * 2.0", "np.sum(np.reshape(s, (1,)) * x) + np.sum(np.transpose(s) * x)"],
    ids=["unit-index-cotangent", "reshape-transpose-of-scalar"],
)
def test_scalars_may_be_python_floats(body):
    """Found by the fuzzer: `.reshape`/`.T` was printed on values that may be Python floats.

    vjp_f(x, 1.0) of `x[0] * 2.0` with x of shape (1,) raised AttributeError on
    `(g * 2).reshape(x.shape)`, and f itself did on `s.reshape((1,))` for np.reshape(s, ...).
    """
    source = f'import numpy as np\n\n\ndef f(x: "1", s: ""):\n    return {body}\n'
    report = check(source, "found.py", options=Options(points=1))
    assert report.ok, report.table()


@pytest.mark.parametrize("body", ["-np.min(np.sum(x))", "np.max(-np.sum(x))"])
def test_a_scalar_mask_is_never_negated(body):
    """Found by the fuzzer: `-t1 / np.sum(t1, keepdims=True)` with t1 = (v == np.min(v)).

    A comparison of scalars is a NumPy bool, which `-` rejects; the builder took it
    for a Python number and moved a negation onto it.
    """
    source = f'import numpy as np\n\n\ndef f(x: "3"):\n    return {body}\n'
    report = check(source, "found.py", options=Options(points=1, mode="all"))
    assert report.ok, report.table()


@pytest.mark.xfail(strict=True, reason="vjp_prod divides by x: NaN where an element is 0")
def test_prod_gradient_at_an_exact_zero():
    """Found by the fuzzer, not fixed: d prod(x) / dx_i is the product of the others."""
    module = {}
    exec(generate('import numpy as np\n\n\ndef f(x: "3"):\n    return np.prod(x)\n'), module)
    with np.errstate(invalid="ignore", divide="ignore"):
        grad = module["grad_f"](np.array([0.0, 2.0, 3.0]))
    np.testing.assert_allclose(grad, [6.0, 0.0, 0.0])


# ---------------------------------------------------------------- invalid source

TOKENS = [
    "(",
    ")",
    "[",
    "]",
    ":",
    ",",
    "=",
    "+=",
    "**",
    "@",
    "//",
    "%",
    "|",
    ".T",
    ".shape",
    "[0]",
    "[None]",
    "[::-1]",
    "np.",
    "np.fft.fft(",
    "np.sum(",
    "axis=",
    "keepdims=True",
    "lambda x: x",
    "for i in range(3):\n",
    "if x > 0:\n",
    "else:\n",
    "while True:\n",
    "return",
    "yield",
    "del ",
    "global x",
    "import os\n",
    "def g(x):\n    return x\n",
    "    ",
    "\n",
    "\t",
    "1e400",
    "-0.0",
    "None",
    "...",
    "True",
    "'s'",
    "f'{x}'",
    "p0",
    "v0",
    "f(",
    "*",
    "**kw",
    "\\",
    "#",
    '"""',
    "\x00",
    "é",
]


@st.composite
def broken_programs(draw) -> str:
    """A valid program with one to three random edits."""
    text = draw(programs(max_ops=6)).source
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "swap"]))
        at = draw(st.integers(0, len(text)))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif edit == "replace":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at + draw(st.integers(1, 6)) :]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if edit == "duplicate":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def assert_clean(source: str) -> None:
    """generate() succeeds or raises SymgradError; the CLI exits 0 or 2 with no traceback."""
    try:
        generate(source, "broken.py")
    except SymgradError:
        pass
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "broken.py")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(source)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["gen", path, "-o", "-"])
        assert status in (0, 2), f"exit {status}\n{err.getvalue()}\n{source}"
        assert "internal error" not in err.getvalue()
        assert "Traceback" not in err.getvalue() + out.getvalue()


@NORMAL
@given(st.text(max_size=300))
def test_arbitrary_text_never_gives_a_traceback(text):
    assert_clean(text)


@NORMAL
@given(st.text(alphabet="np.()[]:,=+-*/@ \n\tdefreturnxyz0123456789", max_size=200))
def test_python_like_text_never_gives_a_traceback(text):
    assert_clean("import numpy as np\n\ndef f(x, y):\n" + text)


@NORMAL
@given(broken_programs())
def test_edited_programs_never_give_a_traceback(source):
    assert_clean(source)


@pytest.mark.fuzz
@LONG
@given(broken_programs())
def test_edited_programs_never_give_a_traceback_long(source):
    assert_clean(source)
