"""Forward mode, Jacobians and second-order derivatives.

* Every row of the rule table (``tests/test_rules.py``), annotated and
  shape-generic: ``jvp_f`` against central differences along random tangents,
  with every parameter differentiated and with each alone (a tangent that one
  argument of a broadcasting primitive contributes must be broadcast to the
  result), and the identity ``<vjp(g), t> == <g, jvp(t)>``.
* Forward-over-reverse on every row: ``hvp_f`` of ``sum(sin(row))`` against
  central differences of ``grad_f``. The adjoint program of a row holds the
  primitives only derivative rules emit (``broadcast_to``, ``scatter``,
  ``unbroadcast``, ``matmul_grad_left``, ...), so this checks their JVP rules.
* Every example in ``examples/``: jvp, the identity, and hvp for scalar costs.
* ``jacobian_f`` on R^3 -> R^5 and R^5 -> R^2 against finite differences, with
  the mode it chose observed by counting calls of jvp_f and vjp_f, and both
  modes forced with ``jacobian=``.
* ``hvp_f`` and ``hessian_f`` of the MLP and of Rosenbrock's function: finite
  differences of the gradient, symmetry, Rosenbrock's closed-form Hessian.
* ``hvp_f`` and ``hessian_f`` through loops and branches (forward mode over the
  tapes and in-place accumulators of loop adjoints): the RNN, Horner's rule, a
  data-dependent ``if`` in a loop, nested loops, accumulation into slices, a loop
  in a branch in a loop; finite differences of the gradient, symmetry, arguments
  left untouched, tangent tapes only for values that vary.
* The lecture's forward-mode trace, the CLI flags, ruff on generated modules,
  and ``symgrad gen`` applied to a generated module.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close, load_module
from test_control_flow import PROGRAMS as CONTROL_FLOW_PROGRAMS
from test_control_flow import count_pushes, float_params, random_args
from test_examples import EXAMPLES, EXAMPLES_DIR, example_source, make_args, original_module
from test_rules import ATOL, PARAM_NAMES, RTOL, RULES, Rule, _draw, make_source, reference

from symgrad import generate
from symgrad.cli import main as cli
from symgrad.primitives import PRIMITIVES

IDENTITY_RTOL = 1e-9  # <vjp(g), t> and <g, jvp(t)>: two exact computations of one number
IDENTITY_ATOL = 1e-12
EPS = 1e-6  # central differences of f
HVP_EPS = 1e-5  # central differences of the gradient


def seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def random_like(rng: np.random.Generator, value):
    """A random array shaped like value (a Python float for a float)."""
    if np.ndim(value) == 0:
        return float(rng.standard_normal())
    return rng.standard_normal(np.shape(value))


def numeric_jvp(f, args, tangents, eps=EPS):
    """Central difference of f along the tangents (None: that argument is held fixed)."""

    def moved(step):
        return [a if t is None else a + step * np.asarray(t) for a, t in zip(args, tangents)]

    return (np.asarray(f(*moved(eps))) - np.asarray(f(*moved(-eps)))) / (2 * eps)


def numeric_hvp(grad, args, index_of, directions, eps=HVP_EPS):
    """Central difference of grad (one array per wrt parameter) along the directions."""
    tangents = [None] * len(args)
    for index, v in zip(index_of, directions):
        tangents[index] = v
    return [
        numeric_jvp(lambda *a, k=k: as_tuple(grad(*a), len(index_of))[k], args, tangents, eps)
        for k in range(len(index_of))
    ]


def numeric_jacobian(f, args, index, eps=EPS):
    """d f / d args[index], shaped f's output + the parameter's shape."""
    x = np.asarray(args[index], dtype=float)
    columns = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = 1.0
        tangents = [None] * len(args)
        tangents[index] = e.reshape(x.shape)
        columns.append(numeric_jvp(f, args, tangents, eps))
    out_shape = np.shape(columns[0])
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


def as_tuple(result, n: int) -> tuple:
    if n == 1:
        assert not isinstance(result, tuple), "one parameter: expected a bare array"
        return (result,)
    assert isinstance(result, tuple) and len(result) == n, f"expected a tuple of {n}"
    return result


def inner_product(xs, ys) -> float:
    return float(sum(np.sum(np.asarray(x) * np.asarray(y)) for x, y in zip(xs, ys)))


# --------------------------------------------------------------------------
# The table: every primitive's JVP rule, through jvp_f
# --------------------------------------------------------------------------


def _wrt_choices(rule: Rule):
    names = list(PARAM_NAMES[: len(rule.shapes)])
    yield names
    if len(names) > 1:
        yield from ([name] for name in names)


def _rule_params():
    for rule in RULES:
        for annotated in (True, False):
            tag = "annotated" if annotated else "generic"
            for wrt in _wrt_choices(rule):
                label = "all" if len(wrt) == len(rule.shapes) else wrt[0]
                yield pytest.param(rule, annotated, wrt, id=f"{rule.id}-{tag}-wrt_{label}")


@pytest.mark.parametrize("rule, annotated, wrt", list(_rule_params()))
def test_jvp_rule(rule: Rule, annotated: bool, wrt: list):
    source = make_source(rule.body, rule.shapes, annotated)
    names = list(PARAM_NAMES[: len(rule.shapes)])
    mod = load_module(generate(source, path=f"<{rule.id}>", funcs=["f"], wrt=wrt, mode="all"))
    ref = reference(source)
    rng = np.random.default_rng(seed("jvp", rule.id, *wrt))
    args = _draw(rng, rule.domain, rule.shapes)
    tangents = [random_like(rng, a) if n in wrt else None for n, a in zip(names, args)]
    given = [t for t in tangents if t is not None]

    value, tangent = mod.jvp_f(*args, *given)
    assert_close(value, ref(*args), rtol=1e-10, atol=1e-12, what="jvp value")
    expected = numeric_jvp(ref, args, tangents)
    assert np.shape(tangent) == np.shape(expected), "tangent shaped like the output"
    assert_close(tangent, expected, rtol=RTOL, atol=ATOL, what="jvp against differences")

    g = random_like(rng, value)
    cotangents = as_tuple(mod.vjp_f(*args, g), len(wrt))
    np.testing.assert_allclose(
        inner_product(cotangents, given),
        inner_product([g], [tangent]),
        rtol=IDENTITY_RTOL,
        atol=IDENTITY_ATOL,
        err_msg="<vjp(g), t> != <g, jvp(t)>",
    )


# --------------------------------------------------------------------------
# The table again, second order: hvp of sum(sin(row)) through every adjoint program
# --------------------------------------------------------------------------


def second_order_source(rule: Rule, annotated: bool) -> str:
    """The row as a helper `inner`, and f = sum(sin(inner(...))): a scalar with curvature."""
    helper = make_source(rule.body, rule.shapes, annotated=False).replace("def f(", "def inner(")
    names = PARAM_NAMES[: len(rule.shapes)]
    params = [
        f'{n}: "{",".join(map(str, s))}"' if annotated else n for n, s in zip(names, rule.shapes)
    ]
    call = f"inner({', '.join(names)})"
    return helper + f"\n\ndef f({', '.join(params)}):\n    return np.sum(np.sin({call}))\n"


def _second_order_params():
    for rule in RULES:
        for annotated in (True, False):
            tag = "annotated" if annotated else "generic"
            yield pytest.param(rule, annotated, id=f"{rule.id}-{tag}")


@pytest.mark.parametrize("rule, annotated", list(_second_order_params()))
def test_hvp_rule(rule: Rule, annotated: bool):
    source = second_order_source(rule, annotated)
    names = list(PARAM_NAMES[: len(rule.shapes)])
    mod = load_module(generate(source, path=f"<{rule.id}>", funcs=["f"], wrt=names, mode="all"))
    rng = np.random.default_rng(seed("hvp", rule.id))
    args = _draw(rng, rule.domain, rule.shapes)
    directions = [random_like(rng, a) for a in args]

    got = as_tuple(mod.hvp_f(*args, *directions), len(names))
    expected = numeric_hvp(mod.grad_f, args, range(len(names)), directions)
    for name, h, want in zip(names, got, expected):
        assert np.shape(h) == np.shape(want), f"hvp d/d{name}: shape"
        assert_close(h, want, rtol=1e-5, atol=1e-6, what=f"hvp d/d{name}")


# --------------------------------------------------------------------------
# Non-smooth points: the conventions of reverse mode, so the identity holds there too
# --------------------------------------------------------------------------

KINKS = [
    # body, arguments, the tangent for tangents of ones
    ("np.max(x)", [np.array([1.0, 3.0, 3.0])], 1.0),  # the tie shares: (1 + 1) / 2
    ("np.min(x, axis=0)", [np.array([[1.0, 2.0], [1.0, 0.0]])], [1.0, 1.0]),
    ("np.maximum(x, y)", [np.array([1.0, 2.0]), np.array([1.0, 3.0])], [1.0, 1.0]),
    ("np.maximum(x, 0.0)", [np.array([-1.0, 0.0, 2.0])], [0.0, 0.0, 1.0]),  # relu'(0) = 0
    ("np.abs(x)", [np.array([-1.0, 0.0, 2.0])], [-1.0, 0.0, 1.0]),  # |x|'(0) = 0
    ("np.clip(x, -0.5, 0.5)", [np.array([-0.5, 0.1, 0.5, 0.7])], [1.0, 1.0, 1.0, 0.0]),
]


@pytest.mark.parametrize("body, args, expected", KINKS, ids=[k[0] for k in KINKS])
def test_jvp_conventions_at_kinks(body, args, expected):
    shapes = tuple(np.shape(a) for a in args)
    names = list(PARAM_NAMES[: len(args)])
    mod = load_module(generate(make_source(body, shapes, True), wrt=names, mode="all"))
    _, tangent = mod.jvp_f(*args, *[np.ones_like(a) for a in args])
    assert_close(tangent, expected, 0, 0, what=f"tangent of {body} along ones")
    rng = np.random.default_rng(seed("kink", body))
    tangents = [rng.normal(size=np.shape(a)) for a in args]
    _, tangent = mod.jvp_f(*args, *tangents)
    g = random_like(rng, tangent)
    cotangents = as_tuple(mod.vjp_f(*args, g), len(args))
    assert_close(inner_product(cotangents, tangents), inner_product([g], [tangent]), 1e-12, 1e-14)


# --------------------------------------------------------------------------
# Every primitive has a JVP rule, unless its result never varies
# --------------------------------------------------------------------------

# Results that carry no derivative: comparisons, signs, constructors, Python-level
# values, the grad seed 1.0, a call kept in a primal and tuple unpacking.
CONSTANT_RESULTS = {
    "sign",
    "ones",
    "zeros",
    "ones_like",
    "zeros_like",
    "eye",
    "gt",
    "ge",
    "lt",
    "le",
    "eq",
    "ne",
    "and_",
    "shape",
    "ndim",
    "size",
    "tuple",
    "grad_seed",
    "call",
    "unpack",
    "int_min",
}
# Written only after every derivative is built (the in-place rewrite of emitted
# adjoints, symgrad/inplace.py): no program that forward mode reads holds them.
AFTER_DIFFERENTIATION = {"inplace"}


def test_every_varying_primitive_has_a_jvp_rule():
    """A new primitive must get a JVP rule, or be listed above as never varying.

    The tapes and accumulators of loop adjoints (push, pop, scatter_add) have rules
    too: hvp_ differentiates adjoint programs, loops included."""
    no_rule = {name for name, p in PRIMITIVES.items() if p.jvp is None}
    unlisted = no_rule - CONSTANT_RESULTS - AFTER_DIFFERENTIATION
    assert not {"push", "pop", "scatter_add"} & no_rule, "loop adjoints need JVP rules"
    assert not unlisted, f"give these a JVP rule, or list them: {sorted(unlisted)}"
    differentiable = {name for name, p in PRIMITIVES.items() if p.vjp is not None}
    assert not differentiable & no_rule, "a VJP rule without a JVP rule"
    assert not CONSTANT_RESULTS & set(PRIMITIVES) - no_rule, "listed as constant, has a rule"


# --------------------------------------------------------------------------
# Every example
# --------------------------------------------------------------------------


def _lecture_args(rng):
    return {"w0": float(rng.normal()), "w1": float(rng.normal()), "x": rng.normal(size=4)}


# examples that are not scalar costs, so tests/test_examples.py leaves them to this file
VECTOR_EXAMPLES = {"lecture_trace": ("outputs", _lecture_args, ("w0", "w1"))}


def test_every_example_is_covered():
    # examples/train_*.py and run_*.py are runnable scripts, not cost files
    on_disk = {
        p.stem
        for p in EXAMPLES_DIR.glob("*.py")
        if p.stem != "__init__" and not p.stem.startswith(("train_", "run_"))
    }
    assert on_disk == set(EXAMPLES) | set(VECTOR_EXAMPLES)


def _example_cases():
    for name in [*EXAMPLES, *VECTOR_EXAMPLES]:
        for variant in ("annotated", "unannotated"):
            yield pytest.param(name, variant, id=f"{name}-{variant}")


def example_setup(name: str, variant: str, rng):
    """(source, function, wrt, args, the example itself run with NumPy)."""
    if name in VECTOR_EXAMPLES:
        func, make, wrt = VECTOR_EXAMPLES[name]
        source = (EXAMPLES_DIR / f"{name}.py").read_text()
        return source, func, list(wrt), list(make(rng).values()), load_module(source)
    ex = EXAMPLES[name]
    args = make_args(name, int(rng.integers(0, 100)))
    return example_source(name, variant), ex.func, list(ex.model_wrt), args, original_module(name)


@pytest.mark.parametrize("name, variant", list(_example_cases()))
def test_example_forward_and_second_order(name: str, variant: str):
    rng = np.random.default_rng(seed("example", name, variant))
    source, func, wrt, args, original = example_setup(name, variant, rng)
    mod = load_module(generate(source, name, funcs=[func], wrt=wrt, mode="all"))
    primal = getattr(original, func)
    params = list(getattr(original, func).__code__.co_varnames[: len(args)])
    index_of = [params.index(w) for w in wrt]
    tangents = [None] * len(args)
    for i in index_of:
        tangents[i] = random_like(rng, args[i])
    given = [tangents[i] for i in index_of]

    value, tangent = getattr(mod, f"jvp_{func}")(*args, *given)
    assert_close(value, primal(*args), rtol=1e-12, atol=1e-14, what="jvp value")
    expected = numeric_jvp(primal, args, tangents)
    assert np.any(expected != 0), "vacuous check"
    assert_close(tangent, expected, rtol=1e-5, atol=1e-8, what="jvp against differences")

    g = random_like(rng, value)
    cotangents = as_tuple(getattr(mod, f"vjp_{func}")(*args, g), len(wrt))
    np.testing.assert_allclose(
        inner_product(cotangents, given), inner_product([g], [tangent]), rtol=IDENTITY_RTOL
    )

    if np.ndim(value) == 0:
        got = as_tuple(getattr(mod, f"hvp_{func}")(*args, *given), len(wrt))
        want = numeric_hvp(getattr(mod, f"grad_{func}"), args, index_of, given)
        for w, h, hw in zip(wrt, got, want):
            assert_close(h, hw, rtol=1e-5, atol=1e-7, what=f"hvp d/d{w}")
    else:  # emitted when the output's shape is unknown, checked when called
        with pytest.raises(ValueError, match="scalar result"):
            getattr(mod, f"hvp_{func}")(*args, *given)


# --------------------------------------------------------------------------
# The lecture's trace
# --------------------------------------------------------------------------

LECTURE_TRACE = [
    "a4 = w1 * x",  # a4 = a2 a3
    "da4 = dw1 * x",  # a4' = a2' a3 + a2 a3', with a3' = 0
    "a5 = a4 + w0",  # a5 = a4 + a1
    "da5 = da4 + dw0",  # a5' = a4' + a1'
    "a6 = np.sin(a5)",  # y1 = a6 = sin(a5)
    "a7 = np.cos(a5)",  # y2 = a7 = cos(a5), shared with a6' = cos(a5) a5'
    "da6 = da5 * a7",
    "da7 = -(da5 * a6)",  # a7' = -sin(a5) a5'
    "value = np.stack([a6, a7], axis=0)",
    "return value, np.stack([da6, da7], axis=0)",
]


def function_body(text: str, name: str) -> list[str]:
    """The statements of a generated function: no docstring, comments or blank lines."""
    block = text[text.index(f"def {name}(") :].split("\n\n\n")[0]
    lines = [line.strip() for line in block.splitlines()[1:]]
    return [line for line in lines if line and not line.startswith(("#", '"""'))]


