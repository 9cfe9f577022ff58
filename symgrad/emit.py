"""Emit: IR -> Python source that reads like hand-written NumPy.

- A temporary read once is written inline at its use; one read several times,
  or one that would make a line longer than `LINE_LIMIT`, gets a name (t1, t2, ...).
- User variables keep their names; the adjoint of `W` is `dW`.  A name is
  reused for a new value once its old value is dead, so `Z = Z * 2` stays so.
- Each block of the adjoint sweep starts with a comment naming the source line
  it differentiates.
- The text follows `ruff format` (spacing, `**` hugging, slices) so the
  generated module passes `ruff format --check` without running ruff.
"""

from __future__ import annotations

import keyword
import math
import re

from .errors import InternalError
from .ir import Const, Eqn, Var, uses
from .primitives import (
    PREC_ATOM,
    PREC_UNARY,
    PRIMITIVES,
    Printed,
    index_text,
    literal,
    shape_text,
)

LINE_LIMIT = 88
INDENT = "    "


def const_text(c: Const) -> Printed:
    v = c.value
    if isinstance(v, float):
        if v == math.pi:
            return Printed("np.pi", PREC_ATOM, c)
        if v == math.e:
            return Printed("np.e", PREC_ATOM, c)
        if math.isinf(v) or math.isnan(v):
            text = {True: "np.inf", False: "-np.inf"}[v > 0] if math.isinf(v) else "np.nan"
            return Printed(text, PREC_UNARY if text.startswith("-") else PREC_ATOM, c)
    if isinstance(v, str):
        return Printed('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"', PREC_ATOM, c)
    text = literal(v)
    prec = PREC_UNARY if text.startswith("-") else PREC_ATOM
    return Printed(text, prec, c)


class Namer:
    """Readable, collision-free names; a name is reused once its old value is dead."""

    def __init__(self, reserved):
        self.reserved = set(reserved) | set(keyword.kwlist) | {"np"}
        self.holder: dict[str, Var] = {}
        self.names: dict[Var, str] = {}
        self.temps = 0

    def name(self, var: Var, last_use: dict, now: int) -> str:
        if var in self.names:
            return self.names[var]
        base = var.hint if var.hint and var.hint.isidentifier() else ""
        if not base:
            self.temps += 1
            base = f"t{self.temps}"
        candidate, k = base, 0
        while not self.free(candidate, last_use, now):
            k += 1
            candidate = f"{base}_{k}"
        self.holder[candidate] = var
        self.names[var] = candidate
        return candidate

    def free(self, name, last_use, now) -> bool:
        if name in self.reserved:
            return False
        old = self.holder.get(name)
        return old is None or last_use.get(old, -1) <= now

    def fix(self, var: Var, name: str):
        self.holder[name] = var
        self.names[var] = name


