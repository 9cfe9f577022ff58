"""Softmax (multinomial logistic) regression.

X holds N samples with D features, Y the one-hot labels over C classes,
W the D x C weights and b the C class biases.
"""

import numpy as np


def logsumexp(Z):
    """Row-wise log(sum(exp(Z), axis=1)), shifted by the row max for stability."""
    Zmax = np.max(Z, axis=1, keepdims=True)
    return Zmax[:, 0] + np.log(np.sum(np.exp(Z - Zmax), axis=1))


def cost(X: "N,D", Y: "N,C", W: "D,C", b: "C"):
    """Mean negative log-likelihood of the one-hot labels Y."""
    U = X @ W + b
    log_likelihood = np.sum(U * Y, axis=1) - logsumexp(U)
    return -np.mean(log_likelihood)
