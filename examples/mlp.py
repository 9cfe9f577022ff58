"""Two-layer perceptron with a logistic hidden layer and a softmax output.

X holds N samples with D features and Y the one-hot labels over C classes.
V (D x M) maps the inputs to M hidden units, W (M x C) the hidden units to
the class scores. The cost is the mean negative log-likelihood.
"""

import numpy as np


def logistic(z):
    return 1 / (1 + np.exp(-z))


def logsumexp(Z):
    """Row-wise and stable; returns shape (N,)."""
    Zmax = np.max(Z, axis=1)
    return Zmax + np.log(np.sum(np.exp(Z - Zmax[:, None]), axis=1))


def cost(X: "N,D", Y: "N,C", W: "M,C", V: "D,M"):
    Q = np.dot(X, V)
    Z = logistic(Q)
    U = np.dot(Z, W)
    nll = -np.mean(np.sum(U * Y, 1) - logsumexp(U))
    return nll
