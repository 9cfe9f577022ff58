"""The lecture's first example: L = 1/2 (y - w x)^2."""


def loss(w, x, y):
    return 0.5 * (y - w * x) ** 2
