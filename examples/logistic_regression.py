"""Logistic regression: mean binary cross-entropy, written stably.

For labels y in {0, 1} and scores z = X w + b the cross-entropy is
    -y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z)) = log(1 + exp(z)) - y z,
and log(1 + exp(z)) = np.logaddexp(0, z) never overflows.
"""

import numpy as np


def cost(X: "N,D", y: "N", w: "D", b: "", lam=0.01):
    """Mean cross-entropy of the labels y under the model, plus an L2 term."""
    z = X @ w + b
    nll = np.mean(np.logaddexp(0, z) - y * z)
    return nll + lam * np.dot(w, w)
