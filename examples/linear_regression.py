"""Linear regression: half mean squared error with an L2 penalty on the weights.

Shapes: N samples with D features, targets y of length N, weights w of
length D and a scalar bias b.
"""

import numpy as np


def cost(X: "N,D", y: "N", w: "D", b: "", lam=0.1):
    """0.5 * mean squared residual + 0.5 * lam * ||w||^2."""
    residual = np.dot(X, w) + b - y
    data_term = 0.5 * np.mean(residual**2)
    penalty = 0.5 * lam * np.sum(w**2)
    return data_term + penalty
