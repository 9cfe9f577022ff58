"""The lecture's forward-mode example: y1 = sin(w1 x + w0) and y2 = cos(w1 x + w0).

The body is the lecture's evaluation trace, with a1 = w0, a2 = w1 and a3 = x:
a4 = a2 a3, a5 = a4 + a1, y1 = a6 = sin(a5), y2 = a7 = cos(a5).

    symgrad gen examples/lecture_trace.py --mode forward --wrt w0,w1 -o -

writes `jvp_outputs`, whose statements follow the lecture's trace of values and
tangents: a4 = w1 * x, then its tangent da4 = dw1 * x (the lecture's
a4' = a2' a3 + a2 a3' with a3' = 0, since x is not differentiated), a5 and
da5 = da4 + dw0, a6 = sin(a5), a7 = cos(a5), da6 = da5 * a7 and
da7 = -(da5 * a6). Seeding dw0 = 0, dw1 = 1 gives both dy1/dw1 and dy2/dw1 in
one forward pass.
"""

import numpy as np


def outputs(w0, w1, x):
    """Both outputs [y1, y2] of the lecture's example."""
    a4 = w1 * x
    a5 = a4 + w0
    a6 = np.sin(a5)
    a7 = np.cos(a5)
    return np.stack([a6, a7])
