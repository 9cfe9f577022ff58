"""Emit: IR -> Python source that reads like hand-written NumPy.

- A temporary read once, in the same block, is written inline at its use; one
  read several times, or one that would make a line longer than `LINE_LIMIT`,
  gets a name (t1, t2, ...).
- User variables keep their names; the adjoint of `W` is `dW`.  A name is
  reused for a new value once its old value is dead, so `Z = Z * 2` stays so,
  and a loop-carried value keeps one name through the loop.
- Each block of the adjoint sweep starts with a comment naming the source line
  it differentiates.
- The text follows `ruff format` (spacing, `**` hugging, slices) so the
  generated module passes `ruff format --check` without running ruff.
"""

from __future__ import annotations

import keyword
import math

from .errors import InternalError
from .ir import Cond, Const, Eqn, Loop, Var, block_results, blocks, walk
from .primitives import PREC_ATOM, PREC_UNARY, PRIMITIVES, Printed, index_text, literal

LINE_LIMIT = 88
MAX_NESTING = 6
INDENT = "    "
STATEMENT_PRIMS = {"scatter", "scatter_add", "unpack", "push", "inplace"}
AUGMENTED = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "pow": "**="}
UFUNC = {"neg": "negative", "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}
UFUNC["pow"] = "power"


def const_text(c: Const) -> Printed:
    v = c.value
    if isinstance(v, float):
        if v == math.pi:
            return Printed("np.pi", PREC_ATOM, c)
        if v == math.e:
            return Printed("np.e", PREC_ATOM, c)
        if math.isinf(v) or math.isnan(v):
            text = ("np.inf" if v > 0 else "-np.inf") if math.isinf(v) else "np.nan"
            return Printed(text, PREC_UNARY if text.startswith("-") else PREC_ATOM, c)
    if isinstance(v, str):
        return Printed('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"', PREC_ATOM, c)
    text = literal(v)
    return Printed(text, PREC_UNARY if text.startswith("-") else PREC_ATOM, c)


class Namer:
    """Readable, collision-free names; a name is reused once its old value is dead."""

    def __init__(self, reserved, layout, pinned):
        self.reserved = set(reserved) | set(keyword.kwlist) | {"np"}
        self.layout = layout
        self.pinned = set(pinned)  # parameters: their names are never reused
        self.holders: dict[str, list] = {}  # every variable that has had the name
        self.names: dict[Var, str] = {}
        self.preferred: dict[Var, str] = {}
        self.alias: dict[Var, Var] = {}  # a branch result -> the if's output it becomes
        self.temps = 0

    def name(self, var: Var, now: int, path=()) -> str:
        if var in self.names:
            return self.names[var]
        wish = self.preferred.get(var)
        if wish and self.free(wish, now, path, except_var=self.alias.get(var)):
            return self.fix(var, wish)
        base = var.hint if var.hint and var.hint.isidentifier() else ""
        if not base:
            self.temps += 1
            base = f"t{self.temps}"
        candidate, k = base, 0
        while not self.free(candidate, now, path):
            k += 1
            candidate = f"{base}_{k}"
        return self.fix(var, candidate)

    def free(self, name, now, path=(), except_var=None) -> bool:
        """The name holds no value still read after `now` (on a path that can follow it)."""
        if name in self.reserved:
            return False
        return all(
            old is except_var
            or (old not in self.pinned and self.layout.last_read(old, path) <= now)
            for old in self.holders.get(name, ())
        )

    def fix(self, var: Var, name: str) -> str:
        self.holders.setdefault(name, []).append(var)
        self.names[var] = name
        return name


class Layout:
    """Positions of statements (pre-order) and where each variable is last read.

    A read inside a loop of a variable defined before the loop lasts until the
    loop's end: the next iteration reads it again.
    """

    def __init__(self, stmts, outputs, inline_ok):
        self.position: dict[int, int] = {}  # id(stmt) -> position
        self.block_end: dict[int, int] = {}  # id(block list) -> position after its last stmt
        self.def_pos: dict[Var, int] = {}
        self.def_block: dict[Var, int] = {}
        self.defs_args: dict[Var, tuple] = {}
        # (var, position, block id, enclosing loops, reader, branch path)
        self.reads: list[tuple] = []
        self.counter = 0
        self._walk(stmts, [], ())
        end = self.counter + 1
        self.reads.extend((o, end, id(stmts), (), None, ()) for o in outputs if isinstance(o, Var))
        count: dict = {}
        for var, *_ in self.reads:
            count[var] = count.get(var, 0) + 1
        self.count = count
        self.inline = self._choose_inline(inline_ok)
        self.last_use = self._last_use(end)

    def _walk(self, stmts, loops, path):
        """`path` names the branch of each enclosing `if`: ((id(cond), 0 or 1), ...)."""
        for s in stmts:
            self.counter += 1
            pos = self.counter
            self.position[id(s)] = pos
            for a in s.args:
                if isinstance(a, Var):
                    reader = s.outs[0] if isinstance(s, Eqn) and len(s.outs) == 1 else None
                    self.reads.append((a, pos, id(stmts), tuple(loops), reader, path))
            inner_loops = loops + [s] if isinstance(s, Loop) else loops
            if isinstance(s, Loop):
                self.def_pos[s.index] = pos
                for p in s.params:
                    self.def_pos[p] = pos
                    self.def_block[p] = id(s.body)
            for k, (block, results) in enumerate(zip(blocks(s), block_results(s))):
                inner_path = path + ((id(s), k),) if isinstance(s, Cond) else path
                self._walk(block, inner_loops, inner_path)
                self.counter += 1
                self.block_end[id(block)] = self.counter
                for r in results:
                    if isinstance(r, Var):
                        site = (r, self.counter, id(block), tuple(inner_loops), None, inner_path)
                        self.reads.append(site)
            if isinstance(s, Loop):
                self.block_end[id(s)] = self.counter
            for o in s.outs:
                self.def_pos[o] = pos
                self.def_block[o] = id(stmts)
                if isinstance(s, Eqn):
                    self.defs_args[o] = s.args
            for t in getattr(s, "tapes", ()):
                self.def_pos[t] = pos

    def _choose_inline(self, inline_ok) -> dict:
        """Temporaries read once, in the block that defines them, are written inline,
        nested at most MAX_NESTING deep (a long sum of terms gets named parts)."""
        chosen = {}
        for var, pos, block, _loops, reader, _path in self.reads:
            if self.count[var] == 1 and var in inline_ok and self.def_block.get(var) == block:
                chosen[var] = (pos, reader)
        depth: dict = {}
        for var in sorted(chosen, key=lambda v: self.def_pos[v]):
            inner = [depth.get(a, 0) for a in self.defs_args.get(var, ()) if a in chosen]
            depth[var] = 1 + max(inner, default=0)
            if depth[var] > MAX_NESTING:
                del chosen[var]
                depth[var] = 0
        return chosen

    def written_at(self, pos, reader) -> int:
        """Where a read really happens: an inlined reader is written inside its consumer."""
        while reader in self.inline:
            pos, reader = self.inline[reader]
        return pos

    def _last_use(self, end) -> dict:
        """var -> [(position of a read, its branch path)], loops and inlining accounted for."""
        sites: dict = {}
        for var, pos, _block, loops, reader, path in self.reads:
            pos = self.written_at(pos, reader)
            for loop in loops:
                if self.def_pos.get(var, 0) < self.position[id(loop)]:
                    pos = max(pos, self.block_end[id(loop)])
                    break
            sites.setdefault(var, []).append((pos, path))
        return sites

    def last_read(self, var, path=()) -> int:
        """The last read of var that can happen after a point on branch path `path`:
        a read in the other branch of an enclosing `if` cannot."""
        here = dict(path)
        return max(
            (pos for pos, where in self.last_use.get(var, ()) if _compatible(here, where)),
            default=-1,
        )


class FunctionEmitter:
    """Writes one `def` from a list of statements."""

    def __init__(self, reserved, params, defaults, stmts, outputs, adjoint_from=None):
        self.stmts = stmts
        self.outputs = outputs
        self.adjoint = adjoint_from or set()  # ids of statements that belong to the adjoint sweep
        inline_ok = set()
        for s in walk(stmts):
            if isinstance(s, Eqn) and len(s.outs) == 1 and s.prim not in STATEMENT_PRIMS:
                if not s.out.hint:
                    inline_ok.add(s.out)
        for s in walk(stmts):  # a buffer written in place needs a name
            if isinstance(s, Eqn) and s.prim == "inplace":
                inline_ok.discard(s.args[s.params["slot"]])
        self.layout = Layout(stmts, outputs, inline_ok)
        self.inline_vars = set(self.layout.inline)
        self.namer = Namer(reserved, self.layout, params)
        self.path: tuple = ()
        for p in params:
            self.namer.fix(p, p.hint)
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
        text, prec = prim.printer([self.printed(a) for a in e.args], e.params)
        return Printed(text, prec, e.out)

    def pos(self, s) -> int:
        return self.layout.position[id(s)]

    # ------------------------------------------------------------ statements

    def block(self, stmts, indent: str, in_adjoint: bool):
        last_loc = None
        start = len(self.lines)
        for s in stmts:
            adjoint = in_adjoint or id(s) in self.adjoint
            before = len(self.lines)
            self.statement(s, indent, adjoint)
            wrote = len(self.lines) > before
            if adjoint and wrote and s.loc is not None and s.loc != last_loc:
                comment = f"{indent}# line {s.loc.line}: {s.loc.text}"
                if len(comment) > LINE_LIMIT:
                    comment = comment[: LINE_LIMIT - 3].rstrip() + "..."
                self.lines.insert(before, comment)
                if before > start and indent == INDENT:
                    self.lines.insert(before, "")
                last_loc = s.loc
        return len(self.lines) > start

    def statement(self, s, indent: str, in_adjoint: bool):
        if isinstance(s, Loop):
            self.loop(s, indent, in_adjoint)
        elif isinstance(s, Cond):
            self.cond(s, indent, in_adjoint)
        else:
            self.equation(s, indent)

    def equation(self, e: Eqn, indent: str):
        now = self.pos(e)
        text = self.text_of

        if e.prim == "unpack":
            names = ", ".join(self.namer.name(o, now, self.path) for o in e.outs)
            self.write(lambda: f"{indent}{names} = {text(e.args[0])}", e, indent)
        elif e.prim == "push":
            self.write(lambda: f"{indent}{text(e.args[0])}.append({text(e.args[1])})", e, indent)
        elif e.prim == "scatter":
            g, x, *dyn = e.args
            name = self.namer.name(e.out, now, self.path)
            self.write(f"{indent}{name} = np.zeros_like({text(x)})", e, indent)
            self.write(lambda: f"{indent}{name}[{self.index_of(e, dyn)}] = {text(g)}", e, indent)
        elif e.prim == "scatter_add":
            acc, g, *dyn = e.args

            def line():
                index = f"[{self.index_of(e, dyn)}]" if e.params["index"] else ""
                return f"{indent}{text(acc)}{index} += {text(g)}"

            self.write(line, e, indent)
            self.namer.fix(e.out, text(acc))  # the same array, updated in place
        elif e.prim == "inplace":
            target = e.args[e.params["slot"]]
            if target.hint == e.out.hint:  # the buffer keeps its name: `Z += 1`
                self.write(lambda: indent + self.in_place_text(e), e, indent)
                self.namer.fix(e.out, text(target))
            else:  # `Z = np.negative(Q, out=Q)`: Q's buffer, now called Z
                name = self.namer.name(e.out, now, self.path)
                self.write(lambda: f"{indent}{name} = {self.ufunc_text(e)}", e, indent)
        elif e.out in self.inline_vars:
            self.inline[e.out] = e
        else:
            self.assign(e, indent)

    def ufunc_text(self, e: Eqn) -> str:
        op, slot = e.params["op"], e.params["slot"]
        args = ", ".join(self.text_of(a) for a in e.args)
        return f"np.{UFUNC.get(op, op)}({args}, out={self.text_of(e.args[slot])})"

    def in_place_text(self, e: Eqn) -> str:
        op, slot = e.params["op"], e.params["slot"]
        target = self.text_of(e.args[slot])
        if len(e.args) == 1:
            return f"np.{UFUNC.get(op, op)}({target}, out={target})"
        other = self.text_of(e.args[1 - slot])
        if slot == 0 or op in ("add", "mul"):  # a + b == b + a exactly
            return f"{target} {AUGMENTED[op]} {other}"
        return f"np.{UFUNC[op]}({other}, {target}, out={target})"

    def text_of(self, atom) -> str:
        return self.printed(atom).text

    def index_of(self, e: Eqn, dyn) -> str:
        return index_text(e.params["index"], [self.printed(a) for a in dyn])

    def assign(self, e: Eqn, indent: str):
        name = self.namer.name(e.out, self.pos(e), self.path)
        self.write(lambda: f"{indent}{name} = {self.render(e).text}", e, indent)

    def bind_all(self, pairs, indent: str):
        """Assign each (name, atom) as one parallel assignment would.

        An assignment waits while another pending one still reads the name's old
        value; a cycle (a swap) goes through a temporary.
        """
        pending = [(n, a) for n, a in pairs if self.printed(a).text != n]
        while pending:
            for k, (name, atom) in enumerate(pending):
                others = [a for j, (_, a) in enumerate(pending) if j != k]
                if not any(name in self.names_read(a) for a in others):
                    self.write(
                        lambda name=name, atom=atom: f"{indent}{name} = {self.text_of(atom)}",
                        self.inline.get(atom),
                        indent,
                    )
                    del pending[k]
                    break
            else:
                name, atom = pending[0]
                temp = Var(hint=f"{name}_next")
                self.namer.name(temp, self.layout.counter + 1, self.path)
                self.write(f"{indent}{self.namer.names[temp]} = {self.text_of(atom)}", None, indent)
                pending[0] = (name, temp)

    def names_read(self, atom) -> set:
        if isinstance(atom, Const):
            return set()
        if atom in self.inline:
            return set().union(*(self.names_read(a) for a in self.inline[atom].args))
        return {self.namer.names.get(atom)}

    def loop(self, s: Loop, indent: str, in_adjoint: bool):
        now = self.pos(s)
        for t in s.tapes:
            self.write(f"{indent}{self.namer.name(t, now, self.path)} = []", None, indent)
        names = []
        for p, init, result in zip(s.params, s.inits, s.results):
            self.namer.preferred[p] = p.hint if p.hint else ""
            if isinstance(init, Var) and init.hint == p.hint and init not in self.inline:
                self.namer.preferred[p] = self.namer.names.get(init, p.hint)
            name = self.namer.name(p, now, self.path)
            names.append(name)
            if isinstance(result, Var):
                self.namer.preferred[result] = name
        self.bind_all(list(zip(names, s.inits)), indent)
        start, stop, step = (self.printed(b).text for b in s.bounds)
        index = self.namer.name(s.index, now, self.path)
        if step == "1":
            span = f"range({stop})" if start == "0" else f"range({start}, {stop})"
        else:
            span = f"range({start}, {stop}, {step})"
        if s.reverse:
            span = f"reversed({span})"
        self.write(f"{indent}for {index} in {span}:", None, indent)
        inner = indent + INDENT
        wrote = self.block(s.body, inner, in_adjoint)
        before = len(self.lines)
        self.bind_all(list(zip(names, s.results)), inner)
        wrote = wrote or len(self.lines) > before
        if not wrote:
            self.lines.append(f"{inner}pass")
        for name, out in zip(names, s.outs):
            self.namer.fix(out, name)

    def cond(self, s: Cond, indent: str, in_adjoint: bool):
        # the outputs are assigned at the end of each branch, so they may take the name
        # of a value that is last read inside the branches
        end = max(self.layout.block_end[id(s.then_body)], self.layout.block_end[id(s.else_body)])
        names = [self.namer.name(o, end, self.path) for o in s.outs]
        for results in (s.then_results, s.else_results):
            for name, out, r in zip(names, s.outs, results):
                if isinstance(r, Var) and r not in self.namer.names:
                    self.namer.preferred[r] = name
                    self.namer.alias[r] = out
        self.write(f"{indent}if {self.printed(s.pred).text}:", None, indent)
        inner = indent + INDENT
        for k, (body, results) in enumerate(
            ((s.then_body, s.then_results), (s.else_body, s.else_results))
        ):
            if k == 1:
                if not body and all(self._same(n, r) for n, r in zip(names, results)):
                    break
                self.lines.append(f"{indent}else:")
            before = len(self.lines)
            outer_path, self.path = self.path, self.path + ((id(s), k),)
            self.block(body, inner, in_adjoint)
            self.bind_all(list(zip(names, results)), inner)
            self.path = outer_path
            if len(self.lines) == before:
                self.lines.append(f"{inner}pass")

    def _same(self, name, atom) -> bool:
        return isinstance(atom, Var) and self.namer.names.get(atom) == name

    def write(self, line, e, indent: str):
        """Append a line, naming inlined subexpressions first while it is too long.

        `line` is the text, or a function that writes it again once a
        subexpression has been given a name.
        """
        make = line if callable(line) else (lambda: line)
        text = make()
        while len(text) > LINE_LIMIT and isinstance(e, Eqn) and callable(line):
            victim = self.longest_inlined(e)
            if victim is None:
                break
            self.assign(self.inline.pop(victim), indent)
            text = make()
        self.lines.append(text)

    def longest_inlined(self, e: Eqn):
        best, best_len = None, -1
        for a in e.args:
            if isinstance(a, Var) and a in self.inline:
                n = len(self.render(self.inline[a]).text)
                if n > best_len:
                    best, best_len = a, n
        return best

    # ------------------------------------------------------------ the def

    def emit(self, name: str, doc: str, returns: str) -> list[str]:
        signature = []
        for p in self.params:
            text = p.hint
            if p in self.defaults:
                text += "=" + const_text(self.defaults[p]).text
            signature.append(text)
        out = [f"def {name}({', '.join(signature)}):"]
        if doc:
            out.append(f'{INDENT}"""{doc}"""')
        self.block(self.stmts, INDENT, False)
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
                    self.assign(self.inline.pop(o), INDENT)
            parts = [self.printed(o).text for o in self.outputs]
            line = INDENT + "return " + template.format(*parts)
        return line


def _compatible(here: dict, path) -> bool:
    return all(here.get(cond, k) == k for cond, k in path)


def sanitize_doc(doc: str) -> str:
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if '"' in first or "\\" in first or len(first) > LINE_LIMIT - 10:
        return ""
    return first
