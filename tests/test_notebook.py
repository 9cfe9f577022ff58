"""symgrad.grad / value_and_grad / vjp / source on function objects.

The functions below are differentiated from this file's text (symgrad reads it,
helpers included) and checked against central finite differences.  Notebook
cells are imitated the way IPython does it: source registered in `linecache`
under a cell name, numpy imported by an earlier "cell" (only in the globals).
"""

from __future__ import annotations

import inspect
import linecache
import textwrap

import numpy as np
import pytest
from helpers import assert_close, numeric_grad, numeric_vjp

import symgrad
from symgrad import SymgradError, generate


def logistic(z):
    return 1 / (1 + np.exp(-z))


def mlp_cost(X, Y, W, V):
    Z = logistic(X @ V)
    U = Z @ W
    Umax = np.max(U, axis=1, keepdims=True)
    lse = Umax[:, 0] + np.log(np.sum(np.exp(U - Umax), axis=1))
    return -np.mean(np.sum(U * Y, axis=1) - lse)


def ridge(w, X, y, lam):
    r = X @ w - y
    return 0.5 * np.mean(r**2) + lam * np.sum(w**2)


def squash(x):
    return np.tanh(x) * x


def mlp_args(seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(7, 3)),
        np.eye(4)[rng.integers(0, 4, size=7)],
        rng.normal(size=(5, 4)),
        rng.normal(size=(3, 5)),
    ]


def test_grad_matches_finite_differences():
    args = mlp_args()
    dW, dV = symgrad.grad(mlp_cost, wrt="W,V")(*args)
    assert_close(dW, numeric_grad(mlp_cost, args, 2), rtol=1e-5, atol=1e-8, what="dW")
    assert_close(dV, numeric_grad(mlp_cost, args, 3), rtol=1e-5, atol=1e-8, what="dV")


def test_value_and_grad_shares_the_value():
    args = mlp_args(1)
    value, (dW, dV) = symgrad.value_and_grad(mlp_cost, wrt=["W", "V"])(*args)
    assert value == pytest.approx(mlp_cost(*args), rel=1e-12)
    expected = symgrad.grad(mlp_cost, wrt=("W", "V"))(*args)
    assert_close(dW, expected[0], rtol=1e-12, atol=1e-14)
    assert_close(dV, expected[1], rtol=1e-12, atol=1e-14)


def test_one_parameter_gives_a_bare_array_and_default_is_every_parameter():
    rng = np.random.default_rng(2)
    args = [rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6), 0.1]
    dw = symgrad.grad(ridge, wrt="w")(*args)
    assert isinstance(dw, np.ndarray)
    assert_close(dw, numeric_grad(ridge, args, 0), rtol=1e-5, atol=1e-8)
    grads = symgrad.grad(ridge)(*args)
    assert len(grads) == 4
    assert grads[3] == pytest.approx(numeric_grad(ridge, args, 3), rel=1e-5)


def test_vjp_of_a_vector_function():
    x, g = np.linspace(-1, 1, 5), np.arange(5.0)
    assert_close(symgrad.vjp(squash)(x, g), numeric_vjp(squash, [x], 0, g), rtol=1e-6)


def test_source_is_what_gen_writes_for_this_file():
    text = symgrad.source(mlp_cost, wrt="W,V")
    path = inspect.getsourcefile(mlp_cost)
    with open(path, encoding="utf-8") as handle:
        expected = generate(handle.read(), path, funcs=["mlp_cost"], wrt=["W", "V"])
    assert text == expected
    assert "def grad_mlp_cost(X, Y, W, V):" in text
    assert "def logistic(z):" in text  # the helper came from the same file


def test_compiled_once_and_readable():
    first = symgrad.grad(mlp_cost, wrt="W,V")
    assert symgrad.grad(mlp_cost, wrt="W,V") is first
    shown = inspect.getsource(first)
    assert shown.startswith("def grad_mlp_cost(X, Y, W, V):")
    assert "dW" in shown


def notebook_cell(code: str, name: str, cell: str, namespace: dict):
    """Define `name` the way IPython runs a cell: compiled under a linecache-only name."""
    text = textwrap.dedent(code)
    linecache.cache[cell] = (len(text), None, text.splitlines(keepends=True), cell)
    exec(compile(text, cell, "exec"), namespace)
    return namespace[name]


def test_notebook_cell_with_numpy_from_an_earlier_cell():
    cell = "<ipython-input-3-symgradtest>"
    f = notebook_cell(
        """
        def softplus_sum(w, x):
            return np.sum(np.log1p(np.exp(w * x)))
        """,
        "softplus_sum",
        cell,
        {"np": np},  # `import numpy as np` ran in another cell
    )
    w, x = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.3, -0.7])
    assert_close(symgrad.grad(f, wrt="w")(w, x), numeric_grad(f, [w, x], 0), rtol=1e-6)


def test_the_function_itself_is_never_called():
    cell = "<ipython-input-4-symgradtest>"
    f = notebook_cell(
        """
        def cube_sum(x):
            return np.sum(x ** 3)
        """,
        "cube_sum",
        cell,
        {"np": np},
    )

    def refuse(x):
        raise AssertionError("symgrad called the user's function")

    f.__code__ = refuse.__code__.replace(co_filename=cell, co_name="cube_sum")
    with pytest.raises(AssertionError):
        f(np.ones(2))
    x = np.array([1.0, -2.0])
    assert_close(symgrad.grad(f)(x), 3 * x**2, rtol=1e-12)


def test_rejects_what_it_cannot_read():
    def nested(x):
        return np.sum(x)

    with pytest.raises(TypeError, match="top level"):
        symgrad.grad(nested)
    with pytest.raises(TypeError, match="top level"):
        symgrad.grad(lambda x: x)
    with pytest.raises(TypeError, match="Python function"):
        symgrad.grad(np.sum)
    with pytest.raises(TypeError, match="wrt"):
        symgrad.grad(ridge, wrt=[1])


def test_unknown_parameter_is_a_symgrad_error():
    with pytest.raises(SymgradError, match="has no parameter 'Q'"):
        symgrad.grad(mlp_cost, wrt="Q")


def test_grad_of_a_vector_function_points_to_vjp():
    cell = "<ipython-input-5-symgradtest>"
    f = notebook_cell(
        """
        def double(x: "3"):
            return 2 * x
        """,
        "double",
        cell,
        {"np": np},
    )
    with pytest.raises(ValueError, match="symgrad.vjp"):
        symgrad.grad(f)
    assert_close(symgrad.vjp(f)(np.ones(3), np.arange(3.0)), 2 * np.arange(3.0))
