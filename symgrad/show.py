"""`symgrad show`: read what symgrad emits for a function, three ways.

- `code`: the emitted defs of f (f, grad_f, value_and_grad_f, vjp_f), byte for
  byte as `symgrad gen` writes them into the module; `highlight` colours them
  with ANSI escapes (stdlib `tokenize` only, no dependency).
- `trace`: the lecture's evaluation trace and adjoint trace, one line per
  primitive of symgrad's IR: `a5 = a4 + a1` for values, `ā5 = -a6` for the
  cotangent of a5, `t1 = ...` for the other temporaries of the adjoint sweep,
  each with the source line it comes from.  The text is valid Python: run with
  NumPy's names (`from numpy import *`) and the parameters bound, it computes
  every value and cotangent it names.
- `graph_dot`: the same program as a Graphviz digraph, one node per trace line
  (evaluation and adjoint clusters), one edge per value a line reads;
  `write_graph` saves it as DOT or renders it with Graphviz's `dot`.

Traces and graphs come from the pipeline `gen` runs: `frontend.translate` with
helpers inlined, then `reverse.reverse` and its dead-code pass, so they show
exactly the program the emitted code computes.  Nothing executes the user's code.
"""

from __future__ import annotations

import io
import keyword
import os
import re
import shutil
import subprocess
import tokenize
from dataclasses import dataclass, field

from .api import generate, select_functions, select_wrt
from .emit import const_text
from .frontend import parse, translate
from .ir import Const, Eqn, Var
from .primitives import PREC_ATOM, PRIMITIVES, Printed, index_text
from .reverse import dead_code, reverse
from .shapes import known

ADJOINT = "\u0101"  # ā, a valid first letter of a Python identifier
RENDER_FORMATS = ("svg", "png", "pdf")
COMMENT_COLUMN = 28


class ShowError(Exception):
    """A request `show` cannot honour (a missing `dot`, an unknown output format)."""


# ---------------------------------------------------------------------- code


def function_names(source: str, path: str, funcs=None) -> list:
    """The functions `funcs` names (default: all of the file's), checked to exist."""
    return select_functions(parse(source, path), funcs)


def code(source: str, path: str, funcs=None, wrt=None, shapes=None) -> str:
    """The emitted defs of each function in `funcs` (default: all), as `gen` writes them."""
    module = generate(source, path, funcs=funcs, wrt=wrt, shapes=shapes)
    names = function_names(source, path, funcs)
    blocks = top_level_defs(module)
    wanted = [
        f"{prefix}{name}"
        for name in names
        for prefix in ("", "grad_", "value_and_grad_", "vjp_")
        if f"{prefix}{name}" in blocks
    ]
    return "\n\n\n".join(blocks[w] for w in wanted) + "\n"


def top_level_defs(module: str) -> dict:
    """Map each top-level `def NAME` of a generated module to its text.

    Generated code is `ruff format`ted: a def runs until the next line that
    starts in column 0.
    """
    blocks: dict = {}
    current: list | None = None
    for line in module.splitlines():
        match = re.match(r"def (\w+)\(", line)
        if match:
            current = [line]
            blocks[match.group(1)] = current
        elif line and not line[0].isspace():
            current = None
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).rstrip() for name, lines in blocks.items()}


# ANSI SGR codes per token class.
COLOURS = {
    "keyword": "1;35",
    "defname": "1;34",
    "builtin": "36",
    "number": "33",
    "string": "32",
    "comment": "90",
}
BUILTINS = {"np", "None", "True", "False", "range", "len", "tuple", "abs"}


