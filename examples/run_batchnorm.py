"""A few gradient steps on examples/batchnorm.py, after a finite-difference check of the gradient.

    python examples/run_batchnorm.py

The cost is a batch-normalisation layer (scale gamma, shift beta) followed by a
squared loss against targets T. `value_and_grad_cost` of the checked-in
`generated/batchnorm_grad.py` returns the gradient with respect to the batch X,
gamma and beta; all three are first compared with central differences of the
cost at the starting point, then gamma and beta are fitted by plain gradient
descent (X is the data and stays fixed) and the loss is printed as it falls.
Fixed seed; only NumPy and the generated module are imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated" / "batchnorm_grad.py"
N, D = 32, 4
STEPS, LR = 10, 0.5
SEED = 0


def load_generated():
    """Import generated/batchnorm_grad.py by path: it is a file, not an installed package."""
    spec = importlib.util.spec_from_file_location("batchnorm_grad", GENERATED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def finite_difference_error(cost, grads, args, wrt, h=1e-6) -> float:
    """Max |analytic - central difference| over every element of the arguments in wrt."""
    worst = 0.0
    for i, g in zip(wrt, grads):
        for k in range(args[i].size):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[i].flat[k] += h
            minus[i].flat[k] -= h
            estimate = (cost(*plus) - cost(*minus)) / (2 * h)
            worst = max(worst, abs(g.flat[k] - estimate))
    return worst


def main() -> int:
    generated = load_generated()
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((N, D)) * 3.0 + 1.0
    T = 2.0 * rng.standard_normal((N, D)) + np.array([1.0, -1.0, 0.5, 0.0])
    T = 0.5 * T + 0.5 * (X - X.mean(axis=0)) / X.std(axis=0)  # partly predictable from X
    gamma, beta = np.ones(D), np.zeros(D)

    _, grads = generated.value_and_grad_cost(X, gamma, beta, T)
    error = finite_difference_error(generated.cost, grads, [X, gamma, beta, T], wrt=(0, 1, 2))
    print(f"gradient check at the start (dX, dgamma, dbeta): max |error| = {error:.1e}")
    assert error < 1e-6, error

    for step in range(STEPS + 1):
        loss, (_, dgamma, dbeta) = generated.value_and_grad_cost(X, gamma, beta, T)
        print(f"  step {step:2d}  loss {loss:.6f}")
        gamma, beta = gamma - LR * dgamma, beta - LR * dbeta
    print(f"gamma = {np.round(gamma, 4)}  beta = {np.round(beta, 4)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
