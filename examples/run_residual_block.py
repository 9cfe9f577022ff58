"""A few gradient steps on examples/residual_block.py, after a finite-difference check.

    python examples/run_residual_block.py

The cost is a residual block X + W2 relu(W1 X + b1) with a squared loss against
targets T; samples are the columns of X. `value_and_grad_cost` of the checked-in
`generated/residual_block_grad.py` returns the gradient with respect to W1, b1
and W2; it is first compared with central differences of the cost at the random
starting point, then plain gradient descent fits the block to targets made by a
hidden residual block of the same shape, printing the loss as it falls. Fixed
seed; only NumPy and the generated module are imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated" / "residual_block_grad.py"
D, H, N = 3, 8, 64
STEPS, LR = 20, 0.1
SEED = 0


def load_generated():
    """Import generated/residual_block_grad.py by path: it is a file, not an installed package."""
    spec = importlib.util.spec_from_file_location("residual_block_grad", GENERATED)
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
    X = rng.standard_normal((D, N))
    # targets from a hidden block of the same shape, plus a little noise
    hidden = (rng.standard_normal((H, D)), rng.standard_normal(H), rng.standard_normal((D, H)))
    T = generated.block(X, *hidden) + 0.01 * rng.standard_normal((D, N))
    W1 = rng.standard_normal((H, D)) * 0.5
    b1 = np.zeros(H) + 0.1
    W2 = rng.standard_normal((D, H)) * 0.5

    _, grads = generated.value_and_grad_cost(X, W1, b1, W2, T)
    error = finite_difference_error(generated.cost, grads, [X, W1, b1, W2, T], wrt=(1, 2, 3))
    print(f"gradient check at the start (dW1, db1, dW2): max |error| = {error:.1e}")
    assert error < 1e-6, error

    for step in range(STEPS + 1):
        loss, (dW1, db1, dW2) = generated.value_and_grad_cost(X, W1, b1, W2, T)
        if step % 2 == 0:
            print(f"  step {step:2d}  loss {loss:.6f}")
        W1, b1, W2 = W1 - LR * dW1, b1 - LR * db1, W2 - LR * dW2
    return 0


if __name__ == "__main__":
    sys.exit(main())
