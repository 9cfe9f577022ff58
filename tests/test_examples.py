"""End-to-end checks of symgrad on the cost functions in examples/.

Every example is differentiated from its source text (annotated as written, and
with the shape annotations stripped, which exercises the shape-generic code
path), the generated module is loaded, and its gradients are compared with
central finite differences of the example's own primal at random points.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close, load_module, numeric_grad, numeric_vjp

from symgrad import generate

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"

# Distinct sizes, so that a transposed or mis-broadcast gradient cannot hide.
N, D, M, C, H = 6, 3, 4, 5, 7
SEEDS = (0, 1, 2)

FD_RTOL = 1e-5  # generated gradient vs. central finite differences
FD_ATOL = 1e-8
SAME_RTOL = 1e-12  # two generated paths that should compute the same numbers
SAME_ATOL = 1e-14


def _one_hot(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    return np.eye(c)[rng.integers(0, c, size=n)]


def _args_linear_regression(rng):
    return {
        "X": rng.normal(size=(N, D)),
        "y": rng.normal(size=N),
        "w": rng.normal(size=D),
        "b": float(rng.normal()),
        "lam": 0.3,
    }


def _args_logistic_regression(rng):
    return {
        "X": rng.normal(size=(N, D)),
        "y": rng.integers(0, 2, size=N).astype(float),
        "w": rng.normal(size=D),
        "b": float(rng.normal()),
        "lam": 0.05,
    }


def _args_softmax_regression(rng):
    return {
        "X": rng.normal(size=(N, D)),
        "Y": _one_hot(rng, N, C),
        "W": rng.normal(size=(D, C)),
        "b": rng.normal(size=C),
    }


def _args_mlp(rng):
    return {
        "X": rng.normal(size=(N, D)),
        "Y": _one_hot(rng, N, C),
        "W": rng.normal(size=(M, C)),
        "V": rng.normal(size=(D, M)),
    }


def _args_batchnorm(rng):
    return {
        "X": 2.0 * rng.normal(size=(N, D)) + 1.0,
        "gamma": rng.uniform(0.5, 1.5, size=D),
        "beta": rng.normal(size=D),
        "T": rng.normal(size=(N, D)),
        "eps": 1e-3,
    }


def _args_residual_block(rng):
    return {
        "X": rng.normal(size=(D, N)),
        "W1": rng.normal(size=(H, D)),
        "b1": rng.uniform(0.0, 1.0, size=H),  # most units active
        "W2": rng.normal(size=(D, H)),
        "T": rng.normal(size=(D, N)),
    }


def _args_rnn(rng):
    T = 5
    return {
        "X": rng.normal(size=(T, D)),
        "Y": rng.normal(size=(T, H)),
        "h0": rng.normal(size=H),
        "W": 0.5 * rng.normal(size=(H, H)),
        "U": 0.5 * rng.normal(size=(H, D)),
    }


@dataclass(frozen=True)
class Example:
    name: str
    make_args: Callable[[np.random.Generator], dict]
    model_wrt: tuple[str, ...]  # the parameters one would train
    single_wrt: str  # one parameter alone: the gradient is a bare array
    func: str = "cost"

    @property
    def path(self) -> Path:
        return EXAMPLES_DIR / f"{self.name}.py"


EXAMPLES = {
    ex.name: ex
    for ex in [
        Example("linear_regression", _args_linear_regression, ("w", "b"), "b"),
        Example("logistic_regression", _args_logistic_regression, ("w", "b"), "w"),
        Example("softmax_regression", _args_softmax_regression, ("W", "b"), "b"),
        Example("mlp", _args_mlp, ("W", "V"), "V"),
        Example("rnn", _args_rnn, ("h0", "W", "U"), "W"),
        Example("iris_mlp", _args_mlp, ("W", "V"), "W"),
        Example("batchnorm", _args_batchnorm, ("X", "gamma", "beta"), "X"),
        Example("residual_block", _args_residual_block, ("W1", "b1", "W2"), "X"),
    ]
}

VARIANTS = ("annotated", "unannotated")


# ---------------------------------------------------------------- source handling


def strip_annotations(source: str) -> str:
    """The same program without parameter and return annotations."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    arg.annotation = None
            node.returns = None
    return ast.unparse(tree) + "\n"


@functools.cache
def example_source(name: str, variant: str) -> str:
    text = EXAMPLES[name].path.read_text()
    return text if variant == "annotated" else strip_annotations(text)


@functools.cache
def original_module(name: str):
    """The example itself, run as plain NumPy: the reference primal."""
    return load_module(example_source(name, "annotated"))


def param_names(name: str) -> list[str]:
    ex = EXAMPLES[name]
    tree = ast.parse(example_source(name, "annotated"))
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ex.func]
    return [a.arg for a in fn.args.args]


@functools.cache
def generated_source(name: str, variant: str, wrt: tuple[str, ...] | None) -> str:
    ex = EXAMPLES[name]
    return generate(
        example_source(name, variant),
        str(ex.path),
        funcs=[ex.func],
        wrt=None if wrt is None else list(wrt),
    )