def test_lecture_trace_is_mirrored():
    path = EXAMPLES_DIR / "lecture_trace.py"
    text = generate(path.read_text(), "examples/lecture_trace.py", wrt=["w0", "w1"], mode="forward")
    assert function_body(text, "jvp_outputs") == LECTURE_TRACE
    comments = re.findall(r"# line \d+: (.*)", text)
    assert comments[:4] == ["a4 = w1 * x", "a5 = a4 + w0", "a6 = np.sin(a5)", "a7 = np.cos(a5)"]


def test_lecture_derivatives_in_one_forward_pass():
    path = EXAMPLES_DIR / "lecture_trace.py"
    mod = load_module(generate(path.read_text(), wrt=["w0", "w1"], mode="forward"))
    w0, w1, x = 0.3, -1.2, 0.7
    # seeds a1' = w0' = 0, a2' = w1' = 1: derivatives of both outputs by w1
    (y1, y2), (dy1, dy2) = mod.jvp_outputs(w0, w1, x, 0.0, 1.0)
    assert (y1, y2) == (np.sin(w1 * x + w0), np.cos(w1 * x + w0))
    assert_close([dy1, dy2], [x * np.cos(w1 * x + w0), -x * np.sin(w1 * x + w0)], 1e-15, 0)
    dw0, dw1 = mod.jacobian_outputs(w0, w1, x)
    assert_close(dw1, [dy1, dy2], 1e-15, 0, what="jacobian column of w1")
    assert_close(dw0, [np.cos(w1 * x + w0), -np.sin(w1 * x + w0)], 1e-15, 0)


