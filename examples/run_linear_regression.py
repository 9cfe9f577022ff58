"""Fit examples/linear_regression.py by gradient descent and check it against the closed form.

    python examples/run_linear_regression.py

The cost is 0.5 * mean((X w + b - y)^2) + 0.5 * lam * ||w||^2 with lam = 0.1 (the
bias is not penalised). Plain gradient descent with `value_and_grad_cost` from
the checked-in `generated/linear_regression_grad.py` must reach the solution of
the normal equations of that same objective,
    (A^T A / N + lam * diag(1, ..., 1, 0)) [w; b] = A^T y / N,  A = [X, 1],
to about 1e-6. Synthetic data with a fixed seed; only NumPy and the generated
module are imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated" / "linear_regression_grad.py"
LAM = 0.1  # the cost's default
N, D = 200, 3
SEED = 0


def load_generated():
    """Import generated/linear_regression_grad.py by path: it is a file, not a package."""
    spec = importlib.util.spec_from_file_location("linear_regression_grad", GENERATED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_data(seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    y = X @ np.array([2.0, -1.0, 0.5]) + 3.0 + 0.1 * rng.standard_normal(N)
    return X, y


def gradient_descent(value_and_grad, X, y, lr=0.5, tol=1e-12, max_iters=10000):
    w, b = np.zeros(X.shape[1]), 0.0
    for t in range(max_iters):
        loss, (dw, db) = value_and_grad(X, y, w, b, LAM)
        if t % 10 == 0:
            print(f"  iter {t:4d}  loss {loss:.10f}")
        if np.sqrt(np.sum(dw**2) + db**2) < tol:
            break
        w, b = w - lr * dw, b - lr * db
    print(f"  stopped after {t} iterations, loss {loss:.10f}")
    return w, b


def closed_form(X, y):
    A = np.column_stack([X, np.ones(len(X))])
    penalty = LAM * np.diag([1.0] * X.shape[1] + [0.0])
    theta = np.linalg.solve(A.T @ A / len(X) + penalty, A.T @ y / len(X))
    return theta[:-1], theta[-1]


def main() -> int:
    generated = load_generated()
    X, y = synthetic_data()
    print(f"gradient descent on {N} samples, {D} features, lam = {LAM}:")
    w, b = gradient_descent(generated.value_and_grad_cost, X, y)
    w_star, b_star = closed_form(X, y)
    np.set_printoptions(precision=8, floatmode="fixed")
    print(f"gradient descent: w = {w}  b = {b:.8f}")
    print(f"normal equations: w = {w_star}  b = {b_star:.8f}")
    difference = max(np.max(np.abs(w - w_star)), abs(b - b_star))
    print(f"max |difference| = {difference:.1e}")
    assert difference < 1e-6, difference
    print("gradient descent agrees with the closed form")
    return 0


if __name__ == "__main__":
    sys.exit(main())
