"""The in-place pass: faster, never visible.

Code with and without the pass must give the same bits; no argument, and no
value handed back, may be written into.  Arguments are passed read-only, so
any write into one raises.
"""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import load_module

from symgrad import generate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from regenerate import GENERATED  # noqa: E402

PROGRAMS = {
    "logistic": (
        'def f(X: "N,D", w: "D,K"):\n'
        "    Z = 1 / (1 + np.exp(-(X @ w)))\n"
        "    return np.sum(Z * Z)\n",
        {"X": (5, 3), "w": (3, 4)},
    ),
    "chain": (
        'def f(A: "N,M", B: "N,M"):\n'
        "    T = np.tanh(A * B + 1.0)\n"
        "    S = np.exp(T - A) / (B * B + 2.0)\n"
        "    return np.sum(S * T), S\n",
        None,
    ),
    "returned_intermediate": (
        'def f(x: "2,3", y: "3"):\n    return np.sum(np.sin(x - y))\n',
        {"x": (2, 3), "y": (3,)},
    ),
    "shared_temporary": (
        'def f(A: "N,M", B: "N,M"):\n'
        "    T = np.exp(A * B)\n"
        "    U = T * 2.0 + T\n"
        "    return np.sum(U * T)\n",
        {"A": (4, 3), "B": (4, 3)},
    ),
}


def readonly(a):
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


def both(source, **kw):
    on = load_module(generate(source, "p.py", **kw))
    off = load_module(generate(source, "p.py", inplace=False, **kw))
    return on, off


def assert_same_bits(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_bits(x, y)
        return
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", [k for k, v in PROGRAMS.items() if v[1]])
def test_in_place_code_computes_the_same_bits_and_writes_no_argument(name):
    body, shapes = PROGRAMS[name]
    on, off = both("import numpy as np\n\n\n" + body)
    rng = np.random.default_rng(0)
    args = [readonly(rng.normal(size=s)) for s in shapes.values()]
    for fn in ("grad_f", "value_and_grad_f"):
        assert_same_bits(getattr(on, fn)(*args), getattr(off, fn)(*args))
    g = readonly(1.0)
    assert_same_bits(on.vjp_f(*args, g), off.vjp_f(*args, g))


def test_the_pass_does_rewrite_large_temporaries():
    text = generate("import numpy as np\n\n\n" + PROGRAMS["logistic"][0], "p.py")
    assert "np.exp(Z, out=Z)" in text and "Z += 1" in text
    plain = generate("import numpy as np\n\n\n" + PROGRAMS["logistic"][0], "p.py", inplace=False)
    assert "out=" not in plain and " += " not in plain


def test_a_returned_value_is_never_a_reused_buffer():
    on, _ = both("import numpy as np\n\n\n" + PROGRAMS["returned_intermediate"][0])
    x, y = readonly(np.ones((2, 3))), readonly(np.arange(3.0))
    dx, dy = on.grad_f(x, y)
    np.testing.assert_allclose(dx, np.cos(x - y))
    np.testing.assert_allclose(dy, -np.cos(x - y).sum(axis=0))


@pytest.mark.parametrize("source,funcs,wrt,output", GENERATED, ids=[g[3] for g in GENERATED])
def test_examples_with_and_without_the_pass_agree(source, funcs, wrt, output):
    text = (ROOT / source).read_text()
    on, off = both(text, funcs=funcs, wrt=wrt)
    (fn,) = [n for n in ast.parse(text).body if getattr(n, "name", None) == funcs[0]]
    names = [a.arg for a in fn.args.args]
    rng = np.random.default_rng(1)
    shapes = {"X": (6, 3), "Y": (6, 3), "W": (4, 3), "V": (3, 4)}
    if "rnn" in source:
        shapes = {"X": (5, 3), "Y": (5, 4), "h0": (4,), "W": (4, 4), "U": (4, 3)}
    elif "mlp" not in source:
        pytest.skip("shapes of this example are exercised by tests/test_examples.py")
    args = [readonly(rng.normal(size=shapes[n]) * 0.5) for n in names]
    grad = f"grad_{funcs[0]}"
    assert_same_bits(getattr(on, grad)(*args), getattr(off, grad)(*args))


def test_cli_no_inplace(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import numpy as np\n\n\n" + PROGRAMS["logistic"][0])
    proc = subprocess.run(
        [sys.executable, "-m", "symgrad", "gen", str(src), "--no-inplace", "-o", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "out=" not in proc.stdout and " += " not in proc.stdout