# --------------------------------------------------------------------------
# Jacobians: the mode rule, both modes, block shapes
# --------------------------------------------------------------------------

JACOBIAN_SOURCE = '''\
import numpy as np


def widen(x: "3"):
    """R^3 -> R^5."""
    return np.concatenate([np.sin(x), x[:2] * x[1:]])


def narrow(x: "5"):
    """R^5 -> R^2."""
    return np.stack([np.sum(x**2), np.prod(np.tanh(x[:3]))])


def mixed(A: "2,3", b: "2", c):
    """R^(2x3) x R^2 -> R^3, with c held fixed."""
    return np.tanh(A.T @ b) * c
'''

JACOBIAN_CASES = {
    # function: (argument shapes, wrt, mode expected, passes expected)
    "widen": ([(3,)], ["x"], "forward", 3),
    "narrow": ([(5,)], ["x"], "reverse", 2),
    "mixed": ([(2, 3), (2,), (3,)], ["A", "b"], "reverse", 3),
}


def strip(source: str) -> str:
    return re.sub(r': "[^"]*"', "", source)


def counting(monkeypatch, mod, func: str) -> dict:
    """Count the calls jacobian_<func> makes to jvp_<func> and vjp_<func>."""
    calls = {"forward": 0, "reverse": 0}
    for mode, prefix in (("forward", "jvp"), ("reverse", "vjp")):
        original = getattr(mod, f"{prefix}_{func}")

        def counted(*args, _original=original, _mode=mode):
            calls[_mode] += 1
            return _original(*args)

        monkeypatch.setattr(mod, f"{prefix}_{func}", counted)
    return calls


