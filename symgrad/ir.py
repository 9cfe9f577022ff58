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


def uses(eqns) -> dict:
    """Number of times each Var is read by the equations."""
    count: dict = {}
    for e in eqns:
        for a in e.args:
            if isinstance(a, Var):
                count[a] = count.get(a, 0) + 1
    return count


def verify(fn: Function) -> None:
    """Check SSA form: every var read is defined earlier (or a parameter), defined once."""
    defined = set(fn.params)
    for e in fn.body:
        for a in e.args:
            if isinstance(a, Var) and a not in defined:
                raise AssertionError(f"{fn.name}: {a} read before definition in {e.prim}")
        for o in e.outs:
            if o in defined:
                raise AssertionError(f"{fn.name}: {o} defined twice")
            defined.add(o)
    if isinstance(fn.result, Var) and fn.result not in defined:
        raise AssertionError(f"{fn.name}: result {fn.result} undefined")