def highlight(text: str) -> str:
    """`text` (Python source) with ANSI colours; unchanged if it does not tokenize."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    previous = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token_class(tok, previous)
            if kind is not None:
                begin = starts[tok.start[0] - 1] + tok.start[1]
                end = starts[tok.end[0] - 1] + tok.end[1]
                spans.append((begin, end, COLOURS[kind]))
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                previous = tok
    except (tokenize.TokenError, SyntaxError):
        return text
    out, at = [], 0
    for begin, end, sgr in spans:
        out.append(text[at:begin])
        out.append(f"\x1b[{sgr}m{text[begin:end]}\x1b[0m")
        at = end
    out.append(text[at:])
    return "".join(out)


def token_class(tok, previous) -> str | None:
    if tok.type == tokenize.COMMENT:
        return "comment"
    if tok.type == tokenize.STRING:
        return "string"
    if tok.type == tokenize.NUMBER:
        return "number"
    if tok.type == tokenize.NAME:
        if previous is not None and previous.string == "def":
            return "defname"
        if keyword.iskeyword(tok.string):
            return "keyword"
        if tok.string in BUILTINS:
            return "builtin"
    return None


def use_colour(stream, choice: str = "auto", environ=None) -> bool:
    """Colour when asked to, or, for "auto", on a terminal without NO_COLOR (no-color.org)."""
    if choice != "auto":
        return choice == "always"
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


# ---------------------------------------------------------------------- trace


@dataclass
class Line:
    """One trace line: `name = rhs`, the names it reads, and its source location."""

    name: str
    rhs: str
    reads: list
    loc: object = None


@dataclass
class Trace:
    function: str
    mode: str  # "grad": seeded with 1; "vjp": seeded with the cotangent g
    evaluation: list = field(default_factory=list)
    adjoint: list = field(default_factory=list)
    gradients: list = field(default_factory=list)  # (parameter, name of its cotangent)


TAG = "\x00"  # prefix of the hints `build_trace` gives values; no user name contains it


def build_trace(source: str, path: str, name: str, wrt=None, shapes=None) -> Trace:
    """The evaluation and adjoint traces of function `name`, numbered like the lecture."""
    src = parse(source, path)
    select_functions(src, [name])
    fn = translate(src, name, inline=True, shapes=shapes)
    wrt_names = select_wrt(src, fn, wrt)
    for stmt in fn.body:
        if not isinstance(stmt, Eqn):
            where = f"{path}:{stmt.loc.line}: " if stmt.loc else ""
            raise ShowError(f"{where}traces show straight-line code; {name} has a loop or branch")
    # A unique hint on every value makes reverse call the cotangent of value v
    # "d" + hint(v): that is how the adjoint sweep's cotangents are recognised.
    for k, eqn in enumerate(fn.body):
        for j, out in enumerate(eqn.outs):
            out.hint = f"{TAG}{k}.{j}"
    mode = "grad" if known(getattr(fn.result, "shape", None)) in (None, ()) else "vjp"
    adj = reverse(fn, wrt_names, mode)
    return Tracer(fn, adj, wrt_names).trace(Trace(name, mode))


class Tracer:
    """Names the values of an `Adjoint` a1, a2, ..., their cotangents ā1, ā2, ..., others t1, ..."""

    def __init__(self, fn, adj, wrt_names):
        self.fn, self.adj, self.wrt = fn, adj, wrt_names
        live = dead_code(adj.stmts, [adj.value, *adj.grads])
        self.primal = [e for e in live if id(e) not in adj.adjoint_ids]
        self.adjoint = [e for e in live if id(e) in adj.adjoint_ids]
        self.names: dict = {}
        self.number: dict = {}
        for value in [*adj.params, *(o for e in self.primal for o in e.outs)]:
            self.number[value] = len(self.number) + 1
            self.names[value] = f"a{self.number[value]}"
        by_name = {p.hint: p for p in adj.params}
        self.wrt_params = [by_name[w] for w in wrt_names]

    def cotangent_name(self, value) -> str:
        return f"{ADJOINT}{self.number[value]}"

    def name_cotangents(self) -> None:
        adj, names = self.adj, self.names
        total_of = {e.out.hint[1:]: e.out for e in self.adjoint if e.out.hint.startswith("d" + TAG)}
        for value in self.number:
            total = total_of.get(value.hint)
            if total is not None and total not in names:
                names[total] = self.cotangent_name(value)
        for param, g in zip(self.wrt_params, adj.grads):
            if isinstance(g, Var) and g not in names and g is not adj.seed:
                names[g] = self.cotangent_name(param)

    def trace(self, trace: Trace) -> Trace:
        self.name_cotangents()
        for original, param in zip(self.fn.params, self.adj.params):
            loc = self.fn.param_locs.get(original)
            trace.evaluation.append(Line(self.names[param], param.hint, [], loc))
        trace.evaluation += [trace_line(e, self.names) for e in self.primal]
        trace.adjoint += self.seed_lines()
        temporaries = 0
        for eqn in self.adjoint:
            for out in eqn.outs:
                if out not in self.names:
                    temporaries += 1
                    self.names[out] = f"t{temporaries}"
            trace.adjoint.append(trace_line(eqn, self.names))
        for param, g in zip(self.wrt_params, self.adj.grads):
            own = self.cotangent_name(param)
            if self.names.get(g) != own:
                line = Line(own, atom_text(g, self.names).text, reads_of([g], self.names))
                trace.adjoint.append(line)
            trace.gradients.append((param.hint, own))
        return trace

    def seed_lines(self) -> list:
        """The output's cotangent: g for a vjp, else 1 (unless an equation computes it)."""
        value, seed = self.adj.value, self.adj.seed
        if not (isinstance(value, Var) and value in self.number):
            return []
        name = self.cotangent_name(value)
        if seed is not None:
            self.names[seed] = name
            return [Line(name, "g", [])]
        return [] if name in self.names.values() else [Line(name, "1.0", [])]


