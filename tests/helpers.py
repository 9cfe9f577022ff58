"""Shared test utilities: load generated source as a module, central finite differences."""

from __future__ import annotations

import itertools
import types

import numpy as np

_counter = itertools.count()


def load_module(source: str, name: str | None = None) -> types.ModuleType:
    """Execute generated module text (never user input) and return it as a module."""
    name = name or f"symgrad_generated_{next(_counter)}"
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def numeric_vjp(f, args, index, g, eps=1e-6):
    """Central-difference gradient of <g, f(*args)> with respect to args[index]."""
    args = [
        a
        if isinstance(a, (bool, int))
        else np.array(a, dtype=float)
        if not np.isscalar(a)
        else float(a)
        for a in args
    ]
    x = args[index]
    scalar = np.ndim(x) == 0
    flat = np.atleast_1d(np.array(x, dtype=float)).ravel()
    out = np.zeros_like(flat)
    for k in range(flat.size):
        values = []
        for step in (eps, -eps):
            moved = flat.copy()
            moved[k] += step
            trial = list(args)
            trial[index] = float(moved[0]) if scalar else moved.reshape(np.shape(x))
            values.append(np.sum(np.asarray(g) * np.asarray(f(*trial))))
        out[k] = (values[0] - values[1]) / (2 * eps)
    return float(out[0]) if scalar else out.reshape(np.shape(x))


def numeric_grad(f, args, index, eps=1e-6):
    """Central-difference gradient of scalar f(*args) with respect to args[index]."""
    return numeric_vjp(f, args, index, 1.0, eps)


def assert_close(actual, expected, rtol=1e-6, atol=1e-7, what=""):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
