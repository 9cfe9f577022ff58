"""Hand-edited copies of symgrad's emitted `value_and_grad_cost` for examples/mlp.py.

Two series, each a verbatim copy of what `symgrad gen examples/mlp.py --func cost
--wrt W,V` emitted, then one proposed optimisation pass per function, each on top of
the ones before it, so its effect can be measured before symgrad emits it:

- from `emitted_5050f14` (commit 5050f14, before the in-place pass; logsumexp's tie
  mask already gone since 432eacc): `scale_late`, `logistic_rule`, `in_place`,
  `fewer_calls` (and `dot_not_matmul`, a side experiment);
- from `emitted` (commit 46a22e2, with the sigmoid rule of 240fc87 and the in-place
  pass of 9ac60c7): `last_use`, `last_use_fewer_calls`.

    python benchmarks/bench_mlp.py --frameworks none \\
        --variant benchmarks/mlp_variants.py:emitted \\
        --variant benchmarks/mlp_variants.py:last_use

Comments name the emitted line each edit replaces.  bench_mlp and profile_mlp check
every variant against the hand-written gradient before timing it.
"""

import numpy as np


def emitted_5050f14(X, Y, W, V):
    """cost and its gradient, sharing one forward pass (as emitted at 5050f14)."""
    Q = np.dot(X, V)
    t1 = np.exp(-Q)
    t2 = 1 + t1
    Z = 1 / t2
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t3 = np.exp(U - Zmax[:, None])
    t4 = np.sum(t3, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t4)))
    t5 = -1.0 / X.shape[0]
    dU = (-(t5 / t4))[:, None] * t3 + t5 * Y
    dZ = dU @ W.T
    dW = Z.T @ dU
    dQ = dZ * Z / t2 * t1
    dV = X.T @ dQ
    return nll, (dW, dV)


def dot_not_matmul(X, Y, W, V):
    """Side experiment on `emitted_5050f14`: the three `@` spelled np.dot, as by hand."""
    Q = np.dot(X, V)
    t1 = np.exp(-Q)
    t2 = 1 + t1
    Z = 1 / t2
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t3 = np.exp(U - Zmax[:, None])
    t4 = np.sum(t3, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t4)))
    t5 = -1.0 / X.shape[0]
    dU = (-(t5 / t4))[:, None] * t3 + t5 * Y
    dZ = np.dot(dU, W.T)  # was: dU @ W.T
    dW = np.dot(Z.T, dU)  # was: Z.T @ dU
    dQ = dZ * Z / t2 * t1
    dV = np.dot(X.T, dQ)  # was: X.T @ dQ
    return nll, (dW, dV)


def scale_late(X, Y, W, V):
    """Pass A: the mean's 1/N moves through the linear maps onto the smallest arrays
    (dW, dV), as the lecture does; dU is softmax(U) - Y."""
    Q = np.dot(X, V)
    t1 = np.exp(-Q)
    t2 = 1 + t1
    Z = 1 / t2
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t3 = np.exp(U - Zmax[:, None])
    t4 = np.sum(t3, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t4)))
    scale = 1.0 / X.shape[0]
    dU = t3 / t4[:, None] - Y  # was: (-(t5 / t4))[:, None] * t3 + t5 * Y
    dZ = dU @ W.T
    dW = (Z.T @ dU) * scale  # was: Z.T @ dU
    dQ = dZ * Z / t2 * t1
    dV = (X.T @ dQ) * scale  # was: X.T @ dQ
    return nll, (dW, dV)


def logistic_rule(X, Y, W, V):
    """Pass B (on A): the derivative of 1 / (1 + exp(-q)) written with its result,
    Z * (1 - Z), like tanh's 1 - ans**2: t1 and t2 die after the forward pass, and it
    stays finite where exp(-q) overflows (the emitted form gives 0 / inf * inf = nan)."""
    Q = np.dot(X, V)
    Z = 1 / (1 + np.exp(-Q))
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t3 = np.exp(U - Zmax[:, None])
    t4 = np.sum(t3, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t4)))
    scale = 1.0 / X.shape[0]
    dU = t3 / t4[:, None] - Y
    dZ = dU @ W.T
    dW = (Z.T @ dU) * scale
    dQ = dZ * Z * (1 - Z)  # was: dZ * Z / t2 * t1
    dV = (X.T @ dQ) * scale
    return nll, (dW, dV)


def in_place(X, Y, W, V):
    """Pass C (on A, B): an elementwise op writes into an array this function made and
    no later line reads (out=, augmented assignment): two N x M arrays per call (the
    matmul results) where the emitted code makes nine and holds up to six at once."""
    Z = np.dot(X, V)  # was: Q = np.dot(X, V)
    np.negative(Z, out=Z)  # was: t1 = np.exp(-Q)
    np.exp(Z, out=Z)
    Z += 1  # was: t2 = 1 + t1
    np.reciprocal(Z, out=Z)  # was: Z = 1 / t2
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t3 = np.exp(U - Zmax[:, None])
    t4 = np.sum(t3, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t4)))
    scale = 1.0 / X.shape[0]
    t3 /= t4[:, None]  # was: dU = (-(t5 / t4))[:, None] * t3 + t5 * Y
    t3 -= Y
    dU = t3
    dW = (Z.T @ dU) * scale
    dZ = dU @ W.T
    dZ *= Z  # was: dQ = dZ * Z / t2 * t1 (Z is dead after the next line)
    Z *= dZ
    dZ -= Z  # dZ * Z - dZ * Z * Z = dZ * Z * (1 - Z)
    dV = (X.T @ dZ) * scale  # was: X.T @ dQ
    return nll, (dW, dV)


