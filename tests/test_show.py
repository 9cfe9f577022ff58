"""`symgrad show`: emitted code, the lecture-style traces, and the computational graph.

The traces are checked against the lecture's worked example, y2 = cos(w1 x + w0)
(evaluation a1..a7, adjoint ā7..ā1), line by line and by running them: the
trace text is Python, so executing it must give the derivatives the lecture
derives by hand, and, for the MLP, the gradient the generated module computes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close, load_module, numeric_grad, numeric_vjp

from symgrad import generate
from symgrad import show as sh

REPO_ROOT = Path(__file__).resolve().parents[1]
MLP = REPO_ROOT / "examples" / "mlp.py"
TIMEOUT = 60
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The lecture's reverse-mode example: y1 is computed (a6) and its value reused by
# the adjoint of y2, exactly as on the slide.
LECTURE_SRC = """\
import numpy as np


def y2(w0: float, w1: float, x: float):
    y1 = np.sin(w1 * x + w0)
    return np.cos(w1 * x + w0)
"""

LECTURE_EVALUATION = [
    "a1 = w0",
    "a2 = w1",
    "a3 = x",
    "a4 = a2 * a3",
    "a5 = a4 + a1",
    "a6 = sin(a5)",
    "a7 = cos(a5)",
]

VECTOR_SRC = """\
import numpy as np


def f(x: "3", w: "3"):
    return np.sin(x) * w
