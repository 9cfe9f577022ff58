"""The lecture's Iris classifier: a two-layer perceptron with a softmax cost.

X holds N flowers, each described by D = 3 inputs (two features and a constant 1
for the bias); Y holds their one-hot species over C = 3 classes. V (D x M) maps
the inputs to M = 16 logistic hidden units, W (M x C) the hidden units to the
class scores U. The cost is the mean negative log-likelihood of softmax(U),
written with a stable row-wise logsumexp. `examples/train_iris.py` trains it
with the generated `value_and_grad_cost`.
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
