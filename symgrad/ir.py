"""symgrad's intermediate representation.

A function body is a straight list of equations in SSA form: every `Eqn` binds
fresh `Var`s from a primitive applied to atoms (`Var` or `Const`).  Static
parameters of a primitive (an axis, keepdims, the layout of an index) live in
`params`, never in `args`; everything a primitive reads at run time is an arg,
so dependency analysis only looks at `args`.

Variables carry a `hint` (the user's name, or "" for temporaries) used by the
emitter to choose readable names, and an optional static `shape` (a tuple of
dims, each an int, a symbol string or None for unknown; or None when even the
rank is unknown).  `static=True` marks Python-level values (ints, shapes,
tuples, booleans) that are never differentiated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Dim = int | str | None
Shape = tuple | None


@dataclass(eq=False)
class Var:
    hint: str = ""
    shape: Shape = None
    static: bool = False

    def __repr__(self) -> str:
        return f"Var({self.hint or '_'}@{id(self) % 10000})"


@dataclass(frozen=True)
class Const:
    value: object

    @property
    def shape(self) -> Shape:
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            return ()
        return None

    @property
    def static(self) -> bool:
        return not isinstance(self.value, float)


Atom = Var | Const


@dataclass(frozen=True)
class Loc:
    line: int
    col: int
    text: str = ""


@dataclass(eq=False)
class Eqn:
    outs: tuple
    prim: str
    args: tuple
    params: dict = field(default_factory=dict)
    loc: Loc | None = None

    @property
    def out(self) -> Var:
        return self.outs[0]


@dataclass(eq=False)
class Loop:
    """`for index in range(start, stop, step)` carrying values from one iteration to the next.

    `params` are the carried values as the body sees them at the start of an
    iteration; `results` their values at its end; `inits` what enters the first
    iteration; `outs` what leaves the last (equal to `inits` when the loop runs
    zero times).  The body may read any variable defined before the loop.
    `reverse=True` iterates the range backwards (adjoint sweeps).
    """

    index: Var
    bounds: tuple  # (start, stop, step) atoms, static ints
    inits: list
    params: list
    body: list
    results: list
    outs: list
    loc: Loc | None = None
    reverse: bool = False
    tapes: list = field(default_factory=list)  # lists created before the loop, filled by `push`

    @property
    def args(self) -> tuple:
        return tuple(self.bounds) + tuple(self.inits)


@dataclass(eq=False)
class Cond:
    """`if pred: ... else: ...`, each branch ending with the values of `outs`."""

    pred: object
    then_body: list
    then_results: list
    else_body: list
    else_results: list
    outs: list
    loc: Loc | None = None

    @property
    def args(self) -> tuple:
        return (self.pred,)


def blocks(stmt):
    """The nested statement lists of a Loop or Cond (none for an Eqn)."""
    if isinstance(stmt, Loop):
        return [stmt.body]
    if isinstance(stmt, Cond):
        return [stmt.then_body, stmt.else_body]
    return []


def block_results(stmt):
    """Atoms each nested block hands back, aligned with `blocks(stmt)`."""
    if isinstance(stmt, Loop):
        return [stmt.results]
    if isinstance(stmt, Cond):
        return [stmt.then_results, stmt.else_results]
    return []


def walk(stmts):
    """Every statement, depth first, nested blocks included."""
    for s in stmts:
        yield s
        for block in blocks(s):
            yield from walk(block)


def blocks_flat(stmt) -> list:
    return [s for block in blocks(stmt) for s in block]


@dataclass(eq=False)
class Function:
    name: str
    params: list  # list[Var]
    defaults: dict  # Var -> Const
    body: list  # list[Eqn]
    result: Atom
    doc: str = ""
    loc: Loc | None = None
    param_locs: dict = field(default_factory=dict)  # Var -> Loc


def is_zero_const(a: Atom) -> bool:
    return isinstance(a, Const) and type(a.value) in (int, float) and a.value == 0


def is_one_const(a: Atom) -> bool:
    return isinstance(a, Const) and type(a.value) in (int, float) and a.value == 1


def uses(stmts) -> dict:
    """Number of times each Var is read, nested blocks and their results included."""
    count: dict = {}
    for s in walk(stmts):
        read = list(s.args) + [a for results in block_results(s) for a in results]
        for a in read:
            if isinstance(a, Var):
                count[a] = count.get(a, 0) + 1
    return count


def verify(fn: Function) -> None:
    """Check SSA form: every var read is defined earlier (or a parameter), defined once."""
    defined = set(fn.params)

    def check_block(stmts, results):
        for s in stmts:
            for a in s.args:
                if isinstance(a, Var) and a not in defined:
                    raise AssertionError(f"{fn.name}: {a} read before definition")
            if isinstance(s, Loop):
                defined.add(s.index)
                defined.update(s.params)
                defined.update(s.tapes)  # created before the loop runs
            for block, inner in zip(blocks(s), block_results(s)):
                check_block(block, inner)
            for o in s.outs:
                if o in defined:
                    raise AssertionError(f"{fn.name}: {o} defined twice")
                defined.add(o)
        for r in results:
            if isinstance(r, Var) and r not in defined:
                raise AssertionError(f"{fn.name}: result {r} undefined")

    check_block(fn.body, [fn.result])