"""


def run(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "symgrad", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        env=env,
    )


def statements(trace_text: str) -> list[str]:
    """Trace lines without their `# line N` comments and without blank or comment lines."""
    out = []
    for line in trace_text.splitlines():
        code = line.split("#", 1)[0].strip()
        if code:
            out.append(code)
    return out


def execute(trace_text: str, **bindings) -> dict:
    namespace: dict = {}
    exec("from numpy import *", namespace)
    namespace.update(bindings)
    exec(compile(trace_text, "<trace>", "exec"), namespace)
    return namespace


@pytest.fixture
def lecture_file(tmp_path):
    path = tmp_path / "lecture.py"
    path.write_text(LECTURE_SRC)
    return path


# ---------------------------------------------------------------- traces


def test_evaluation_trace_is_the_lectures():
    trace = sh.build_trace(LECTURE_SRC, "lecture.py", "y2")
    assert [f"{line.name} = {line.rhs}" for line in trace.evaluation] == LECTURE_EVALUATION
    assert [line.loc.line for line in trace.evaluation[3:]] == [5, 5, 5, 6]


def test_adjoint_trace_has_the_lectures_lines():
    text = sh.format_trace(sh.build_trace(LECTURE_SRC, "lecture.py", "y2"), "lecture.py")
    lines = statements(text)
    adjoint = lines[len(LECTURE_EVALUATION) :]
    assert adjoint[0] == "ā7 = 1.0"  # the seed: dy2/dy2
    assert "ā5 = -a6" in adjoint  # ā6 cos(a5) - ā7 sin(a5), with ā6 = 0 and ā7 = 1
    assert adjoint[-1] == "ā1 = ā5"  # a5 = a4 + a1 passes ā5 to a1 unchanged
    assert "# gradient of y2: w0 -> ā1, w1 -> ā2, x -> ā3" in text
    defined = [line.split(" = ")[0] for line in adjoint]
    assert defined.index("ā5") < defined.index("ā2")  # reverse order: ā5 before its inputs


def test_adjoint_trace_computes_the_lectures_derivatives():
    text = sh.format_trace(sh.build_trace(LECTURE_SRC, "lecture.py", "y2"), "lecture.py")
    w0, w1, x = 0.3, -1.7, 0.9
    ns = execute(text, w0=w0, w1=w1, x=x)
    s = math.sin(w1 * x + w0)
    assert ns["a7"] == pytest.approx(math.cos(w1 * x + w0))
    assert ns["ā5"] == pytest.approx(-s)
    assert ns["ā1"] == pytest.approx(-s)  # dy2/dw0
    assert ns["ā2"] == pytest.approx(-x * s)  # dy2/dw1
    assert ns["ā3"] == pytest.approx(-w1 * s)  # dy2/dx


def test_trace_line_per_primitive_with_source_lines():
    text = sh.format_trace(sh.build_trace(LECTURE_SRC, "lecture.py", "y2"), "lecture.py")
    rows = text.splitlines()
    a4 = next(r for r in rows if r.startswith("a4 = "))
    a5 = next(r for r in rows if r.startswith("a5 = "))
    a7 = next(r for r in rows if r.startswith("a7 = "))
    assert a4.endswith("# line 5: y1 = np.sin(w1 * x + w0)")
    assert a5.endswith("# line 5")  # same source line: the text is not repeated
    assert a7.endswith("# line 6: return np.cos(w1 * x + w0)")
    assert len(statements(text)) == len(set(statements(text)))


def test_mlp_trace_computes_the_generated_gradient():
    source = MLP.read_text()
    text = sh.format_trace(sh.build_trace(source, "mlp.py", "cost", ["W", "V"]), "mlp.py")
    rng = np.random.default_rng(0)
    args = {
        "X": rng.normal(size=(6, 3)),
        "Y": np.eye(5)[rng.integers(0, 5, size=6)],
        "W": rng.normal(size=(4, 5)),
        "V": rng.normal(size=(3, 4)),
    }
    ns = execute(text, **args)
    module = load_module(generate(source, "mlp.py", funcs=["cost"], wrt=["W", "V"]))
    dW, dV = module.grad_cost(**args)
    assert "# gradient of cost: W -> ā3, V -> ā4" in text
    assert_close(ns["ā3"], dW, rtol=1e-12, atol=1e-14, what="dW")
    assert_close(ns["ā4"], dV, rtol=1e-12, atol=1e-14, what="dV")
    values = list(args.values())
    assert_close(ns["ā4"], numeric_grad(module.cost, values, 3), rtol=1e-5, atol=1e-8)


def test_trace_of_a_vector_function_is_seeded_with_g():
    trace = sh.build_trace(VECTOR_SRC, "vec.py", "f")
    text = sh.format_trace(trace, "vec.py")
    assert trace.mode == "vjp"
    assert "ā4 = g" in statements(text)
    rng = np.random.default_rng(1)
    x, w, g = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    ns = execute(text, x=x, w=w, g=g)

    def f(x, w):
        return np.sin(x) * w

    assert_close(ns["ā1"], numeric_vjp(f, [x, w], 0, g), rtol=1e-6, what="x")
    assert_close(ns["ā2"], numeric_vjp(f, [x, w], 1, g), rtol=1e-6, what="w")


def test_trace_wrt_subset_names_only_those_gradients():
    text = sh.format_trace(sh.build_trace(LECTURE_SRC, "l.py", "y2", ["w1"]), "l.py")
    assert "# gradient of y2: w1 -> ā2" in text
    assert not any(line.startswith(("ā1 =", "ā3 =")) for line in statements(text))


# ---------------------------------------------------------------- code


def test_code_is_the_emitted_defs_of_the_function():
    source = MLP.read_text()
    module = generate(source, "mlp.py", funcs=["cost"], wrt=["W", "V"])
    text = sh.code(source, "mlp.py", ["cost"], ["W", "V"])
    heads = re.findall(r"^def (\w+)\(", text, flags=re.M)
    assert heads == ["cost", "grad_cost", "value_and_grad_cost", "vjp_cost"]
    for block in text.split("\n\n\n"):
        assert block.strip() in module
    # the helpers of the module (logistic, logsumexp) are not the function's code
    assert "def logistic" not in text


def test_highlight_only_adds_colour():
    text = sh.code(MLP.read_text(), "mlp.py", ["cost"], ["W", "V"])
    coloured = sh.highlight(text)
    assert coloured != text
    assert ANSI.sub("", coloured) == text
    assert "\x1b[1;35mdef\x1b[0m \x1b[1;34mgrad_cost\x1b[0m" in coloured
    assert "\x1b[90m# line" in coloured  # comments
    assert "\x1b[32m'# not a comment'\x1b[0m" in sh.highlight("x = '# not a comment'\n")


def test_highlight_leaves_untokenizable_text_alone():
    assert sh.highlight('x = """never closed\n') == 'x = """never closed\n'


class Terminal:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize(
    "tty, choice, environ, expected",
    [
        (True, "auto", {}, True),
        (False, "auto", {}, False),
        (True, "auto", {"NO_COLOR": "1"}, False),
        (True, "auto", {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (True, "auto", {"TERM": "dumb"}, False),
        (False, "always", {"NO_COLOR": "1"}, True),
        (True, "never", {}, False),
    ],
)
def test_use_colour(tty, choice, environ, expected):
    assert sh.use_colour(Terminal(tty), choice, environ) is expected


# ---------------------------------------------------------------- graph


def parse_dot(text: str):
    """A small reader for the DOT we write: node ids -> labels, and edges."""
    lines = text.strip().splitlines()
    assert re.fullmatch(r'digraph "[^"]+" \{', lines[0]), lines[0]
    assert lines[-1] == "}"
    assert text.count("{") == text.count("}")
    nodes, edges = {}, []
    for line in lines[1:-1]:
        node = re.fullmatch(r'\s*(n\d+) \[label="((?:[^"\\]|\\.)*)"\];', line)
        edge = re.fullmatch(r"\s*(n\d+) -> (n\d+);", line)
        if node:
            assert node.group(1) not in nodes, f"node {node.group(1)} declared twice"
            nodes[node.group(1)] = node.group(2)
        elif edge:
            edges.append(edge.groups())
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} -> {b} to an undeclared node"
    return nodes, edges


def test_graph_of_the_lecture_example():
    trace = sh.build_trace(LECTURE_SRC, "lecture.py", "y2")
    nodes, edges = parse_dot(sh.graph_dot(trace))
    assert len(nodes) == len(trace.evaluation) + len(trace.adjoint) == 14
    node_of = {label.split(" = ")[0]: node for node, label in nodes.items()}
    assert nodes[node_of["a4"]] == "a4 = a2 * a3"
    for source, target in [("a2", "a4"), ("a3", "a4"), ("a4", "a5"), ("a1", "a5"), ("a5", "a7")]:
        assert (node_of[source], node_of[target]) in edges
    assert (node_of["a6"], node_of["ā5"]) in edges  # the adjoint reads the stored sin(a5)
    assert (node_of["ā5"], node_of["ā1"]) in edges
    reads = sum(len(set(line.reads)) for line in trace.evaluation + trace.adjoint)
    assert len(edges) == reads


def test_graph_separates_evaluation_and_adjoint():
    text = sh.graph_dot(sh.build_trace(LECTURE_SRC, "lecture.py", "y2"))
    evaluation = text[text.index("cluster_evaluation") : text.index("cluster_adjoint")]
    adjoint = text[text.index("cluster_adjoint") :]
    assert "a7 = cos(a5)" in evaluation and "ā" not in evaluation
    assert "ā7 = 1.0" in adjoint


# ---------------------------------------------------------------- command line


def test_cli_trace(lecture_file):
    proc = run("show", lecture_file.name, "--func", "y2", "--trace", cwd=lecture_file.parent)
    assert proc.returncode == 0, proc.stderr
    expected = sh.format_trace(sh.build_trace(LECTURE_SRC, "lecture.py", "y2"), "lecture.py")
    assert proc.stdout == expected
    assert "\x1b[" not in proc.stdout  # piped: plain


def test_cli_code_plain_when_piped_coloured_when_asked(lecture_file):
    plain = run("show", lecture_file.name, cwd=lecture_file.parent)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == sh.code(LECTURE_SRC, "lecture.py")
    coloured = run("show", lecture_file.name, "--color", "always", cwd=lecture_file.parent)
    assert coloured.returncode == 0, coloured.stderr
    assert "\x1b[" in coloured.stdout
    assert ANSI.sub("", coloured.stdout) == plain.stdout


def test_cli_graph_to_stdout_and_to_a_dot_file(lecture_file):
    cwd = lecture_file.parent
    proc = run("show", lecture_file.name, "--graph", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    nodes, _ = parse_dot(proc.stdout)
    assert len(nodes) == 14
    proc = run("show", lecture_file.name, "--graph", "g.dot", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert (cwd / "g.dot").read_text(encoding="utf-8") == sh.graph_dot(
        sh.build_trace(LECTURE_SRC, "lecture.py", "y2")
    )


def path_without_dot(tmp_path) -> dict:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return {**os.environ, "PATH": str(empty)}


def test_cli_graph_svg_without_graphviz_is_a_clean_error(lecture_file, tmp_path):
    env = path_without_dot(tmp_path)
    proc = run("show", lecture_file.name, "--graph", "g.svg", cwd=lecture_file.parent, env=env)
    assert proc.returncode == 2
    assert "Graphviz" in proc.stderr and "dot" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (lecture_file.parent / "g.svg").exists()


def test_cli_graph_svg_runs_dot(lecture_file, tmp_path):
    """A stand-in `dot` records how it was called and writes what it read."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys
            args = sys.argv[1:]
            data = sys.stdin.read()
            with open(args[args.index("-o") + 1], "w", encoding="utf-8") as out:
                out.write(" ".join(args[:1]) + "\\n" + data)
            """
        )
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": str(bin_dir)}
    proc = run("show", lecture_file.name, "--graph", "g.svg", cwd=lecture_file.parent, env=env)
    assert proc.returncode == 0, proc.stderr
    written = (lecture_file.parent / "g.svg").read_text(encoding="utf-8")
    first, dot_text = written.split("\n", 1)
    assert first == "-Tsvg"
    assert dot_text == sh.graph_dot(sh.build_trace(LECTURE_SRC, "lecture.py", "y2"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_cli_graph_svg_with_graphviz(lecture_file):
    proc = run("show", lecture_file.name, "--graph", "g.svg", cwd=lecture_file.parent)
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in (lecture_file.parent / "g.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--graph", "g.txt"], "cannot tell the graph format"),
        (["--func", "nope"], "function 'nope' is not defined"),
        (["--wrt", "q", "--trace"], "has no parameter 'q'"),
        (["--trace", "--graph"], "not allowed with argument"),
    ],
)
def test_cli_show_bad_requests_exit_2(lecture_file, args, message):
    proc = run("show", lecture_file.name, *args, cwd=lecture_file.parent)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_graph_needs_one_function(tmp_path):
    (tmp_path / "mlp.py").write_text(MLP.read_text())
    proc = run("show", "mlp.py", "--graph", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--graph draws one function" in proc.stderr and "logistic" in proc.stderr
    proc = run("show", "mlp.py", "--func", "cost", "--graph", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    parse_dot(proc.stdout)


LOOP_SRC = """\
import numpy as np


def f(w: "3", x: "3"):
    h = x
    for t in range(3):
        h = np.tanh(w * h)
    return np.sum(h)
"""


def test_trace_of_a_loop_is_a_clean_refusal_but_its_code_shows(tmp_path):
    (tmp_path / "loop.py").write_text(LOOP_SRC)
    for view in (["--trace"], ["--graph"]):
        proc = run("show", "loop.py", *view, cwd=tmp_path)
        assert proc.returncode == 2
        assert "loop.py:6: traces show straight-line code; f has a loop or branch" in proc.stderr
    proc = run("show", "loop.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "def grad_f(w, x):" in proc.stdout
