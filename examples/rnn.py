"""A recurrent network unrolled over time, with a loss on every hidden state.

X holds T inputs of D features, Y the T targets of the H hidden units. The
hidden state starts at h0 and is updated by h = tanh(W h + U x_t) at every step.
"""

import numpy as np


def cost(X: "T,D", Y: "T,H", h0: "H", W: "H,H", U: "H,D"):
    h = h0
    loss = 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
        loss += 0.5 * np.sum((h - Y[t]) ** 2)
    return loss / X.shape[0]