class FunctionEmitter:
    """Writes one `def` from a list of equations."""

    def __init__(self, reserved, params, defaults, eqns, outputs, boundary=None):
        self.eqns = eqns
        self.outputs = outputs
        self.boundary = boundary  # eqns at and after this index belong to the adjoint sweep
        self.count = uses(eqns)
        for o in outputs:
            if isinstance(o, Var):
                self.count[o] = self.count.get(o, 0) + 1
        self.inline_set = {e.out for e in eqns if self.inlinable(e)}
        self.last_use = self.effective_last_use()
        for o in outputs:
            if isinstance(o, Var):
                self.last_use[o] = len(eqns) + 1
        self.namer = Namer(reserved)
        for p in params:
            self.namer.fix(p, p.hint)
            self.last_use.setdefault(p, len(eqns) + 1)
            self.last_use[p] = len(eqns) + 1  # never reuse a parameter's name
        self.params = params
        self.defaults = defaults
        self.inline: dict[Var, Eqn] = {}
        self.lines: list[str] = []
        self.helpers: set[str] = set()

    # ------------------------------------------------------------ expressions

    def printed(self, a) -> Printed:
        if isinstance(a, Const):
            return const_text(a)
        if a in self.inline:
            return self.render(self.inline[a])
        if a not in self.namer.names:
            raise InternalError(f"variable {a} used before it was named")
        return Printed(self.namer.names[a], PREC_ATOM, a)

    def render(self, e: Eqn) -> Printed:
        prim = PRIMITIVES[e.prim]
        if prim.helper:
            self.helpers.add(prim.helper)
        if e.prim in ("unbroadcast",):
            self.helpers.add("_unbroadcast")
        text, prec = prim.printer([self.printed(a) for a in e.args], e.params)
        return Printed(text, prec, e.out)

    # ------------------------------------------------------------ statements

    def inlinable(self, e: Eqn) -> bool:
        if len(e.outs) != 1 or e.prim in ("scatter", "unpack"):
            return False
        return not e.out.hint and self.count.get(e.out, 0) == 1

    def effective_last_use(self) -> dict:
        """Index of the statement whose text last reads each variable.

        An inlined temporary is read where its consumer is written, so its
        arguments live until then; name reuse must respect that.
        """
        consumer = {}
        for j, e in enumerate(self.eqns):
            for a in e.args:
                if isinstance(a, Var):
                    consumer[a] = j
        written_at = {}
        for j in range(len(self.eqns) - 1, -1, -1):
            out = self.eqns[j].outs[0]
            if out in self.inline_set:
                written_at[j] = written_at[consumer[out]] if out in consumer else len(self.eqns) + 1
            else:
                written_at[j] = j
        last = {}
        for j, e in enumerate(self.eqns):
            for a in e.args:
                if isinstance(a, Var) and a not in self.inline_set:
                    last[a] = max(last.get(a, -1), written_at[j])
        return last

    def statement(self, e: Eqn, index: int, indent: str):
        if e.prim == "unpack":
            names = [self.namer.name(o, self.last_use, index) for o in e.outs]
            source = self.printed(e.args[0]).text
            self.write(f"{indent}{', '.join(names)} = {source}", e, index, indent)
            return
        if e.prim == "scatter":
            g, x, *dyn = [self.printed(a) for a in e.args]
            name = self.namer.name(e.out, self.last_use, index)
            self.write(f"{indent}{name} = np.zeros_like({x.text})", e, index, indent)
            self.write(
                f"{indent}{name}[{index_text(e.params['index'], dyn)}] = {g.text}", e, index, indent
            )
            return
        if e.out in self.inline_set:
            self.inline[e.out] = e
            return
        rhs = self.render(e).text
        name = self.namer.name(e.out, self.last_use, index)
        self.write(f"{indent}{name} = {rhs}", e, index, indent)

    def write(self, line: str, e: Eqn | None, index: int, indent: str):
        """Append a line, naming inlined subexpressions first while it is too long."""
        while len(line) > LINE_LIMIT and e is not None:
            victim = self.longest_inlined(e)
            if victim is None:
                break
            sub = self.inline.pop(victim)
            self.statement_named(sub, index, indent)
            line = self.rebuild(line, e, indent)
        self.lines.append(line)

    def rebuild(self, line, e, indent):
        if e.prim in ("unpack", "scatter"):
            return line
        return (
            f"{indent}{self.namer.names[e.out]} = {self.render(e).text}"
            if e.out in self.namer.names
            else line
        )

    def statement_named(self, e: Eqn, index: int, indent: str):
        rhs = self.render(e).text
        name = self.namer.name(e.out, self.last_use, index)
        self.write(f"{indent}{name} = {rhs}", e, index, indent)

    def longest_inlined(self, e: Eqn):
        best, best_len = None, -1
        stack = [a for a in e.args if isinstance(a, Var) and a in self.inline]
        while stack:
            v = stack.pop()
            n = len(self.render(self.inline[v]).text)
            if n > best_len:
                best, best_len = v, n
        return best

    # ------------------------------------------------------------ the def

    def emit(self, name: str, doc: str, returns: str) -> list[str]:
        signature = []
        for p in self.params:
            text = p.hint
            if p in self.defaults:
                text += "=" + const_text(self.defaults[p]).text
            signature.append(text)
        head = f"def {name}({', '.join(signature)}):"
        out = [head]
        if doc:
            out.append(f'{INDENT}"""{doc}"""')
        last_loc = None
        for i, e in enumerate(self.eqns):
            before = len(self.lines)
            in_adjoint = self.boundary is not None and i >= self.boundary
            self.statement(e, i, INDENT)
            if in_adjoint and len(self.lines) > before and e.loc is not None and e.loc != last_loc:
                comment = f"{INDENT}# line {e.loc.line}: {e.loc.text}"
                if len(comment) > LINE_LIMIT:
                    comment = comment[: LINE_LIMIT - 3].rstrip() + "..."
                self.lines.insert(before, comment)
                if before > 0:
                    self.lines.insert(before, "")
                last_loc = e.loc
        ret = self.returns(returns)
        out.extend(self.lines)
        out.append(ret)
        return out

    def returns(self, template: str) -> str:
        parts = [self.printed(o).text for o in self.outputs]
        line = INDENT + "return " + template.format(*parts)
        if len(line) > LINE_LIMIT:
            for o in self.outputs:
                if isinstance(o, Var) and o in self.inline:
                    self.statement_named(self.inline.pop(o), len(self.eqns), INDENT)
            parts = [self.printed(o).text for o in self.outputs]
            line = INDENT + "return " + template.format(*parts)
        return line


def sanitize_doc(doc: str) -> str:
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if '"' in first or "\\" in first or len(first) > LINE_LIMIT - 10:
        return ""
    return first


def shape_of_text(p: Printed) -> str:
    return shape_text(p)


_NUMBER = re.compile(r"-?\d")