def atom_text(atom, names) -> Printed:
    if isinstance(atom, Const):
        return const_text(atom)
    return Printed(names[atom], PREC_ATOM, atom)


def reads_of(atoms, names) -> list:
    return [names[a] for a in atoms if isinstance(a, Var)]


def trace_line(eqn, names) -> Line:
    args = [atom_text(a, names) for a in eqn.args]
    lhs = ", ".join(names[o] for o in eqn.outs)
    if eqn.prim == "unpack":
        rhs = args[0].text
    elif eqn.prim == "scatter":
        g, x, *dyn = args
        rhs = f"zeros_like({x.text}); {lhs}[{index_text(eqn.params['index'], dyn)}] = {g.text}"
    else:
        rhs, _ = PRIMITIVES[eqn.prim].printer(args, eqn.params)
    return Line(lhs, without_np(rhs), reads_of(eqn.args, names), eqn.loc)


def without_np(text: str) -> str:
    """The lecture writes cos(a5), not np.cos(a5)."""
    return re.sub(r"\bnp\.", "", text)


def format_trace(trace: Trace, path: str) -> str:
    seed = "the cotangent g of its output" if trace.mode == "vjp" else "1"
    parts = [
        f"# evaluation trace of {trace.function} ({path}): one line per primitive",
        *located(trace.evaluation),
        "",
        f"# adjoint trace: {ADJOINT}k is the cotangent of ak, seeded with {seed}",
        *located(trace.adjoint),
    ]
    if trace.gradients:
        what = "gradient" if trace.mode == "grad" else "vjp"
        listing = ", ".join(f"{p} -> {g}" for p, g in trace.gradients)
        parts += ["", f"# {what} of {trace.function}: {listing}"]
    return "\n".join(parts) + "\n"


def located(lines) -> list:
    """`name = rhs`, then `# line N: source` (the source text only where the line changes)."""
    out, last = [], None
    for line in lines:
        text = f"{line.name} = {line.rhs}"
        if line.loc is not None:
            where = f"# line {line.loc.line}"
            if line.loc.line != last:
                where += f": {line.loc.text}"
            last = line.loc.line
            text = f"{text.ljust(COMMENT_COLUMN)}  {where}"
        out.append(text)
    return out


# ---------------------------------------------------------------------- graph


def graph_dot(trace: Trace) -> str:
    """The trace as a Graphviz digraph: evaluation and adjoint clusters, values flow upward."""
    ids: dict = {}
    lines = [
        f"digraph {dot_string(trace.function)} {{",
        "  rankdir=BT;",
        '  node [shape=box, style=rounded, fontname="monospace"];',
    ]
    for cluster, label, entries, colour in (
        ("evaluation", "evaluation", trace.evaluation, "white"),
        ("adjoint", "adjoint (reverse mode)", trace.adjoint, "mistyrose"),
    ):
        lines.append(f"  subgraph cluster_{cluster} {{")
        lines.append(f"    label={dot_string(label)};")
        lines.append(f'    node [style="rounded,filled", fillcolor="{colour}"];')
        for entry in entries:
            node = f"n{len(set(ids.values())) + 1}"
            for name in entry.name.split(", "):
                ids[name] = node
            text = f"{entry.name} = {entry.rhs}"
            lines.append(f"    {node} [label={dot_string(text)}];")
        lines.append("  }")
    for entry in trace.evaluation + trace.adjoint:
        target = ids[entry.name.split(", ")[0]]
        for read in dict.fromkeys(entry.reads):
            lines.append(f"  {ids[read]} -> {target};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_graph(dot_text: str, out: str) -> None:
    """Save DOT text to `out`: as is for .dot/.gv, rendered by Graphviz for .svg/.png/.pdf."""
    suffix = os.path.splitext(out)[1].lstrip(".").lower()
    if suffix in ("dot", "gv"):
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(dot_text)
        return
    if suffix not in RENDER_FORMATS:
        raise ShowError(
            f"{out}: cannot tell the graph format; end the name in .dot, .gv, "
            + ", ".join(f".{f}" for f in RENDER_FORMATS)
        )
    program = shutil.which("dot")
    if program is None:
        raise ShowError(
            f"rendering {out} needs Graphviz's `dot`, which is not on PATH; install Graphviz "
            "or write DOT text instead (--graph out.dot, or --graph alone for stdout)"
        )
    result = subprocess.run(
        [program, f"-T{suffix}", "-o", out],
        input=dot_text.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise ShowError(f"dot failed to render {out}: {message}")