def jacobian_args(func: str):
    shapes, wrt, _, _ = JACOBIAN_CASES[func]
    rng = np.random.default_rng(seed("jacobian", func))
    return [rng.uniform(0.3, 1.2, size=s) for s in shapes], wrt


@pytest.mark.parametrize("annotated", [True, False], ids=["annotated", "generic"])
@pytest.mark.parametrize("forced", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("func", list(JACOBIAN_CASES))
def test_jacobian(monkeypatch, func, forced, annotated):
    source = JACOBIAN_SOURCE if annotated else strip(JACOBIAN_SOURCE)
    args, wrt = jacobian_args(func)
    _, _, auto_mode, auto_passes = JACOBIAN_CASES[func]
    mod = load_module(generate(source, funcs=[func], wrt=wrt, mode="all", jacobian=forced))
    calls = counting(monkeypatch, mod, func)
    blocks = as_tuple(getattr(mod, f"jacobian_{func}")(*args), len(wrt))

    mode = auto_mode if forced == "auto" else forced
    out_size = np.size(getattr(mod, func)(*args))
    in_size = sum(np.size(args[i]) for i in range(len(wrt)))  # wrt are the first parameters
    passes = auto_passes if forced == "auto" else {"forward": in_size, "reverse": out_size}[mode]
    other = "reverse" if mode == "forward" else "forward"
    assert calls == {mode: passes, other: 0}, f"{func}: expected {passes} {mode} passes"

    f = getattr(original_jacobian_module(), func)
    for i, (name, block) in enumerate(zip(wrt, blocks)):
        expected = numeric_jacobian(f, args, i)
        assert np.shape(block) == (out_size,) + np.shape(args[i]), f"d{func}/d{name} shape"
        assert_close(block, expected, rtol=1e-6, atol=1e-8, what=f"d{func}/d{name}")


def original_jacobian_module():
    return load_module(JACOBIAN_SOURCE)


def test_jacobian_mode_rule():
    mod = load_module(generate(JACOBIAN_SOURCE, funcs=["widen"], mode="all"))
    assert mod._jacobian_mode((5,), [(3,)]) == "forward"
    assert mod._jacobian_mode((3,), [(3,)]) == "forward"  # a tie goes to forward mode
    assert mod._jacobian_mode((2,), [(3,)]) == "reverse"
    assert mod._jacobian_mode((), [(2, 2), ()]) == "reverse"
    assert mod._jacobian_mode((4, 2), [(2, 2), (2,)]) == "forward"


def test_forced_jacobian_emits_one_mode():
    forward = generate(JACOBIAN_SOURCE, funcs=["narrow"], mode="all", jacobian="forward")
    reverse = generate(JACOBIAN_SOURCE, funcs=["narrow"], mode="all", jacobian="reverse")
    only_forward = generate(JACOBIAN_SOURCE, funcs=["narrow"], mode="forward")
    body = function_body
    assert not any("_jacobian_mode" in line for line in body(forward, "jacobian_narrow"))
    assert any("_jacobian_forward(" in line for line in body(forward, "jacobian_narrow"))
    assert any("_jacobian_reverse(" in line for line in body(reverse, "jacobian_narrow"))
    assert body(only_forward, "jacobian_narrow") == body(forward, "jacobian_narrow")
    assert "def vjp_narrow" not in only_forward and "def grad_narrow" not in only_forward


# --------------------------------------------------------------------------
# Hessians: the MLP and Rosenbrock's function
# --------------------------------------------------------------------------

ROSENBROCK_SOURCE = '''\
import numpy as np


def rosenbrock(x: "N"):
    """Rosenbrock's banana function in N dimensions."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
'''


def rosenbrock_hessian(x):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
        h[i + 1, i + 1] += 200
    return h


def second_order_case(name: str, variant: str):
    """(module, function name, args, wrt indices)."""
    if name == "rosenbrock":
        source = ROSENBROCK_SOURCE if variant == "annotated" else strip(ROSENBROCK_SOURCE)
        mod = load_module(generate(source, funcs=["rosenbrock"], mode="all"))
        x = np.random.default_rng(seed(name, variant)).uniform(-1.5, 1.5, size=5)
        return mod, "rosenbrock", [x], [0]
    mod = load_module(
        generate(example_source("mlp", variant), "mlp.py", ["cost"], ["W", "V"], mode="all")
    )
    return mod, "cost", make_args("mlp", 1), [2, 3]


SECOND_ORDER = pytest.mark.parametrize(
    "name, variant",
    [(n, v) for n in ("mlp", "rosenbrock") for v in ("annotated", "unannotated")],
)


@SECOND_ORDER
def test_hvp_against_differences_of_the_gradient(name, variant):
    mod, func, args, index_of = second_order_case(name, variant)
    rng = np.random.default_rng(seed("hvp", name, variant))
    for _ in range(3):
        directions = [random_like(rng, args[i]) for i in index_of]
        got = as_tuple(getattr(mod, f"hvp_{func}")(*args, *directions), len(index_of))
        want = numeric_hvp(getattr(mod, f"grad_{func}"), args, index_of, directions)
        for h, hw in zip(got, want):
            assert np.any(hw != 0), "vacuous check"
            assert_close(h, hw, rtol=1e-6, atol=1e-7, what=f"hvp_{func}")


@SECOND_ORDER
def test_hessian_symmetric_and_agrees_with_hvp(name, variant):
    mod, func, args, index_of = second_order_case(name, variant)
    n = len(index_of)
    hessian = getattr(mod, f"hessian_{func}")(*args)
    blocks = [[hessian]] if n == 1 else hessian
    sizes = [np.size(args[i]) for i in index_of]
    for i in range(n):
        for j in range(n):
            shape = np.shape(args[index_of[i]]) + np.shape(args[index_of[j]])
            assert np.shape(blocks[i][j]) == shape, f"block {i},{j}"
    dense = np.block(
        [[blocks[i][j].reshape(sizes[i], sizes[j]) for j in range(n)] for i in range(n)]
    )
    assert_close(dense, dense.T, rtol=1e-10, atol=1e-12, what="Hessian symmetry")

    rng = np.random.default_rng(seed("hessian", name, variant))
    directions = [random_like(rng, args[i]) for i in index_of]
    hv = as_tuple(getattr(mod, f"hvp_{func}")(*args, *directions), n)
    flat = dense @ np.concatenate([np.ravel(v) for v in directions])
    assert_close(np.concatenate([np.ravel(h) for h in hv]), flat, rtol=1e-10, atol=1e-12)
    if name == "rosenbrock":
        assert_close(hessian, rosenbrock_hessian(args[0]), rtol=1e-12, atol=1e-10)


# --------------------------------------------------------------------------
# The command line, ruff, and a generated module as input
# --------------------------------------------------------------------------


def gen(tmp_path, *argv) -> tuple[int, str]:
    out = tmp_path / "out.py"
    status = cli(["gen", *argv, "-o", str(out), "--force"])
    return status, out.read_text() if status == 0 else ""


def test_cli_default_mode_is_reverse(tmp_path):
    mlp = str(EXAMPLES_DIR / "mlp.py")
    status, default = gen(tmp_path, mlp, "--func", "cost", "--wrt", "W,V")
    assert status == 0
    assert gen(tmp_path, mlp, "--func", "cost", "--wrt", "W,V", "--mode", "reverse") == (0, default)
    assert "def jvp_" not in default and "def jacobian_" not in default


def test_cli_modes(tmp_path):
    mlp = str(EXAMPLES_DIR / "mlp.py")
    defined = {}
    for mode in ("forward", "all"):
        status, text = gen(tmp_path, mlp, "--func", "cost", "--wrt", "W,V", "--mode", mode)
        assert status == 0
        defined[mode] = set(re.findall(r"^def (\w+)\(", text, flags=re.M))
    api = {"cost", "jvp_cost", "jacobian_cost"}
    assert api <= defined["forward"] and not defined["forward"] & {"grad_cost", "hvp_cost"}
    second = {"grad_cost", "value_and_grad_cost", "vjp_cost", "hvp_cost", "hessian_cost"}
    assert api | second <= defined["all"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--jacobian", "forward"], "mode reverse emits no jacobian_f"),
        (["--mode", "forward", "--jacobian", "reverse"], "calls vjp_f"),
    ],
)
def test_cli_rejects_inconsistent_flags(tmp_path, capsys, argv, words):
    assert cli(["gen", str(EXAMPLES_DIR / "mlp.py"), "-o", "-", *argv]) == 2
    assert words in capsys.readouterr().err


