"""In-place rewriting: reuse the buffer of a temporary that dies at its last use.

`np.exp(-Q)` allocates twice; `t = -Q; np.exp(t, out=t)` once.  On large arrays
a fresh buffer costs page faults, so emitted code that writes into its own dead
temporaries beats the same code written with fresh ones (JAX gets the same from
XLA's buffer reuse).  The pass rewrites an elementwise equation to write into
one of its arguments `a` when all of this holds:

- `a` is a fresh array this function allocated: the result of an elementwise
  operation (never a parameter, a view such as `X[t]` or `W.T`, a value popped
  from a tape, or a loop or branch value, which other names may share);
- `a` is read by nothing else (so no caller, tape or later statement sees it
  change), in the same block (never from inside a loop that repeats);
- `a` is known to be a float array of the result's shape (its rank known and at
  least 1, so it is not a NumPy scalar).

A buffer that had another name is reused under the new one: `Z = np.negative(Q,
out=Q)`; one that had none (or the same) is updated as `Z += 1`,
`np.exp(Z, out=Z)`.

Values are bit for bit those of the plain code: the same IEEE operations, in
the same order (only `a + b` and `a * b`, which commute exactly, are turned round).
`generate(..., inplace=False)` (`symgrad gen --no-inplace`) leaves the code as is.
"""

from __future__ import annotations

from dataclasses import replace

from . import shapes as sh
from .ir import Const, Eqn, Loop, Var, blocks, uses, walk

# Elementwise primitives whose result is a new float array when the input is one.
UNARY = {
    "neg",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sqrt",
    "square",
    "abs",
    "sin",
    "cos",
    "tan",
    "tanh",
    "arctan",
    "sinh",
    "cosh",
}
BINARY = {"add", "sub", "mul", "div", "pow"}
FRESH = {"inplace", "matmul", "dot", "matmul_fn"}  # always a new array
# Only arrays of rank 2 and more: the large ones, where a fresh buffer costs page
# faults; on vectors the plain form reads better and costs about the same.
MIN_RANK = 2
COMMUTATIVE = {"add", "mul"}
# Primitives whose result is always floating point, whatever the inputs.
ALWAYS_FLOAT = {"exp", "log", "log1p", "expm1", "sqrt", "tan", "tanh", "sin", "cos", "div"}
ALWAYS_FLOAT |= {"arctan", "sinh", "cosh", "inplace"}


def rewrite(stmts: list, outputs, float_params=()) -> list:
    """A copy of stmts with dead float temporaries reused in place.

    outputs: what the function returns (never reused); float_params: parameters
    known to hold floats (those being differentiated).
    """
    counts = uses(stmts)
    for o in outputs:
        if isinstance(o, Var):
            counts[o] = counts.get(o, 0) + 1
    floats: set = set(float_params)
    out = _block(stmts, counts, floats)
    for s in reversed(list(walk(out))):  # the buffer is named for what it finally holds
        if isinstance(s, Eqn) and s.prim == "inplace":
            target = s.args[s.params["slot"]]
            if s.out.hint and not target.hint:
                target.hint = s.out.hint
    return out


def _block(stmts, counts, floats) -> list:
    fresh_here: set = set()  # fresh float arrays defined in this block
    out = []
    for s in stmts:
        if not isinstance(s, Eqn):
            new = s
            for k, block in enumerate(blocks(s)):
                inner = _block(block, counts, floats)
                new = _with_block(new, k, inner)
            out.append(new)
            continue
        e = _maybe_in_place(s, counts, floats, fresh_here)
        out.append(e)
        if len(e.outs) == 1 and _is_float(e, floats):
            floats.add(e.out)
            if e.prim in UNARY | BINARY | FRESH and (sh.rank(e.out) or 0) >= MIN_RANK:
                fresh_here.add(e.out)
    return out


def _with_block(s, k, inner):
    if isinstance(s, Loop):
        return replace(s, body=inner)
    return replace(s, then_body=inner) if k == 0 else replace(s, else_body=inner)


def _is_float(e: Eqn, floats: set) -> bool:
    if e.prim in ALWAYS_FLOAT:
        return True
    if e.prim in UNARY | BINARY | FRESH:
        return any(
            (isinstance(a, Const) and isinstance(a.value, float)) or a in floats for a in e.args
        )
    return False


def _maybe_in_place(e: Eqn, counts, floats, fresh) -> Eqn:
    if len(e.outs) != 1 or e.prim not in UNARY | BINARY:
        return e
    for slot in (0,) if e.prim in UNARY else (0, 1):
        a = e.args[slot]
        if not isinstance(a, Var) or a not in fresh or counts.get(a, 0) != 1:
            continue
        if not sh.same_shape(a.shape, e.out.shape):
            continue
        if e.prim in BINARY and any(b is a for j, b in enumerate(e.args) if j != slot):
            continue
        fresh.discard(a)
        return Eqn(e.outs, "inplace", e.args, {"op": e.prim, "slot": slot}, e.loc)
    return e