@functools.cache
def generated_module(name: str, variant: str, wrt: tuple[str, ...] | None):
    return load_module(generated_source(name, variant, wrt))


def make_args(name: str, seed: int) -> list:
    values = EXAMPLES[name].make_args(np.random.default_rng(seed))
    assert list(values) == param_names(name), "test data out of sync with example"
    return list(values.values())


def as_tuple(grads, wrt: list[str]) -> tuple:
    """Check the contract's packing (bare array for one parameter, else a tuple)."""
    if len(wrt) == 1:
        assert not isinstance(grads, (tuple, list)), f"expected a bare array, got {grads!r}"
        return (grads,)
    assert isinstance(grads, tuple), f"expected a tuple, got {type(grads)}"
    assert len(grads) == len(wrt), f"{len(grads)} gradients for wrt={wrt}"
    return grads


# ---------------------------------------------------------------- parametrization


def _wrt_choices(ex: Example):
    yield "model", ex.model_wrt
    yield "single", (ex.single_wrt,)
    yield "all", None


CASES = [
    pytest.param(name, variant, wrt, id=f"{name}-{variant}-wrt_{label}")
    for name, ex in EXAMPLES.items()
    for variant in VARIANTS
    for label, wrt in _wrt_choices(ex)
]

SEEDED_CASES = [
    pytest.param(*case.values, seed, id=f"{case.id}-seed{seed}") for case in CASES for seed in SEEDS
]


def resolve_wrt(name: str, wrt: tuple[str, ...] | None) -> list[str]:
    return param_names(name) if wrt is None else list(wrt)


# ---------------------------------------------------------------- tests


def test_every_example_is_covered():
    # examples/train_*.py and run_*.py are runnable scripts that use a generated module,
    # not cost files
    on_disk = {
        p.stem
        for p in EXAMPLES_DIR.glob("*.py")
        if p.stem != "__init__" and not p.stem.startswith(("train_", "run_"))
    }
    # vector-valued examples (not costs) are covered by tests/test_forward.py
    assert on_disk - {"lecture_trace"} == set(EXAMPLES)


@pytest.mark.parametrize("name, variant, wrt, seed", SEEDED_CASES)
def test_grad_matches_finite_differences(name, variant, wrt, seed):
    ex = EXAMPLES[name]
    mod = generated_module(name, variant, wrt)
    primal = getattr(original_module(name), ex.func)
    args = make_args(name, seed)
    names = param_names(name)
    wrt_list = resolve_wrt(name, wrt)

    grads = as_tuple(getattr(mod, f"grad_{ex.func}")(*args), wrt_list)
    for param, grad in zip(wrt_list, grads, strict=True):
        index = names.index(param)
        expected = numeric_grad(primal, args, index)
        assert np.any(expected != 0), f"vacuous check: d{ex.func}/d{param} is zero"
        assert_close(grad, expected, FD_RTOL, FD_ATOL, f"d{ex.func}/d{param}")


@pytest.mark.parametrize("name, variant, wrt", CASES)
def test_grad_shapes(name, variant, wrt):
    ex = EXAMPLES[name]
    mod = generated_module(name, variant, wrt)
    args = make_args(name, 0)
    names = param_names(name)
    wrt_list = resolve_wrt(name, wrt)
    grads = as_tuple(getattr(mod, f"grad_{ex.func}")(*args), wrt_list)
    for param, grad in zip(wrt_list, grads, strict=True):
        expected_shape = np.shape(args[names.index(param)])
        assert np.shape(grad) == expected_shape, f"d{ex.func}/d{param}"
        assert np.all(np.isfinite(grad)), f"d{ex.func}/d{param}"


@pytest.mark.parametrize("name, variant, wrt", CASES)
def test_primal_matches_example(name, variant, wrt):
    ex = EXAMPLES[name]
    mod = generated_module(name, variant, wrt)
    args = make_args(name, 1)
    expected = getattr(original_module(name), ex.func)(*args)
    actual = getattr(mod, ex.func)(*args)
    assert np.shape(actual) == ()
    np.testing.assert_allclose(actual, expected, rtol=1e-13)


@pytest.mark.parametrize("name, variant, wrt", CASES)
def test_value_and_grad_agrees(name, variant, wrt):
    ex = EXAMPLES[name]
    mod = generated_module(name, variant, wrt)
    args = make_args(name, 2)
    wrt_list = resolve_wrt(name, wrt)

    result = getattr(mod, f"value_and_grad_{ex.func}")(*args)
    assert isinstance(result, tuple) and len(result) == 2
    value, grads = result
    np.testing.assert_allclose(value, getattr(mod, ex.func)(*args), rtol=1e-13)
    grads = as_tuple(grads, wrt_list)
    reference = as_tuple(getattr(mod, f"grad_{ex.func}")(*args), wrt_list)
    for param, got, want in zip(wrt_list, grads, reference, strict=True):
        assert_close(got, want, SAME_RTOL, SAME_ATOL, f"value_and_grad d/d{param}")


