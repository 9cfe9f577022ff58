"""A batch-normalisation layer followed by a squared loss against targets T.

Each of the D features of the batch X (N x D) is normalised with the batch
mean and variance, then scaled by gamma and shifted by beta.
"""

import numpy as np


def batchnorm(X, gamma, beta, eps):
    """Normalise each column of X over the batch, then scale and shift."""
    mu = np.mean(X, axis=0)
    var = np.var(X, axis=0)
    Xhat = (X - mu) / np.sqrt(var + eps)
    return gamma * Xhat + beta


def cost(X: "N,D", gamma: "D", beta: "D", T: "N,D", eps=1e-5):
    """Half the mean over samples of the squared distance to the targets."""
    out = batchnorm(X, gamma, beta, eps)
    return 0.5 * np.mean(np.sum((out - T) ** 2, axis=1))