def test_generate_rejects_unknown_modes():
    with pytest.raises(ValueError, match="mode must be one of"):
        generate(ROSENBROCK_SOURCE, mode="sideways")
    with pytest.raises(ValueError, match="jacobian must be one of"):
        generate(ROSENBROCK_SOURCE, mode="all", jacobian="both")


CONTROL_FLOW_SOURCE = """\
import numpy as np


def f(x: "3", w: "3"):
    h = x
    total = 0.0
    for i in range(3):
        h = np.tanh(w * h + x[i])
        total = total + np.sum(h * h)
        for j in range(2):
            h = h * 0.5 + w
    if np.sum(w) > 0:
        total = total * np.sum(w)
        scale = np.sum(h)
    else:
        total = total - np.sum(w * w)
        scale = 1.5
    return total * scale + np.sum(h)
"""


@pytest.mark.parametrize("annotated", [True, False], ids=["annotated", "generic"])
@pytest.mark.parametrize("branch", [1.0, -1.0], ids=["then", "else"])
def test_jvp_through_loops_and_branches(annotated, branch):
    """Loops carry tangents (the total's starts as zero); branches return them (zeros where
    a side leaves a value constant: scale = 1.5)."""
    source = CONTROL_FLOW_SOURCE if annotated else strip(CONTROL_FLOW_SOURCE)
    forward = load_module(generate(source, mode="forward"))
    backward = load_module(generate(source, mode="reverse"))
    ref = load_module(source)
    rng = np.random.default_rng(seed("control flow", annotated, branch))
    x, w = rng.normal(size=3), branch * rng.uniform(0.2, 1.0, size=3)
    tangents = [rng.normal(size=3), rng.normal(size=3)]

    value, tangent = forward.jvp_f(x, w, *tangents)
    assert value == ref.f(x, w)
    assert_close(tangent, numeric_jvp(ref.f, [x, w], tangents), rtol=1e-6, atol=1e-8)
    cotangents = backward.vjp_f(x, w, 1.0)
    assert_close(inner_product(cotangents, tangents), tangent, IDENTITY_RTOL, IDENTITY_ATOL)