def fewer_calls(X, Y, W, V):
    """Pass D (on A-C), for small sizes: reductions as ufunc methods with keepdims (no
    Python wrapper, no [:, None]), and the mean of row sums as one dot: fewer calls."""
    Z = np.dot(X, V)
    np.negative(Z, out=Z)
    np.exp(Z, out=Z)
    Z += 1
    np.reciprocal(Z, out=Z)
    U = np.dot(Z, W)
    Zmax = np.maximum.reduce(U, axis=1, keepdims=True)  # was: np.max(U, axis=1)
    t3 = np.exp(U - Zmax)
    t4 = np.add.reduce(t3, axis=1, keepdims=True)  # was: np.sum(t3, axis=1)
    scale = 1.0 / X.shape[0]
    # was: nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t4)))
    nll = (np.add.reduce(Zmax + np.log(t4), axis=None) - np.vdot(U, Y)) * scale
    t3 /= t4
    t3 -= Y
    dU = t3
    dW = (Z.T @ dU) * scale
    dZ = dU @ W.T
    dZ *= Z
    Z *= dZ
    dZ -= Z
    dV = (X.T @ dZ) * scale
    return nll, (dW, dV)


def emitted(X, Y, W, V):
    """cost and its gradient, sharing one forward pass (as emitted at 46a22e2)."""
    Q = np.dot(X, V)
    Z = np.negative(Q, out=Q)
    np.exp(Z, out=Z)
    Z += 1
    np.divide(1, Z, out=Z)
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t1 = U - Zmax[:, None]
    np.exp(t1, out=t1)
    t2 = np.sum(t1, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t2)))
    t3 = X.shape[0]
    dU = (1.0 / t3 / t2)[:, None] * t1
    dU += -1.0 / t3 * Y
    dZ = dU @ W.T
    dW = Z.T @ dU
    dQ = np.multiply(dZ, Z, out=dZ)
    dQ *= 1 - Z
    dV = X.T @ dQ
    return nll, (dW, dV)


def last_use(X, Y, W, V):
    """Pass E (on `emitted`): at the last read of a buffer the function owns (not only a
    single-use temporary), the operation writes into it: `1 - Z` into Z (read by
    `dW = Z.T @ dU` before, by nothing after), the softmax scaling into t1."""
    Q = np.dot(X, V)
    Z = np.negative(Q, out=Q)
    np.exp(Z, out=Z)
    Z += 1
    np.divide(1, Z, out=Z)
    U = np.dot(Z, W)
    Zmax = np.max(U, axis=1)
    t1 = U - Zmax[:, None]
    np.exp(t1, out=t1)
    t2 = np.sum(t1, axis=1)
    nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t2)))
    t3 = X.shape[0]
    dU = np.multiply((1.0 / t3 / t2)[:, None], t1, out=t1)  # was: dU = (...)[:, None] * t1
    dU += -1.0 / t3 * Y
    dZ = dU @ W.T
    dW = Z.T @ dU
    dQ = np.multiply(dZ, Z, out=dZ)
    np.subtract(1, Z, out=Z)  # was: dQ *= 1 - Z
    dQ *= Z
    dV = X.T @ dQ
    return nll, (dW, dV)


def last_use_fewer_calls(X, Y, W, V):
    """Pass F (on E), for small sizes: reductions as ufunc methods with keepdims (no
    Python wrapper, no [:, None]), and the mean of row sums as one dot: fewer calls."""
    Q = np.dot(X, V)
    Z = np.negative(Q, out=Q)
    np.exp(Z, out=Z)
    Z += 1
    np.divide(1, Z, out=Z)
    U = np.dot(Z, W)
    Zmax = np.maximum.reduce(U, axis=1, keepdims=True)  # was: np.max(U, axis=1)
    t1 = U - Zmax
    np.exp(t1, out=t1)
    t2 = np.add.reduce(t1, axis=1, keepdims=True)  # was: np.sum(t1, axis=1)
    t3 = X.shape[0]
    # was: nll = -np.mean(np.sum(U * Y, axis=1) - (Zmax + np.log(t2)))
    nll = (np.add.reduce(Zmax + np.log(t2), axis=None) - np.vdot(U, Y)) / t3
    dU = np.multiply(1.0 / t3 / t2, t1, out=t1)
    dU += -1.0 / t3 * Y
    dZ = dU @ W.T
    dW = Z.T @ dU
    dQ = np.multiply(dZ, Z, out=dZ)
    np.subtract(1, Z, out=Z)
    dQ *= Z
    dV = X.T @ dQ
    return nll, (dW, dV)
