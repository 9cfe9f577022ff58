"""Static shape reasoning.

A shape is a tuple of dims or None (rank unknown).  A dim is an int, a symbol
(a string such as "N", from an annotation or from `N, D = X.shape`) or None
(unknown).  Two dims are known equal only when both are the same int or the
same symbol; anything else is "don't know", and code that depends on it is
emitted in a shape-generic form.
"""

from __future__ import annotations


class Opaque:
    """The shape of a value whose rank is unknown, but which other values can share.

    `np.exp(x)` has x's shape, and `x * 2.0` too, even when nothing is known
    about x: sharing one `Opaque` proves such shapes equal, so no
    unbroadcasting is emitted between them.
    """

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"shape({self.name})"


def known(shape):
    """The shape as a tuple, or None when its rank is unknown."""
    return shape if isinstance(shape, tuple) else None


def rank(atom):
    """The static rank of a Var or Const, or None when unknown."""
    shape = known(getattr(atom, "shape", None))
    return None if shape is None else len(shape)


def same_dim(a, b) -> bool:
    return a is not None and a == b


def same_shape(a, b) -> bool:
    """True only when the two shapes are provably equal."""
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        return a is b
    if a is None or b is None or len(a) != len(b):
        return False
    return all(same_dim(x, y) for x, y in zip(a, b))


def broadcast(*shapes):
    """The broadcast shape, with unknown dims where it depends on run-time sizes."""
    shapes = [s for s in shapes if s != ()]
    if not shapes:
        return ()
    if all(s is shapes[0] for s in shapes) and isinstance(shapes[0], Opaque):
        return shapes[0]
    if any(not isinstance(s, tuple) for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]
        dims = [d for d in dims if d != 1]
        if not dims:
            out.append(1)
        elif all(same_dim(d, dims[0]) for d in dims):
            out.append(dims[0])
        else:
            out.append(None)
    return tuple(out)


def reduction_plan(source, target):
    """How to sum an array of shape `target`-broadcast `source` back to `source`.

    Returns (leading, kept): the leading axes to sum away and the axes (of the
    source rank) to sum with keepdims, or None when it depends on run-time sizes.
    """
    source, target = known(source), known(target)
    if source is None or target is None or len(source) > len(target):
        return None
    lead = len(target) - len(source)
    kept = []
    for k, d in enumerate(source):
        t = target[lead + k]
        if same_dim(d, t):
            continue
        if d == 1:
            kept.append(k)
            continue
        return None
    return tuple(range(lead)), tuple(kept)


def reduce_shape(shape, axis, keepdims):
    if axis is None and not keepdims:
        return ()
    shape = known(shape)
    if shape is None:
        return None
    rank = len(shape)
    if axis is None:
        axes = set(range(rank))
    else:
        axes = {a % rank for a in (axis if isinstance(axis, tuple) else (axis,))} if rank else set()
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def matmul_shape(a, b):
    a, b = known(a), known(b)
    if a is None or b is None or len(a) == 0 or len(b) == 0:
        return None
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(a) == 1:
        return b[:-2] + b[-1:]
    if len(b) == 1:
        return a[:-1]
    batch = broadcast(a[:-2], b[:-2])
    if batch is None:
        return None
    return batch + (a[-2], b[-1])


def parse_annotation(text: str):
    """'N,D' -> ('N', 'D'); '' -> (); '3' -> (3,). Raises ValueError on nonsense."""
    text = text.strip().strip("()[]")
    if not text:
        return ()
    dims = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.isdigit():
            dims.append(int(part))
        elif part.isidentifier():
            dims.append(part)
        else:
            raise ValueError(part)
    return tuple(dims)