@pytest.mark.parametrize("annotated", [True, False], ids=["annotated", "generic"])
@pytest.mark.parametrize("case", sorted(CONTROL_FLOW_PROGRAMS))
def test_jvp_of_the_control_flow_programs(case, annotated):
    """The programs of tests/test_control_flow.py: jvp against differences and vjp."""
    body, shapes = CONTROL_FLOW_PROGRAMS[case]
    source = "import numpy as np\n" + (body if annotated else strip(body))
    name = re.search(r"def (\w+)\(", body).group(1)
    wrt_index = float_params(shapes)
    wrt = [list(shapes)[k] for k in wrt_index]
    forward = load_module(generate(source, f"{case}.py", wrt=wrt, mode="forward"))
    backward = load_module(generate(source, f"{case}.py", wrt=wrt, mode="reverse"))
    primal = getattr(backward, name)
    rng = np.random.default_rng(seed("control flow program", case, annotated))
    args = random_args(shapes, rng)
    defaults = inspect.signature(primal).parameters.values()
    args += [p.default for p in list(defaults)[len(args) :]]  # jvp_ keeps no defaults
    tangents = [None] * len(args)
    for k in wrt_index:
        tangents[k] = rng.normal(size=np.shape(args[k]))
    given = [tangents[k] for k in wrt_index]

    value, tangent = getattr(forward, f"jvp_{name}")(*args, *given)
    assert_close(value, primal(*args), rtol=1e-13, atol=1e-14, what="jvp value")
    expected = numeric_jvp(primal, args, tangents)
    assert_close(tangent, expected, rtol=1e-5, atol=1e-7, what="jvp against differences")
    g = random_like(rng, value)
    cotangents = as_tuple(getattr(backward, f"vjp_{name}")(*args, g), len(wrt))
    np.testing.assert_allclose(
        inner_product(cotangents, given), inner_product([g], [tangent]), rtol=IDENTITY_RTOL
    )


# --------------------------------------------------------------------------
# Second order through loops and branches: tapes and accumulators, pushed forward
# --------------------------------------------------------------------------

SLICES_SOURCE = """\
import numpy as np


def slices(X: "T,D", w: "D"):
    s = 0.0
    for t in range(X.shape[0]):
        for j in range(X.shape[1] - 1):
            s = s + np.sin(X[t, j] * w[j + 1]) * X[t, j + 1]
        s = s + np.sum(np.tanh(X[t, 1:] * w[:-1]) ** 2)
    return s
"""

LOOP_IN_BRANCH_SOURCE = """\
import numpy as np


def looped(x: "N", w: "N"):
    s = 0.0
    h = x
    for i in range(3):
        if i != 1:
            for j in range(2):
                h = np.sin(h * w) + 0.5 * h
        else:
            h = np.cos(h) * w
        s = s + np.sum(h * h)
    return s
"""

# Two loops read one intermediate M: each adjoint loop has its own accumulator of dM,
# and hvp_ reads them (vdW = vdM * tanh' + dM * ...): shared zeros would add them twice.
TWO_LOOPS_SOURCE = """\
import numpy as np


def two_loops(x: "N", W: "N,N"):
    M = np.tanh(W)
    h = x
    for i in range(2):
        h = np.tanh(M @ h)
    for j in range(2):
        h = np.sin(M @ h)
    return np.sum(h * h)
"""


def _program(case: str):
    body, shapes = CONTROL_FLOW_PROGRAMS[case]
    return "import numpy as np\n" + body, shapes


