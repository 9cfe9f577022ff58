"""Fit examples/logistic_regression.py with SciPy's L-BFGS-B and the gradient symgrad generated.

    python examples/run_logistic_regression.py

`scipy.optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B")` wants one
vector of parameters and a function returning (value, gradient); the generated
`value_and_grad_cost` of `generated/logistic_regression_grad.py` returns the
value and (dw, db), so w and b are packed into theta = [w, b]. The data are two
overlapping Gaussian blobs (fixed seed), labels 0 and 1. Needs NumPy and SciPy
(`pip install 'symgrad[examples]'`), not symgrad.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated" / "logistic_regression_grad.py"
N_PER_CLASS, D = 100, 2
SEED = 0


def load_generated():
    """Import generated/logistic_regression_grad.py by path: it is a file, not a package."""
    spec = importlib.util.spec_from_file_location("logistic_regression_grad", GENERATED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_data(seed=SEED):
    """Two Gaussian blobs centred at (-1, -1) and (1.5, 1), separable but for a few points."""
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((N_PER_CLASS, D)) * 0.8 + np.array([-1.0, -1.0])
    X1 = rng.standard_normal((N_PER_CLASS, D)) * 0.8 + np.array([1.5, 1.0])
    X = np.vstack([X0, X1])
    y = np.concatenate([np.zeros(N_PER_CLASS), np.ones(N_PER_CLASS)])
    return X, y


def packed(value_and_grad, X, y):
    """fun(theta) -> (value, gradient) over the packed parameters theta = [w, b]."""

    def fun(theta):
        value, (dw, db) = value_and_grad(X, y, theta[:-1], theta[-1])
        return value, np.append(dw, db)

    return fun


def main() -> int:
    generated = load_generated()
    X, y = synthetic_data()
    fun = packed(generated.value_and_grad_cost, X, y)
    theta0 = np.zeros(D + 1)
    print(f"cost at w = 0, b = 0: {fun(theta0)[0]:.6f}  (log 2 = {np.log(2):.6f})")
    result = minimize(fun, theta0, jac=True, method="L-BFGS-B")
    w, b = result.x[:-1], result.x[-1]
    print(f"L-BFGS-B: success {result.success} after {result.nit} iterations ({result.message})")
    print(f"w = [{w[0]:.6f} {w[1]:.6f}]  b = {b:.6f}  cost = {result.fun:.6f}")
    print(f"gradient norm at the optimum: {np.linalg.norm(result.jac):.1e}")
    predictions = (X @ w + b > 0).astype(float)
    correct = int(np.sum(predictions == y))
    print(f"training accuracy: {correct / len(y):.3f} ({correct}/{len(y)})")
    assert result.success, result.message
    return 0


if __name__ == "__main__":
    sys.exit(main())
