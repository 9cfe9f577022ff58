"""End-to-end tests of the ``symgrad gen`` command line, run as a subprocess.

Every test drives ``python -m symgrad`` (so no console script is needed) in a
fresh ``tmp_path``; one test checks the installed ``symgrad`` script when it
exists. The input file must only ever be read and parsed, never executed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close, load_module, numeric_grad

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60

# ``PATH:LINE:COL: error: WHAT``
ERROR_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>\S.*)$")

COST_SRC = """\
import numpy as np


def cost(w, X, y):
    r = X @ w - y
    return 0.5 * np.mean(r ** 2)
"""

TWO_FUNCS_SRC = """\
import numpy as np


def cost(w, X, y):
    r = X @ w - y
    return 0.5 * np.mean(r ** 2)


def other(a, b):
    return np.sum(a * b + a ** 2)
"""


def reference_cost(w, X, y):
    r = X @ w - y
    return 0.5 * np.mean(r**2)


def reference_other(a, b):
    return np.sum(a * b + a**2)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def run_cli(*args, cwd):
    """Run ``python -m symgrad ARGS`` in ``cwd`` with a 60 s timeout."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # let a stray import leave a trace
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return subprocess.run(
        [sys.executable, "-m", "symgrad", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def write_src(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def listing(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def error_lines(stderr):
    return [m for m in map(ERROR_LINE.match, stderr.splitlines()) if m]


def assert_no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


def assert_ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    assert_no_traceback(proc)


def header_of(text):
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def imported_top_modules(text):
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in generated module"
            names.add(node.module.split(".")[0])
    return names


def cost_data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=5)


def check_cost_grads(grads, args, indices):
    assert isinstance(grads, tuple), type(grads)
    assert len(grads) == len(indices)
    for got, index in zip(grads, indices, strict=True):
        expected = numeric_grad(reference_cost, args, index)
        assert_close(got, expected, rtol=1e-5, atol=1e-6, what=f"arg {index}")


def assert_user_error(proc, tmp_path, src, before, out=None, line=None, single=False):
    """Exit 2, well-formed ``PATH:LINE:COL: error:`` line(s), nothing written."""
    assert proc.returncode == 2, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    assert_no_traceback(proc)
    errors = error_lines(proc.stderr)
    assert errors, f"no PATH:LINE:COL: error: line in stderr:\n{proc.stderr}"
    first = proc.stderr.splitlines()[0]
    assert ERROR_LINE.match(first), f"first stderr line is not an error: {first!r}"
    for m in errors:
        assert (tmp_path / m["path"]).resolve() == src.resolve(), m.group(0)
        assert int(m["line"]) >= 1, m.group(0)
    if line is not None:
        reported = [int(m["line"]) for m in errors]
        assert line in reported, f"expected line {line}, got {reported}:\n{proc.stderr}"
    if single:
        assert len(errors) == 1, proc.stderr
    assert listing(tmp_path) == before, "something was written on error"
    if out is not None:
        assert not out.exists()
    return errors


# --------------------------------------------------------------------------
# help / entry points
# --------------------------------------------------------------------------


def test_help(tmp_path):
    proc = run_cli("--help", cwd=tmp_path)
    assert_ok(proc)
    assert "gen" in proc.stdout


def test_gen_help(tmp_path):
    proc = run_cli("gen", "--help", cwd=tmp_path)
    assert_ok(proc)
    for option in ("--func", "--wrt", "--force", "-o"):
        assert option in proc.stdout, option


def test_console_script(tmp_path):
    exe = shutil.which("symgrad")
    if exe is None:
        pytest.skip("symgrad console script not installed")
    proc = subprocess.run(
        [exe, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert_ok(proc)
    assert "gen" in proc.stdout
    src = write_src(tmp_path, COST_SRC)
    proc = subprocess.run(
        [exe, "gen", str(src), "-o", "-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert_ok(proc)
    assert hasattr(load_module(proc.stdout), "grad_cost")


# --------------------------------------------------------------------------
# success paths
# --------------------------------------------------------------------------


def test_gen_writes_working_module(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    out = tmp_path / "out_grad.py"
    before = listing(tmp_path)
    proc = run_cli("gen", src, "-o", out, cwd=tmp_path)
    assert_ok(proc)
    assert out.is_file()
    # exactly the output appeared: no temp files, no __pycache__
    assert listing(tmp_path) == sorted(before + [out.name])

    text = out.read_text()
    mod = load_module(text)
    for name in ("cost", "grad_cost", "value_and_grad_cost", "vjp_cost"):
        assert callable(getattr(mod, name, None)), name

    args = cost_data()
    w, X, y = args
    assert np.isclose(mod.cost(w, X, y), reference_cost(w, X, y))

    grads = mod.grad_cost(w, X, y)
    check_cost_grads(grads, args, [0, 1, 2])

    value, grads2 = mod.value_and_grad_cost(w, X, y)
    assert np.isclose(value, reference_cost(w, X, y))
    check_cost_grads(grads2, args, [0, 1, 2])

    g = 1.7
    vjps = mod.vjp_cost(w, X, y, g)
    assert isinstance(vjps, tuple) and len(vjps) == 3
    for got, base in zip(vjps, grads, strict=True):
        assert_close(got, g * np.asarray(base), rtol=1e-10, atol=1e-12, what="vjp")


def test_generated_module_imports_only_numpy_and_stdlib(tmp_path):
    src = write_src(tmp_path, TWO_FUNCS_SRC)
    proc = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    assert_ok(proc)
    allowed = {"numpy", "__future__"} | set(sys.stdlib_module_names)
    imported = imported_top_modules(proc.stdout)
    assert imported <= allowed, imported - allowed
    assert src.stem not in imported


def test_stdout_output_writes_nothing(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    before = listing(tmp_path)
    proc = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    assert_ok(proc)
    assert listing(tmp_path) == before
    mod = load_module(proc.stdout)
    args = cost_data(1)
    check_cost_grads(mod.grad_cost(*args), args, [0, 1, 2])
    # what is printed is the module that would be written
    out = tmp_path / "written.py"
    assert_ok(run_cli("gen", src, "-o", out, cwd=tmp_path))
    assert out.read_text() == proc.stdout


def test_default_output_path_is_beside_source(tmp_path):
    srcdir = tmp_path / "src"
    workdir = tmp_path / "work"
    srcdir.mkdir()
    workdir.mkdir()
    src = write_src(srcdir, COST_SRC, name="loss.py")
    proc = run_cli("gen", src, cwd=workdir)
    assert_ok(proc)
    out = srcdir / "loss_grad.py"
    assert out.is_file()
    assert listing(srcdir) == ["loss.py", "loss_grad.py"]
    assert listing(workdir) == []
    assert hasattr(load_module(out.read_text()), "grad_cost")


def test_default_output_with_relative_path(tmp_path):
    write_src(tmp_path, COST_SRC, name="loss.py")
    proc = run_cli("gen", "loss.py", cwd=tmp_path)
    assert_ok(proc)
    assert (tmp_path / "loss_grad.py").is_file()


def test_func_selects_one_function(tmp_path):
    src = write_src(tmp_path, TWO_FUNCS_SRC)
    proc = run_cli("gen", src, "--func", "other", "-o", "-", cwd=tmp_path)
    assert_ok(proc)
    mod = load_module(proc.stdout)
    for name in ("other", "grad_other", "value_and_grad_other", "vjp_other"):
        assert callable(getattr(mod, name, None)), name
    for name in ("grad_cost", "value_and_grad_cost", "vjp_cost"):
        assert not hasattr(mod, name), name

    rng = np.random.default_rng(2)
    args = (rng.normal(size=4), rng.normal(size=4))
    grads = mod.grad_other(*args)
    assert isinstance(grads, tuple) and len(grads) == 2
    for index, got in enumerate(grads):
        expected = numeric_grad(reference_other, args, index)
        assert_close(got, expected, rtol=1e-5, atol=1e-6, what=f"other arg {index}")


def test_default_is_every_function_and_func_repeatable(tmp_path):
    src = write_src(tmp_path, TWO_FUNCS_SRC)
    default = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    assert_ok(default)
    both = run_cli("gen", src, "--func", "cost", "--func", "other", "-o", "-", cwd=tmp_path)
    assert_ok(both)
    for text in (default.stdout, both.stdout):
        mod = load_module(text)
        assert hasattr(mod, "grad_cost") and hasattr(mod, "grad_other")


def test_wrt_orders_returned_tuple(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    proc = run_cli("gen", src, "--wrt", "y,w", "-o", "-", cwd=tmp_path)
    assert_ok(proc)
    mod = load_module(proc.stdout)
    args = cost_data(3)
    check_cost_grads(mod.grad_cost(*args), args, [2, 0])
    value, grads = mod.value_and_grad_cost(*args)
    assert np.isclose(value, reference_cost(*args))
    check_cost_grads(grads, args, [2, 0])
    vjps = mod.vjp_cost(*args, 2.0)
    assert isinstance(vjps, tuple) and len(vjps) == 2
    assert np.shape(vjps[0]) == np.shape(args[2])
    assert np.shape(vjps[1]) == np.shape(args[0])


def test_default_parameter(tmp_path):
    src = write_src(
        tmp_path,
        "import numpy as np\n\n\ndef cost(w, X, y, lam=0.1):\n    r = X @ w - y\n"
        "    return 0.5 * np.mean(r ** 2) + lam * np.sum(w ** 2)\n",
    )
    proc = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    assert_ok(proc)
    compile(proc.stdout, "generated", "exec")  # must at least be valid Python
    mod = load_module(proc.stdout)

    def reference(w, X, y, lam=0.1):
        return reference_cost(w, X, y) + lam * np.sum(w**2)

    w, X, y = cost_data(4)
    grads = mod.grad_cost(w, X, y)
    assert isinstance(grads, tuple) and len(grads) == 4
    for index in range(3):
        expected = numeric_grad(reference, (w, X, y, 0.1), index)
        assert_close(grads[index], expected, rtol=1e-5, atol=1e-6, what=f"arg {index}")
    vjps = mod.vjp_cost(w=w, X=X, y=y, lam=0.1, g=2.0)
    for got, base in zip(vjps, grads, strict=True):
        assert_close(got, 2.0 * np.asarray(base), rtol=1e-10, atol=1e-12)


def test_header(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    out = tmp_path / "model_grad.py"
    assert_ok(run_cli("gen", src, "-o", out, cwd=tmp_path))
    text = out.read_text()
    assert text.startswith("#"), text[:200]
    header = header_of(text)
    assert "generated by symgrad" in header.lower(), header
    assert src.name in header, header
    assert re.search(r"do not edit|don't edit", header, re.IGNORECASE), header
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert digest in header, header


def test_deterministic(tmp_path):
    src = write_src(tmp_path, TWO_FUNCS_SRC)
    out = tmp_path / "model_grad.py"
    assert_ok(run_cli("gen", src, "-o", out, cwd=tmp_path))
    first = out.read_bytes()
    # re-running over its own previous output needs no --force
    assert_ok(run_cli("gen", src, "-o", out, cwd=tmp_path))
    assert out.read_bytes() == first
    a = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    b = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    assert_ok(a)
    assert_ok(b)
    assert a.stdout == b.stdout


def test_rerun_updates_own_output(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    assert_ok(run_cli("gen", src, cwd=tmp_path))
    out = tmp_path / "model_grad.py"
    old = out.read_text()
    src.write_text(TWO_FUNCS_SRC)
    before = listing(tmp_path)
    assert_ok(run_cli("gen", src, cwd=tmp_path))
    new = out.read_text()
    assert new != old
    assert hashlib.sha256(src.read_bytes()).hexdigest() in header_of(new)
    assert hasattr(load_module(new), "grad_other")
    assert listing(tmp_path) == before  # no temp files left behind


# --------------------------------------------------------------------------
# overwrite protection
# --------------------------------------------------------------------------


def test_refuses_to_overwrite_foreign_file(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    out = tmp_path / "model_grad.py"
    out.write_text("# my own hand-written file\nx = 1\n")
    before = listing(tmp_path)
    proc = run_cli("gen", src, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert "--force" in proc.stderr
    assert out.read_text() == "# my own hand-written file\nx = 1\n"
    assert listing(tmp_path) == before

    proc = run_cli("gen", src, "--force", cwd=tmp_path)
    assert_ok(proc)
    assert "generated by symgrad" in header_of(out.read_text()).lower()
    assert hasattr(load_module(out.read_text()), "grad_cost")
    assert listing(tmp_path) == before


def test_refuses_to_overwrite_explicit_output(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    out = tmp_path / "elsewhere.py"
    out.write_text("")
    proc = run_cli("gen", src, "-o", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "--force" in proc.stderr
    assert out.read_text() == ""
    assert_ok(run_cli("gen", src, "-o", out, "--force", cwd=tmp_path))
    assert out.read_text().startswith("#")


def test_error_keeps_previous_output(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    out = tmp_path / "model_grad.py"
    assert_ok(run_cli("gen", src, cwd=tmp_path))
    previous = out.read_bytes()
    src.write_text("import numpy as np\n\n\ndef cost(w):\n    return np.fft.fft(w)\n")
    before = listing(tmp_path)
    proc = run_cli("gen", src, cwd=tmp_path)
    assert_user_error(proc, tmp_path, src, before, line=5)
    assert out.read_bytes() == previous


# --------------------------------------------------------------------------
# invalid input
# --------------------------------------------------------------------------

# (id, source, line of the problem or None, exactly one error line?, words)
INVALID = [
    (
        "syntax-error",
        "import numpy as np\n\n\ndef cost(w):\n    return w +\n",
        5,
        True,
        [],
    ),
    (
        "fft",
        "import numpy as np\n\n\ndef cost(x):\n    y = np.fft.fft(x)\n    return np.sum(y)\n",
        5,
        True,
        ["fft"],
    ),
    (
        "import-os",
        "import numpy as np\nimport os\n\n\ndef cost(w):\n    return np.sum(w) * os.getpid()\n",
        6,
        True,
        ["os"],
    ),
    (
        "from-import",
        "import numpy as np\nfrom numpy import exp\n\n\ndef cost(w):\n    return np.sum(exp(w))\n",
        6,
        True,
        ["exp"],
    ),
    (
        "import-in-body",
        "import numpy as np\n\n\ndef cost(w):\n    import math\n    return np.sum(w)\n",
        5,
        False,
        [],
    ),
    (
        "unknown-function",
        "import numpy as np\n\n\ndef cost(w):\n    v = w * 2.0\n    return np.sum(mystery(v))\n",
        6,
        True,
        ["mystery"],
    ),
    (
        "unknown-numpy-function",
        "import numpy as np\n\n\ndef cost(w):\n    v = w * 2.0\n    return np.frobnicate(v)\n",
        6,
        True,
        ["frobnicate"],
    ),
    (
        "while-loop",
        "import numpy as np\n\n\ndef cost(w):\n    s = np.sum(w)\n"
        "    while s < 1.0:\n        s = s * 2.0\n    return s\n",
        6,
        False,
        [],
    ),
    (
        "for-else",
        "import numpy as np\n\n\ndef cost(w):\n    s = 0.0\n"
        "    for v in w:\n        s = s + v\n    else:\n        s = s * 2.0\n    return s\n",
        6,
        False,
        ["for"],
    ),
    (
        "break",
        "import numpy as np\n\n\ndef cost(w):\n    s = np.sum(w)\n"
        "    for k in range(3):\n        break\n    return s\n",
        7,
        False,
        ["break"],
    ),
    (
        "item-augassign",
        "import numpy as np\n\n\ndef cost(w):\n    v = w * 2.0\n    v[0] += 1.0\n"
        "    return np.sum(v)\n",
        6,
        False,
        [],
    ),
    (
        "loop-local-used-after",
        "import numpy as np\n\n\ndef cost(w):\n    for k in range(3):\n"
        "        s = np.sum(w) * k\n    return s\n",
        7,
        True,
        ["loop"],
    ),
    (
        "lambda",
        "import numpy as np\n\n\ndef cost(w):\n    v = w * 2.0\n"
        "    return np.sum((lambda u: u * 2.0)(v))\n",
        6,
        False,
        [],
    ),
    (
        "keyword-only",
        "import numpy as np\n\n\ndef cost(w, *, X):\n    return np.sum(X @ w)\n",
        4,
        True,
        [],
    ),
    (
        "star-args",
        "import numpy as np\n\n\ndef cost(*ws):\n    return np.sum(ws)\n",
        4,
        True,
        [],
    ),
    (
        "star-kwargs",
        "import numpy as np\n\n\ndef cost(w, **kw):\n    return np.sum(w)\n",
        4,
        True,
        [],
    ),
    ("no-functions", "import numpy as np\n", None, True, []),
    ("empty-file", "", None, True, []),
]


@pytest.mark.parametrize(
    "source, line, single, words",
    [case[1:] for case in INVALID],
    ids=[c[0] for c in INVALID],
)
@pytest.mark.parametrize("to_stdout", [False, True], ids=["file", "stdout"])
def test_invalid_input(tmp_path, source, line, single, words, to_stdout):
    src = write_src(tmp_path, source)
    before = listing(tmp_path)
    out = tmp_path / "model_grad.py"
    args = ["gen", "model.py"] + (["-o", "-"] if to_stdout else [])
    proc = run_cli(*args, cwd=tmp_path)
    errors = assert_user_error(proc, tmp_path, src, before, out=out, line=line, single=single)
    if to_stdout:
        assert proc.stdout == ""
    messages = " ".join(m["msg"] for m in errors)
    for word in words:
        assert word in messages, proc.stderr


def test_fft_message_says_not_supported(tmp_path):
    src = write_src(
        tmp_path,
        "import numpy as np\n\n\ndef cost(x):\n    return np.sum(np.fft.fft(x))\n",
    )
    before = listing(tmp_path)
    proc = run_cli("gen", src, cwd=tmp_path)
    errors = assert_user_error(proc, tmp_path, src, before, line=5)
    message = errors[0]["msg"].lower()
    assert "fft" in message
    assert "not supported" in message or "unsupported" in message, message


@pytest.mark.parametrize("construct", ["while", "break", "continue"])
def test_control_flow_message_names_construct(tmp_path, construct):
    body = {
        "while": "    while s < 1.0:\n        s = s * 2.0\n",
        "break": "    for v in w:\n        break\n",
        "continue": "    for v in w:\n        continue\n",
    }[construct]
    src = write_src(
        tmp_path,
        "import numpy as np\n\n\ndef cost(w):\n    s = np.sum(w)\n" + body + "    return s\n",
    )
    before = listing(tmp_path)
    proc = run_cli("gen", src, cwd=tmp_path)
    line = 6 if construct == "while" else 7
    errors = assert_user_error(proc, tmp_path, src, before, line=line)
    at_line = [m["msg"] for m in errors if int(m["line"]) == line]
    assert any(construct in msg for msg in at_line), proc.stderr


def test_every_problem_reported(tmp_path):
    src = write_src(
        tmp_path,
        "import numpy as np\n\n\ndef cost(w):\n    v = (lambda u: u)(w)\n"
        "    s = np.sum(v)\n    while s < 1.0:\n        s = s * 2.0\n    return s\n",
    )
    before = listing(tmp_path)
    proc = run_cli("gen", src, cwd=tmp_path)
    errors = assert_user_error(proc, tmp_path, src, before)
    assert {5, 7} <= {int(m["line"]) for m in errors}, proc.stderr


def test_other_top_level_code_is_ignored(tmp_path):
    """Imports, prints and main blocks around the cost function are read past, not run."""
    src = write_src(
        tmp_path,
        "import numpy as np\nimport os\n\nprint(os.getpid())\n\n\n"
        "def cost(w):\n    return np.sum(w ** 2)\n",
    )
    proc = run_cli("gen", src, "-o", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "def grad_cost(w):" in proc.stdout
    assert "print" not in proc.stdout and "import os" not in proc.stdout


def test_missing_input_path(tmp_path):
    before = listing(tmp_path)
    proc = run_cli("gen", "does_not_exist.py", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert "does_not_exist.py" in proc.stderr
    assert "error" in proc.stderr.lower()
    assert proc.stdout == ""
    assert listing(tmp_path) == before


def test_unknown_func(tmp_path):
    src = write_src(tmp_path, TWO_FUNCS_SRC)
    before = listing(tmp_path)
    proc = run_cli("gen", src, "--func", "nosuchfunc", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert "nosuchfunc" in proc.stderr
    assert "error" in proc.stderr.lower()
    assert listing(tmp_path) == before


def test_unknown_wrt(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    before = listing(tmp_path)
    proc = run_cli("gen", src, "--wrt", "w,zzz", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert "zzz" in proc.stderr
    assert "error" in proc.stderr.lower()
    assert listing(tmp_path) == before


def test_unwritable_output_location(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    before = listing(tmp_path)
    proc = run_cli("gen", src, "-o", tmp_path / "no_such_dir" / "out.py", cwd=tmp_path)
    assert proc.returncode in (1, 2), proc.stderr
    assert_no_traceback(proc)
    assert proc.stderr.strip()
    assert listing(tmp_path) == before


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_output_is_a_directory(tmp_path, force):
    src = write_src(tmp_path, COST_SRC)
    (tmp_path / "outdir").mkdir()
    before = listing(tmp_path)
    args = ["gen", src, "-o", "outdir"] + (["--force"] if force else [])
    proc = run_cli(*args, cwd=tmp_path)
    # a user mistake, not an internal error: exit 2 with a message
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert "outdir" in proc.stderr
    assert listing(tmp_path) == before
    assert listing(tmp_path / "outdir") == []


def test_debug_flag(tmp_path):
    src = write_src(tmp_path, COST_SRC)
    assert_ok(run_cli("gen", src, "--debug", "-o", "-", cwd=tmp_path))
    bad = write_src(tmp_path, "import os\n", name="bad.py")
    proc = run_cli("gen", bad, "--debug", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert error_lines(proc.stderr)
    assert not (tmp_path / "bad_grad.py").exists()


# --------------------------------------------------------------------------
# the input is parsed, never executed or imported
# --------------------------------------------------------------------------

_SAFE_COST = "def cost(w):\n    return np.sum(w ** 2)\n"
_TOUCH = 'open({m!r}, "w").write("x")'
MARKER_SOURCES = {
    "top-level-call": f"import numpy as np\n\n{_TOUCH}\n\n\n{_SAFE_COST}",
    "main-guard": f"import numpy as np\n\n\n{_SAFE_COST}\n\n"
    f'if __name__ == "__main__":\n    {_TOUCH}\n',
    "default-argument": "import numpy as np\n\n\n"
    'def cost(w, k=open({m!r}, "w")):\n    return np.sum(w ** 2)\n',
    "decorator": f"import numpy as np\n\n\n@open({{m!r}}, 'w').write\n{_SAFE_COST}",
    "function-body": "import numpy as np\n\n\n"
    f"def cost(w):\n    {_TOUCH}\n    return np.sum(w ** 2)\n",
    "class-body": f"import numpy as np\n\n\nclass C:\n    {_TOUCH}\n\n\n{_SAFE_COST}",
}


@pytest.mark.parametrize("kind", sorted(MARKER_SOURCES))
def test_input_never_executed(tmp_path, kind):
    marker = tmp_path / "MARKER"
    src = write_src(tmp_path, MARKER_SOURCES[kind].format(m=str(marker)))
    for args in (["-o", "-"], []):
        proc = run_cli("gen", src, *args, cwd=tmp_path)
        assert proc.returncode in (0, 2), proc.stderr
        assert_no_traceback(proc)
        assert not marker.exists(), f"input was executed ({kind})"
        assert not (tmp_path / "__pycache__").exists()
        if proc.returncode == 2:
            assert error_lines(proc.stderr), proc.stderr


# --------------------------------------------------------------------------
# the generated module is clean for ruff
# --------------------------------------------------------------------------


def ruff_command():
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    if exe is not None:
        return [exe]
    pytest.skip("ruff not available")


@pytest.mark.parametrize("source", [COST_SRC, TWO_FUNCS_SRC], ids=["cost", "two"])
def test_generated_module_passes_ruff(tmp_path, source):
    ruff = ruff_command()
    write_src(tmp_path, source)
    out = tmp_path / "model_grad.py"
    # a relative path keeps the header's source path short for E501
    assert_ok(run_cli("gen", "model.py", "-o", out.name, cwd=tmp_path))
    # --isolated: ignore any config (the project excludes generated/);
    # apply the project's own rule selection explicitly.
    common = [
        "--isolated",
        "--no-cache",
        "--line-length",
        "88",
        "--target-version",
        "py310",
    ]
    check = subprocess.run(
        [*ruff, "check", *common, "--select", "E,F,W,I,B,UP", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", *common, "--check", "--diff", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_gen_imports_neither_numpy_nor_sympy(tmp_path):
    """`symgrad gen` starts fast: it reads code, it runs none, so it needs no NumPy."""
    write_src(tmp_path, COST_SRC)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "symgrad", "gen", "model.py", "-o", "-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()}
    assert "symgrad" in imported
    assert "numpy" not in imported and "sympy" not in imported