LOOP_CASES = {
    # case: (source, argument shapes; None: the example's own arguments)
    "rnn": (None, None),  # with X among the wrt: dX[t] += ... in the adjoint loop
    "horner": _program("horner"),
    "data_dependent_if": _program("data_dependent_if_in_loop"),
    "nested_loops": _program("nested_loops"),
    "slices": (SLICES_SOURCE, {"X": (3, 4), "w": (4,)}),  # dX[t, j] += and dX[t, 1:] +=
    "loop_in_branch_in_loop": (LOOP_IN_BRANCH_SOURCE, {"x": (3,), "w": (3,)}),
    "two_loops_one_intermediate": (TWO_LOOPS_SOURCE, {"x": (3,), "W": (3, 3)}),
}
LOOP_PARAMS = pytest.mark.parametrize(
    "case, variant",
    [(c, v) for c in LOOP_CASES for v in ("annotated", "unannotated")],
)


def loop_case(case: str, variant: str):
    """(module with mode all, function name, args, indices of the wrt parameters)."""
    source, shapes = LOOP_CASES[case]
    if source is None:
        source, args = example_source("rnn", variant), make_args("rnn", 2)
        wrt = ["X", "h0", "W", "U"]
        params = list(inspect.signature(original_module("rnn").cost).parameters)
        mod = load_module(generate(source, "rnn.py", ["cost"], wrt, mode="all"))
        return mod, "cost", args, [params.index(w) for w in wrt]
    if variant == "unannotated":
        source = strip(source)
    name = re.search(r"def (\w+)\(", source).group(1)
    index_of = float_params(shapes)
    wrt = [list(shapes)[k] for k in index_of]
    mod = load_module(generate(source, f"{case}.py", wrt=wrt, mode="all"))
    args = random_args(shapes, np.random.default_rng(seed("loop args", case)))
    return mod, name, args, index_of


@LOOP_PARAMS
def test_hvp_through_loops_and_branches(case, variant):
    mod, func, args, index_of = loop_case(case, variant)
    rng = np.random.default_rng(seed("loop hvp", case, variant))
    for _ in range(2):
        directions = [random_like(rng, args[i]) for i in index_of]
        got = as_tuple(getattr(mod, f"hvp_{func}")(*args, *directions), len(index_of))
        want = numeric_hvp(getattr(mod, f"grad_{func}"), args, index_of, directions)
        assert any(np.any(hw != 0) for hw in want), "vacuous check"
        for i, h, hw in zip(index_of, got, want):
            assert np.shape(h) == np.shape(args[i]), f"hvp_{func}: shape of block {i}"
            assert_close(h, hw, rtol=1e-5, atol=1e-7, what=f"hvp_{func} block {i}")


@LOOP_PARAMS
def test_hessian_through_loops_and_branches(case, variant):
    """hessian_f: the Jacobian of grad_f by differences, symmetric, and H v == hvp_f."""
    mod, func, args, index_of = loop_case(case, variant)
    n = len(index_of)
    hessian = getattr(mod, f"hessian_{func}")(*args)
    blocks = [[hessian]] if n == 1 else hessian
    sizes = [np.size(args[i]) for i in index_of]
    dense = np.block(
        [[np.reshape(blocks[i][j], (sizes[i], sizes[j])) for j in range(n)] for i in range(n)]
    )
    assert_close(dense, dense.T, rtol=1e-10, atol=1e-12, what="Hessian symmetry")
    grad = getattr(mod, f"grad_{func}")
    for j, col in enumerate(index_of):
        for i in range(n):
            want = numeric_jacobian(lambda *a, i=i: as_tuple(grad(*a), n)[i], args, col, HVP_EPS)
            got = np.reshape(blocks[i][j], np.shape(want))
            assert_close(got, want, rtol=1e-5, atol=1e-7, what=f"Hessian block {i},{j}")
    rng = np.random.default_rng(seed("loop hessian", case, variant))
    directions = [random_like(rng, args[i]) for i in index_of]
    hv = as_tuple(getattr(mod, f"hvp_{func}")(*args, *directions), n)
    flat = dense @ np.concatenate([np.ravel(v) for v in directions])
    assert_close(np.concatenate([np.ravel(h) for h in hv]), flat, rtol=1e-10, atol=1e-12)


def read_only(value):
    """A copy NumPy refuses to write to: an in-place update of it raises ValueError."""
    if not isinstance(value, np.ndarray):
        return value
    frozen = value.copy()
    frozen.flags.writeable = False
    return frozen


@pytest.mark.parametrize("case", list(LOOP_CASES))
def test_second_order_leaves_its_arguments_alone(case):
    """Accumulators (and their tangents) are the generated code's own arrays: arguments
    and directions are never updated in place, and no state survives a call."""
    mod, func, args, index_of = loop_case(case, "annotated")
    rng = np.random.default_rng(seed("read only", case))
    directions = [random_like(rng, args[i]) for i in index_of]
    frozen = [read_only(a) for a in args]
    frozen_directions = [read_only(np.asarray(v)) for v in directions]
    first = as_tuple(getattr(mod, f"hvp_{func}")(*frozen, *frozen_directions), len(index_of))
    again = as_tuple(getattr(mod, f"hvp_{func}")(*frozen, *frozen_directions), len(index_of))
    for h, h2 in zip(first, again):
        assert np.array_equal(h, h2), "a second call gives the same result"
    getattr(mod, f"hessian_{func}")(*frozen)
    getattr(mod, f"grad_{func}")(*frozen)
    for a, before in zip(frozen, args):
        assert np.array_equal(a, before)


