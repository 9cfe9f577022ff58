"""A residual block x + W2 relu(W1 x + b1) on a batch, with a squared loss.

Samples are the N columns of X (D x N). W1 (H x D) maps them to H hidden
units with biases b1, W2 (D x H) maps back, and the block's output is
compared with the targets T (D x N).
"""

import numpy as np


def relu(z):
    return np.maximum(0, z)


def block(X, W1, b1, W2):
    return X + W2 @ relu(W1 @ X + b1[:, None])


def cost(X: "D,N", W1: "H,D", b1: "H", W2: "D,H", T: "D,N"):
    """Half the mean over samples of the squared error of the block's output."""
    N = X.shape[1]
    R = block(X, W1, b1, W2) - T
    return 0.5 * np.sum(R**2) / N