@pytest.mark.parametrize("name, variant, wrt", CASES)
def test_vjp_scales_grad(name, variant, wrt):
    ex = EXAMPLES[name]
    mod = generated_module(name, variant, wrt)
    rng = np.random.default_rng(3)
    args = make_args(name, 3)
    wrt_list = resolve_wrt(name, wrt)
    g = float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))

    got = as_tuple(getattr(mod, f"vjp_{ex.func}")(*args, g), wrt_list)
    grads = as_tuple(getattr(mod, f"grad_{ex.func}")(*args), wrt_list)
    for param, vjp, grad in zip(wrt_list, got, grads, strict=True):
        assert_close(vjp, g * np.asarray(grad), SAME_RTOL, SAME_ATOL, f"vjp d/d{param}")


@pytest.mark.parametrize("name, variant, wrt", CASES)
def test_arguments_not_modified(name, variant, wrt):
    ex = EXAMPLES[name]
    mod = generated_module(name, variant, wrt)
    args = make_args(name, 4)
    copies = [np.copy(a) for a in args]
    calls = {
        ex.func: args,
        f"grad_{ex.func}": args,
        f"value_and_grad_{ex.func}": args,
        f"vjp_{ex.func}": [*args, 0.7],
    }
    for fname, call_args in calls.items():
        getattr(mod, fname)(*call_args)
        for pname, arg, copy in zip(param_names(name), args, copies, strict=True):
            assert np.array_equal(arg, copy), f"{fname} modified its argument {pname}"


@pytest.mark.parametrize("name, variant, wrt", CASES)
def test_generated_imports_only_numpy_and_stdlib(name, variant, wrt):
    tree = ast.parse(generated_source(name, variant, wrt))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in generated module"
            imported.add(node.module.split(".")[0])
    assert "numpy" in imported
    foreign = {m for m in imported if m != "numpy" and m not in sys.stdlib_module_names}
    assert not foreign, f"generated module imports {sorted(foreign)}"


# ------------------------------------------------ helper functions (non-scalar vjp)

HELPERS = [
    pytest.param("softmax_regression", "logsumexp", {"Z": (N, C)}, id="softmax-lse"),
    pytest.param("mlp", "logsumexp", {"Z": (N, C)}, id="mlp-logsumexp"),
    pytest.param("mlp", "logistic", {"z": (N, M)}, id="mlp-logistic"),
    pytest.param("residual_block", "relu", {"z": (H, N)}, id="residual-relu"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name, func, shapes", HELPERS)
def test_helper_vjp_matches_finite_differences(name, func, shapes, variant):
    source = generate(example_source(name, variant), str(EXAMPLES[name].path), [func])
    mod = load_module(source)
    primal = getattr(original_module(name), func)
    rng = np.random.default_rng(5)
    args = [rng.normal(size=shape) for shape in shapes.values()]
    g = rng.normal(size=np.shape(primal(*args)))
    got = getattr(mod, f"vjp_{func}")(*args, g)
    expected = numeric_vjp(primal, args, 0, g)
    assert_close(got, expected, FD_RTOL, FD_ATOL, f"vjp_{func}")


# ------------------------------------------------ MLP vs. the lecture's gradient


def lecture_logistic(z):
    return 1 / (1 + np.exp(-z))


def lecture_softmax(U):
    E = np.exp(U - np.max(U, axis=1, keepdims=True))
    return E / np.sum(E, axis=1, keepdims=True)


def lecture_gradients(X, Y, W, V):
    """Hand-written gradient of the MLP cost, as derived in the lecture."""
    Z = lecture_logistic(np.dot(X, V))  # N x M
    N, D = X.shape
    Yh = lecture_softmax(np.dot(Z, W))  # N x K
    dY = Yh - Y
    dW = np.dot(Z.T, dY) / N
    dZ = np.dot(dY, W.T)
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N
    return dW, dV


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("variant", VARIANTS)
def test_mlp_matches_lecture_gradient(variant, seed):
    mod = generated_module("mlp", variant, ("W", "V"))
    X, Y, W, V = make_args("mlp", seed)
    dW, dV = mod.grad_cost(X, Y, W, V)
    for label, got, want in zip(("dW", "dV"), (dW, dV), lecture_gradients(X, Y, W, V), strict=True):
        assert np.shape(got) == np.shape(want), label
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert error <= 1e-10, f"{label}: relative error {error:.3g}"
        assert_close(got, want, 1e-10, 1e-12 * np.max(np.abs(want)), label)


def test_lecture_gradient_is_right():
    """The reference itself agrees with finite differences of the example."""
    args = make_args("mlp", 0)
    primal = original_module("mlp").cost
    for index, want in zip((2, 3), lecture_gradients(*args), strict=True):
        assert_close(want, numeric_grad(primal, args, index), FD_RTOL, FD_ATOL)


@pytest.mark.parametrize("name", EXAMPLES)
def test_stripping_removes_every_annotation(name):
    tree = ast.parse(example_source(name, "unannotated"))
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            assert node.annotation is None
    assert ast.dump(tree) != ast.dump(ast.parse(example_source(name, "annotated")))