def test_tangent_tapes_only_for_values_that_vary():
    """`a` does not depend on w: its tape gets no tangent tape; tanh(a * w)'s does."""
    source = """\
import numpy as np


def f(x: "N", w: "N"):
    s = 0.0
    for k in range(5):
        a = np.sin(x * k)
        s = s + np.sum(np.tanh(a * w))
    return s
"""
    mod = load_module(generate(source, "f.py", wrt=["w"], mode="all"))
    x, w, v = np.arange(3.0), np.linspace(-1.0, 1.0, 3), np.ones(3)
    grad_pushes = count_pushes(mod.grad_f, x, w).pushes
    hvp_pushes = count_pushes(mod.hvp_f, x, w, v).pushes
    assert grad_pushes == 10  # a and tanh(a * w), each step
    assert hvp_pushes == grad_pushes + 5  # and the tangent of tanh(a * w) alone
    want = numeric_hvp(mod.grad_f, [x, w], [1], [v])[0]
    assert_close(mod.hvp_f(x, w, v), want, rtol=1e-6, atol=1e-8)


def test_hvp_of_the_rnn_reads_like_its_adjoint():
    """Each tape has its tangent tape beside it, popped in the same order; the tangent
    accumulators are fresh zeros updated in place, as dW and dX[t] are."""
    text = generate((EXAMPLES_DIR / "rnn.py").read_text(), "rnn.py", ["cost"], mode="all")
    hvp = function_body(text, "hvp_cost")
    for line in (
        "saved_h.append(h_1)",
        "saved_vh.append(vh)",
        "h = saved_h.pop()",
        "vh = saved_vh.pop()",
        "vdW = np.zeros_like(W)",
        "vdX = np.zeros_like(X)",
    ):
        assert line in hvp, line
    assert any(line.startswith("vdW += ") for line in hvp)
    assert any(line.startswith("vdX[t] += ") for line in hvp)
    assert hvp.index("h = saved_h.pop()") < hvp.index("vh = saved_vh.pop()")


def test_hvp_of_every_control_flow_program():
    """The programs of tests/test_control_flow.py, once each: hvp_ against differences."""
    for case, (body, shapes) in sorted(CONTROL_FLOW_PROGRAMS.items()):
        source = "import numpy as np\n" + body
        name = re.search(r"def (\w+)\(", body).group(1)
        index_of = float_params(shapes)
        wrt = [list(shapes)[k] for k in index_of]
        mod = load_module(generate(source, f"{case}.py", wrt=wrt, mode="all"))
        rng = np.random.default_rng(seed("every program hvp", case))
        args = random_args(shapes, rng)
        defaults = inspect.signature(getattr(mod, name)).parameters.values()
        args += [p.default for p in list(defaults)[len(args) :]]  # hvp_ keeps no defaults
        directions = [random_like(rng, args[i]) for i in index_of]
        got = as_tuple(getattr(mod, f"hvp_{name}")(*args, *directions), len(wrt))
        want = numeric_hvp(getattr(mod, f"grad_{name}"), args, index_of, directions)
        for w, h, hw in zip(wrt, got, want):
            assert_close(h, hw, rtol=1e-5, atol=1e-7, what=f"{case}: hvp d/d{w}")


def test_cli_mode_all_with_a_loop(tmp_path):
    status, text = gen(tmp_path, str(EXAMPLES_DIR / "rnn.py"), "--mode", "all")
    assert status == 0
    assert {"hvp_cost", "hessian_cost"} <= set(re.findall(r"^def (\w+)\(", text, flags=re.M))


def ruff_or_skip() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (it is part of the test extras)")
    return [exe]


@pytest.mark.parametrize(
    "name, func, mode",
    [
        ("mlp", "cost", "all"),
        ("batchnorm", "cost", "all"),
        ("linear_regression", "cost", "all"),
        ("rnn", "cost", "all"),
        ("lecture_trace", "outputs", "forward"),
    ],
)
def test_generated_module_passes_ruff(tmp_path, name, func, mode):
    ruff = ruff_or_skip()
    out = tmp_path / f"{name}_grad.py"
    source = (EXAMPLES_DIR / f"{name}.py").read_text()
    out.write_text(generate(source, f"examples/{name}.py", [func], mode=mode))
    for args in (["check", "--isolated"], ["format", "--isolated", "--check", "--diff"]):
        proc = subprocess.run([*ruff, *args, str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gen_on_a_generated_module(tmp_path):
    """grad_cost of linear regression is straight-line NumPy inside the subset: `symgrad gen`
    differentiates it again, and its vjp and Jacobian are the Hessian of the cost, which
    hvp_cost and hessian_cost give too."""
    first, second = tmp_path / "linear_regression_grad.py", tmp_path / "grad_grad.py"
    source = EXAMPLES_DIR / "linear_regression.py"
    common = ["--wrt", "w", "--mode", "all", "--force"]
    assert cli(["gen", str(source), "--func", "cost", *common, "-o", str(first)]) == 0
    assert cli(["gen", str(first), "--func", "grad_cost", *common, "-o", str(second)]) == 0
    mod, again = load_module(first.read_text()), load_module(second.read_text())
    X, y, w, b, lam = make_args("linear_regression", 0)
    assert_close(again.grad_cost(X, y, w, b, lam), mod.grad_cost(X, y, w, b, lam), 0, 0)
    v = np.random.default_rng(0).normal(size=w.shape)
    hv = mod.hvp_cost(X, y, w, b, lam, v)
    assert_close(again.vjp_grad_cost(X, y, w, b, lam, v), hv, 1e-12, 1e-14)
    assert_close(again.jvp_grad_cost(X, y, w, b, lam, v)[1], hv, 1e-12, 1e-14)
    hessian = mod.hessian_cost(X, y, w, b, lam)
    assert_close(again.jacobian_grad_cost(X, y, w, b, lam), hessian, 1e-12, 1e-14)
    assert_close(hessian, X.T @ X / len(y) + lam * np.eye(len(w)), 1e-12, 1e-14)
