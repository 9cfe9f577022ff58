"""Hand-edited copies of symgrad's emitted `grad_cost` for examples/rnn.py.

Each function applies one proposed change to the emitted code, cumulatively in the
order below (batched_generic branches off outer_broadcast), so that its effect can be
measured before symgrad emits it:

    python benchmarks/bench_rnn.py --frameworks none --clock cpu \\
        --variant benchmarks/rnn_variants.py:emitted \\
        --variant benchmarks/rnn_variants.py:no_dead_value ...

The base is the module `symgrad.generate(examples/rnn.py, funcs=["cost"],
wrt=["h0", "W", "U"])` emitted at commit 6769775 (generated/rnn_grad.py).  Comments
name the emitted line each edit replaces.  bench_rnn checks every variant against the
hand-written BPTT before it is timed.
"""

import numpy as np


def emitted(X, Y, h0, W, U):
    """The emitted grad_cost, verbatim (the control)."""
    t1 = X.shape[0]
    saved = []
    saved_h = []
    saved_h_prev = []
    h = h0
    loss = 0.0
    for t in range(t1):
        saved_h_prev.append(h)
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        t3 = h - Y[t]
        saved.append(t3)
        loss = loss + 0.5 * np.sum(t3**2)
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    for t in reversed(range(t1)):
        h = saved_h.pop()
        h_prev = saved_h_prev.pop()
        t2 = X[t]
        dh = dh + dloss * 0.5 * (2 * saved.pop())
        t4 = dh * (1 - h**2)
        dU += np.outer(t4, t2)
        dW += np.outer(t4, h_prev)
        dh = W.T @ t4
    return dh, dW, dU


def no_dead_value(X, Y, h0, W, U):
    """grad_cost does not return the cost: drop `loss` from its forward loop."""
    t1 = X.shape[0]
    saved = []
    saved_h = []
    saved_h_prev = []
    h = h0
    for t in range(t1):
        saved_h_prev.append(h)
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        saved.append(h - Y[t])  # was: t3 = h - Y[t]; saved.append(t3); loss = loss + ...
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    for t in reversed(range(t1)):
        h = saved_h.pop()
        h_prev = saved_h_prev.pop()
        t2 = X[t]
        dh = dh + dloss * 0.5 * (2 * saved.pop())
        t4 = dh * (1 - h**2)
        dU += np.outer(t4, t2)
        dW += np.outer(t4, h_prev)
        dh = W.T @ t4
    return dh, dW, dU


def fold_seed(X, Y, h0, W, U):
    """... and fold the constants of d(0.5 * x**2) = x, adding in place into the fresh dh."""
    t1 = X.shape[0]
    saved = []
    saved_h = []
    saved_h_prev = []
    h = h0
    for t in range(t1):
        saved_h_prev.append(h)
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        saved.append(h - Y[t])
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    for t in reversed(range(t1)):
        h = saved_h.pop()
        h_prev = saved_h_prev.pop()
        t2 = X[t]
        dh += dloss * saved.pop()  # was: dh = dh + dloss * 0.5 * (2 * saved.pop())
        t4 = dh * (1 - h**2)
        dU += np.outer(t4, t2)
        dW += np.outer(t4, h_prev)
        dh = W.T @ t4
    return dh, dW, dU


def outer_broadcast(X, Y, h0, W, U):
    """... and spell np.outer(a, b) as a[:, None] * b (np.outer is a Python wrapper)."""
    t1 = X.shape[0]
    saved = []
    saved_h = []
    saved_h_prev = []
    h = h0
    for t in range(t1):
        saved_h_prev.append(h)
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        saved.append(h - Y[t])
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    for t in reversed(range(t1)):
        h = saved_h.pop()
        h_prev = saved_h_prev.pop()
        t2 = X[t]
        dh += dloss * saved.pop()
        t4 = dh * (1 - h**2)
        t5 = t4[:, None]
        dU += t5 * t2  # was: dU += np.outer(t4, t2)
        dW += t5 * h_prev  # was: dW += np.outer(t4, h_prev)
        dh = W.T @ t4
    return dh, dW, dU


def one_tape(X, Y, h0, W, U):
    """... and keep one tape of hidden states: h_prev of step t is h of step t - 1."""
    t1 = X.shape[0]
    saved = []
    saved_h = [h0]  # was: saved_h = [] and saved_h_prev = []
    h = h0
    for t in range(t1):
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        saved.append(h - Y[t])
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    for t in reversed(range(t1)):
        h = saved_h.pop()
        h_prev = saved_h[-1]  # was: h_prev = saved_h_prev.pop()
        t2 = X[t]
        dh += dloss * saved.pop()
        t4 = dh * (1 - h**2)
        t5 = t4[:, None]
        dU += t5 * t2
        dW += t5 * h_prev
        dh = W.T @ t4
    return dh, dW, dU


