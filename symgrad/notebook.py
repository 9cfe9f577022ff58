"""symgrad from Python: differentiate a function object, e.g. in a notebook.

    dcost = symgrad.grad(cost, wrt="W,V")        # dcost(X, Y, W, V) -> (dW, dV)
    vg = symgrad.value_and_grad(cost, wrt="W,V")  # vg(X, Y, W, V) -> (cost, (dW, dV))
    print(symgrad.source(cost, wrt="W,V"))        # the module `symgrad gen` would write

Guarantees:
- `f` is never called.  symgrad reads the text of the file (or notebook cell)
  that defines `f` through `linecache`, as `inspect.getsource` does, and
  translates `f` and the helper functions it calls from that same text.  The
  only code executed is the module symgrad generates.
- `f` must be a function defined at the top level of its file or cell.  A name
  bound to NumPy in `f`'s globals counts as a numpy import, so a cell may use
  the `np` an earlier cell imported.
- The result is what `symgrad gen` writes for that source, byte for byte; it is
  compiled once per (source, function, wrt, shapes) and its lines are
  registered with `linecache`, so tracebacks and `inspect.getsource` show them.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import linecache
import types

from .api import generate
from .frontend import parse
from .shapes import parse_annotation


def grad(f, wrt=None, shapes=None):
    """`grad_f`: the gradient of scalar-valued `f` with respect to `wrt` (default: every parameter).

    `wrt` is a parameter name, "A,B" or a list of names; `shapes` maps parameter
    names to shapes ("N,D" or a tuple), like annotations.  The gradient is a bare
    array for one parameter, else a tuple in `wrt` order.
    """
    return compiled(f, "grad_", wrt, shapes)


def value_and_grad(f, wrt=None, shapes=None):
    """`value_and_grad_f`: returns (f(...), gradient), sharing one forward pass."""
    return compiled(f, "value_and_grad_", wrt, shapes)


def vjp(f, wrt=None, shapes=None):
    """`vjp_f(..., g)`: the cotangent g of f's output pulled back to the `wrt` parameters."""
    return compiled(f, "vjp_", wrt, shapes)


def source(f, wrt=None, shapes=None) -> str:
    """The text of the module symgrad generates for `f` (as `symgrad gen --func f` writes it)."""
    text, path = source_file(f)
    return generate(text, path, funcs=[f.__name__], wrt=wrt_names(wrt), shapes=shape_map(shapes))


def compiled(f, prefix: str, wrt, shapes):
    text, path = source_file(f)
    module = load(text, path, f.__name__, tuple(wrt_names(wrt) or ()), frozen(shape_map(shapes)))
    name = prefix + f.__name__
    if not hasattr(module, name):
        raise ValueError(
            f"{f.__name__} does not return a scalar, so it has no {name}; "
            f"use symgrad.vjp({f.__name__}) for its vector-Jacobian product"
        )
    return getattr(module, name)


def source_file(f) -> tuple[str, str]:
    """The text of the file or cell that defines `f`, and its path."""
    if not inspect.isfunction(f):
        raise TypeError(f"symgrad needs a Python function, not {type(f).__name__}")
    if f.__qualname__ != f.__name__ or f.__name__ == "<lambda>":
        raise TypeError(
            f"symgrad needs a function defined with `def` at the top level of a file or "
            f"notebook cell; {f.__qualname__} is not"
        )
    path = f.__code__.co_filename
    linecache.checkcache(path)
    text = "".join(linecache.getlines(path, f.__globals__))
    if not text:
        raise OSError(f"cannot read the source of {f.__name__}: {path} is not available")
    import numpy  # only here: `symgrad gen` never imports NumPy

    imported = parse(text, path).numpy_aliases
    aliases = sorted(
        name for name, value in f.__globals__.items() if value is numpy and name not in imported
    )
    # Appended, not prepended, so that error positions keep the file's line numbers.
    for alias in aliases:
        text += f"\nimport numpy as {alias}\n" if alias != "numpy" else "\nimport numpy\n"
    return text, path


def wrt_names(wrt) -> list | None:
    if wrt is None:
        return None
    if isinstance(wrt, str):
        return [w.strip() for w in wrt.split(",") if w.strip()]
    if all(isinstance(w, str) for w in wrt):
        return list(wrt)
    raise TypeError("wrt must be a parameter name, 'A,B' or a list of names")


def shape_map(shapes) -> dict | None:
    if not shapes:
        return None
    return {
        name: parse_annotation(dims) if isinstance(dims, str) else tuple(dims)
        for name, dims in shapes.items()
    }


def frozen(shapes) -> tuple:
    return tuple(sorted(shapes.items())) if shapes else ()


@functools.lru_cache(maxsize=64)
def load(text: str, path: str, name: str, wrt: tuple, shapes: tuple) -> types.ModuleType:
    """Generate and execute the module for `name`; generated code is all that runs."""
    generated = generate(text, path, funcs=[name], wrt=list(wrt) or None, shapes=dict(shapes))
    digest = hashlib.sha256(generated.encode("utf-8")).hexdigest()[:12]
    filename = f"<symgrad {name} {digest}>"
    linecache.cache[filename] = (
        len(generated),
        None,
        generated.splitlines(keepends=True),
        filename,
    )
    module = types.ModuleType(f"symgrad_{name}_{digest}")
    module.__file__ = filename
    exec(compile(generated, filename, "exec"), module.__dict__)
    return module