def batched_generic(X, Y, h0, W, U):
    """outer_broadcast, but the outer products of the accumulators are summed after the
    loop: the adjoint loop appends both factors of each to lists, and sum_t outer(a_t, b_t)
    is A.T @ B of the stacked lists (the form an emitter can produce without knowing that
    the factors are rows of arrays it already has)."""
    t1 = X.shape[0]
    saved = []
    saved_h = []
    saved_h_prev = []
    h = h0
    for t in range(t1):
        saved_h_prev.append(h)
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        saved.append(h - Y[t])
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    t4s = []
    t2s = []
    h_prevs = []
    for t in reversed(range(t1)):
        h = saved_h.pop()
        h_prev = saved_h_prev.pop()
        t2 = X[t]
        dh += dloss * saved.pop()
        t4 = dh * (1 - h**2)
        t4s.append(t4)  # was: dU += np.outer(t4, t2)
        t2s.append(t2)
        h_prevs.append(h_prev)  # was: dW += np.outer(t4, h_prev)
        dh = W.T @ t4
    t5 = np.array(t4s).T
    dU = t5 @ np.array(t2s)
    dW = t5 @ np.array(h_prevs)
    return dh, dW, dU


def batched_outer(X, Y, h0, W, U):
    """one_tape, and, as dW and dU are read nowhere else in the loop, sum their outer
    products after it with one matrix product each: sum_t outer(a_t, b_t) = A.T @ B, with
    B the tape of hidden states and X itself (no per-step lists of factors)."""
    t1 = X.shape[0]
    saved = []
    saved_h = [h0]
    h = h0
    for t in range(t1):
        t2 = X[t]
        h = np.tanh(W @ h + U @ t2)
        saved_h.append(h)
        saved.append(h - Y[t])
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    t4s = []
    for t in reversed(range(t1)):
        h = saved_h[t + 1]  # was: h = saved_h.pop(): the tape is read again below
        dh += dloss * saved.pop()
        t4 = dh * (1 - h**2)
        t4s.append(t4)  # was: dU += np.outer(t4, t2); dW += np.outer(t4, h_prev)
        dh = W.T @ t4
    A = np.array(t4s[::-1])  # row t is t4 of step t
    dW = A.T @ np.array(saved_h[:-1])  # row t is h_prev of step t
    dU = A.T @ X
    return dh, dW, dU


def hoisted_input(X, Y, h0, W, U):
    """... and compute every step's U @ X[t] before the loop, as one X @ U.T."""
    t1 = X.shape[0]
    saved = []
    saved_h = [h0]
    h = h0
    UX = X @ U.T  # was: t2 = X[t] and U @ t2 in the loop
    for t in range(t1):
        h = np.tanh(W @ h + UX[t])
        saved_h.append(h)
        saved.append(h - Y[t])
    dloss = 1.0 / t1
    dh = np.zeros_like(h)
    t4s = []
    for t in reversed(range(t1)):
        h = saved_h[t + 1]  # was: h = saved_h.pop(): the tape is read again below
        dh += dloss * saved.pop()
        t4 = dh * (1 - h**2)
        t4s.append(t4)
        dh = W.T @ t4
    A = np.array(t4s[::-1])
    dW = A.T @ np.array(saved_h[:-1])
    dU = A.T @ X
    return dh, dW, dU


def value_emitted(X, Y, h0, W, U):
    """The emitted value_and_grad_cost's forward loop and value (the control)."""
    t1 = X.shape[0]
    h = h0
    loss = 0.0
    for t in range(t1):
        h = np.tanh(W @ h + U @ X[t])
        t3 = h - Y[t]
        loss = loss + 0.5 * np.sum(t3**2)
    return loss / t1, None


def value_dot(X, Y, h0, W, U):
    """np.sum(t3**2) of a 1-d t3 spelled t3 @ t3 (one call, no temporary)."""
    t1 = X.shape[0]
    h = h0
    loss = 0.0
    for t in range(t1):
        h = np.tanh(W @ h + U @ X[t])
        t3 = h - Y[t]
        loss = loss + 0.5 * (t3 @ t3)  # was: loss = loss + 0.5 * np.sum(t3**2)
    return loss / t1, None
