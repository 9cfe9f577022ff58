"""Control flow in reverse mode: loops, branches, augmented assignment, reassignment.

Every program is generated, loaded and its gradient compared with central finite
differences at random points, annotated and shape-generic.  The memory tests count
what the forward sweep pushes on its tapes while it runs.
"""

import re
import sys

import numpy as np
import pytest
from helpers import assert_close, load_module, numeric_grad

from symgrad import SymgradError, generate

RNN = """
import numpy as np


def rnn_final(X: "T,D", h0: "H", W: "H,H", U: "H,D"):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h**2)


def rnn_every(X: "T,D", h0: "H", W: "H,H", U: "H,D", Y: "T,H"):
    h = h0
    loss = 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
        loss = loss + 0.5 * np.sum((h - Y[t]) ** 2)
    return loss
"""

PROGRAMS = {
    "horner": (
        """
def horner(c: "K", x: "N"):
    y = np.zeros_like(x)
    for k in range(c.shape[0]):
        y = y * x + c[k]
    return np.sum(y)
""",
        {"c": (4,), "x": (3,)},
    ),
    "inner_gradient_descent": (
        """
def unrolled(w0: "D", A: "D,D", b: "D", lr=0.1):
    w = w0
    for step in range(5):
        grad = A.T @ (A @ w - b)
        w = w - lr * grad
    return 0.5 * np.sum((A @ w - b) ** 2)
""",
        {"w0": (3,), "A": (3, 3), "b": (3,)},
    ),
    "nested_loops": (
        """
def nested(x: "N", W: "N,N"):
    s = 0.0
    h = x
    for i in range(3):
        for j in range(2):
            h = np.sin(W @ h) + h * 0.5
            s = s + np.sum(h * x)
    return s
""",
        {"x": (3,), "W": (3, 3)},
    ),
    "data_dependent_if_in_loop": (
        """
def piecewise(x: "N", w: "N"):
    acc = 0.0
    for k in range(x.shape[0]):
        z = x[k] * w[k]
        if z > 0:
            acc = acc + z**2
        else:
            acc = acc - np.sin(z) * w[k]
    return acc
""",
        {"x": (6,), "w": (6,)},
    ),
    "for_row_in_X": (
        """
def rows(X: "N,D", w: "D"):
    total = 0.0
    for row in X:
        total = total + np.tanh(row @ w) ** 2
    return total
""",
        {"X": (4, 3), "w": (3,)},
    ),
    "zip": (
        """
def paired(A: "N,D", B: "N,D", w: "D"):
    total = 0.0
    for a, b in zip(A, B):
        total = total + np.sum(a * w) * np.sum(b * w)
    return total
""",
        {"A": (3, 2), "B": (3, 2), "w": (2,)},
    ),
    "range_start_stop_step": (
        """
def strided(x: "N", w: "N"):
    s = 0.0
    for k in range(1, x.shape[0], 2):
        s = s + x[k] * w[k - 1]
    return s * np.sum(w)
""",
        {"x": (7,), "w": (7,)},
    ),
    "augmented_every_kind": (
        """
def aug(x: "N", w: "N", M: "N,N"):
    y = x * w
    y += x
    y -= w
    y *= x
    y /= 2.0
    y **= 2
    y @= M
    return np.sum(y)
""",
        {"x": (3,), "w": (3,), "M": (3, 3)},
    ),
    "reassigned_five_times": (
        """
def five(x: "N", w: "N"):
    z = x * w
    z = np.sin(z) + x
    z = z * z
    z = z - w
    z = np.exp(z * 0.1)
    return np.sum(z)
""",
        {"x": (3,), "w": (3,)},
    ),
    "if_on_a_flag": (
        """
def flagged(x: "N", w: "N", use_bias):
    y = x * w
    if use_bias:
        y = y + 1.0
    elif np.sum(x) > 100.0:
        y = y * 2.0
    else:
        y = y - x
    return np.sum(y**2)
""",
        {"x": (3,), "w": (3,), "use_bias": "flag"},
    ),
    "if_on_shape": (
        """
def by_rank(x, w):
    if x.ndim == 1:
        y = x * w
    else:
        y = np.sum(x, axis=0) * w
    return np.sum(y**2)
""",
        {"x": (2, 3), "w": (3,)},
    ),
    "loop_count_from_parameter": (
        """
def power_iteration(A: "N,N", v: "N", n):
    for k in range(n):
        v = A @ v
        v = v / np.linalg.norm(v)
    return v @ A @ v
""",
        {"A": (3, 3), "v": (3,), "n": "int4"},
    ),
}


def strip_annotations(source: str) -> str:
    return re.sub(r': "[^"]*"', "", source)


def random_args(shapes, rng):
    args = []
    for shape in shapes.values():
        if shape == "flag":
            args.append(True)
        elif shape == "int4":
            args.append(4)
        else:
            args.append(rng.uniform(-1.0, 1.0, size=shape))
    return args


def float_params(shapes):
    return [k for k, (name, shape) in enumerate(shapes.items()) if isinstance(shape, tuple)]


def check_gradient(module, name, args, wrt_index):
    grads = getattr(module, f"grad_{name}")(*args)
    if len(wrt_index) == 1:
        grads = (grads,)
    primal = getattr(module, name)
    for k, g in zip(wrt_index, grads):
        assert_close(g, numeric_grad(primal, args, k), rtol=1e-5, atol=1e-7, what=f"arg {k}")
    value, vg = getattr(module, f"value_and_grad_{name}")(*args)
    np.testing.assert_allclose(value, primal(*args), rtol=1e-13)
    for a, b in zip(vg if len(wrt_index) > 1 else (vg,), grads):
        assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("annotated", [True, False], ids=["annotated", "generic"])
@pytest.mark.parametrize("case", sorted(PROGRAMS))
def test_control_flow_gradient_matches_finite_differences(case, annotated):
    body, shapes = PROGRAMS[case]
    source = "import numpy as np\n" + (body if annotated else strip_annotations(body))
    name = re.search(r"def (\w+)\(", body).group(1)
    wrt_index = float_params(shapes)
    wrt = [list(shapes)[k] for k in wrt_index]
    module = load_module(generate(source, f"{case}.py", wrt=wrt))
    rng = np.random.default_rng(7)
    for _ in range(2):
        check_gradient(module, name, random_args(shapes, rng), wrt_index)


@pytest.mark.parametrize("name", ["rnn_final", "rnn_every"])
def test_rnn_gradient(name):
    module = load_module(generate(RNN, "rnn.py", funcs=[name], wrt=["h0", "W", "U"]))
    rng = np.random.default_rng(3)
    T, D, H = 6, 3, 4
    args = [rng.normal(size=(T, D)), rng.normal(size=H), rng.normal(size=(H, H)) * 0.5]
    args.append(rng.normal(size=(H, D)) * 0.5)
    if name == "rnn_every":
        args.append(rng.normal(size=(T, H)))
    check_gradient(module, name, args, [1, 2, 3])


def test_rnn_adjoint_reads_like_backprop_through_time():
    text = generate(RNN, "rnn.py", funcs=["rnn_final"], wrt=["h0", "W", "U"])
    grad = text[text.index("def grad_rnn_final") : text.index("def value_and_grad_rnn_final")]
    assert "for t in reversed(range(" in grad
    assert "saved_h.append(h)" in grad and "h = saved_h.pop()" in grad
    assert "dW += " in grad  # in place: the accumulator is symgrad's own array


def test_loop_that_runs_zero_times():
    module = load_module(generate(RNN, "rnn.py", funcs=["rnn_final"], wrt=["h0", "W", "U"]))
    rng = np.random.default_rng(0)
    h0, W, U = rng.normal(size=3), rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    dh0, dW, dU = module.grad_rnn_final(np.zeros((0, 2)), h0, W, U)
    assert_close(dh0, 2 * h0)
    assert not dW.any() and not dU.any()


# ---------------------------------------------------------------- what the tapes hold


class PushCounter:
    """Counts list.append calls made by the generated code and the bytes they save."""

    def __init__(self):
        self.pushes = 0
        self.nbytes = 0

    def __call__(self, frame, event, arg):
        if event == "c_return" and getattr(arg, "__name__", "") == "append":
            owner = getattr(arg, "__self__", None)
            if isinstance(owner, list) and owner and frame.f_code.co_filename.startswith("<"):
                self.pushes += 1
                self.nbytes += np.asarray(owner[-1]).nbytes


def count_pushes(fn, *args):
    counter = PushCounter()
    sys.setprofile(counter)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return counter


@pytest.mark.parametrize("T", [5, 20, 80])
def test_rnn_saves_two_hidden_states_per_step(T):
    module = load_module(generate(RNN, "rnn.py", funcs=["rnn_final"], wrt=["h0", "W", "U"]))
    rng = np.random.default_rng(1)
    H, D = 4, 3
    counted = count_pushes(
        module.grad_rnn_final,
        rng.normal(size=(T, D)),
        rng.normal(size=H),
        rng.normal(size=(H, H)),
        rng.normal(size=(H, D)),
    )
    # the adjoint of a step needs h before it (for dW) and after it (for tanh'):
    # O(T) values of H floats, and nothing else (X[t] is a view recomputed from t)
    assert counted.pushes == 2 * T
    assert counted.nbytes == 2 * T * H * 8


def test_loop_whose_adjoint_needs_nothing_saves_nothing():
    source = """
import numpy as np


def accumulate(x: "N", c: "N"):
    s = np.zeros_like(x)
    for k in range(50):
        s = s + c * x
    return np.sum(s)
"""
    module = load_module(generate(source, "acc.py", wrt=["x", "c"]))
    x, c = np.arange(3.0), np.ones(3)
    assert count_pushes(module.grad_accumulate, x, c).pushes == 0
    dx, dc = module.grad_accumulate(x, c)
    assert_close(dx, 50 * c)
    assert_close(dc, 50 * x)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "body,words",
    [
        ("    k = 0\n    while k < 3:\n        k = k + 1\n    return np.sum(x) * k\n", "while"),
        ("    for k in range(3):\n        y = x * k\n    return np.sum(y)\n", "inside the loop"),
        ("    if np.sum(x) > 0:\n        y = x\n    return np.sum(y)\n", "one branch"),
        (
            "    for k in range(3):\n        if k > 1:\n            break\n    return np.sum(x)\n",
            "break",
        ),
        ("    s = 0.0\n    for k in range(0, 3, 0):\n        s = s + k\n    return s\n", "step"),
    ],
    ids=["while", "loop-local", "branch-local", "break", "zero-step"],
)
def test_unsupported_control_flow_is_a_clear_error(body, words):
    with pytest.raises(SymgradError) as info:
        generate("import numpy as np\n\n\ndef f(x):\n" + body, "bad.py")
    assert words in str(info.value)
    assert re.match(r"bad\.py:\d+:\d+: error: ", str(info.value))


def test_in_place_rewriting_never_touches_a_returned_value():
    """np.cos(t, out=t) must not reuse a buffer that is also returned (dx here)."""
    source = 'import numpy as np\n\n\ndef f(x: "2,3", y: "3"):\n    return np.sum(np.sin(x - y))\n'
    module = load_module(generate(source, "f.py"))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3)), rng.normal(size=3)
    dx, dy = module.grad_f(x, y)
    assert_close(dx, np.cos(x - y))
    assert_close(dy, -np.cos(x - y).sum(axis=0))


@pytest.mark.parametrize("case", sorted(PROGRAMS))
def test_translated_and_adjoint_programs_are_well_formed(case):
    """ir.verify: every variable read is defined before, and defined once."""
    from symgrad.frontend import parse, translate
    from symgrad.ir import Function, verify
    from symgrad.reverse import reverse

    body, shapes = PROGRAMS[case]
    src = parse("import numpy as np\n" + body, f"{case}.py")
    name = re.search(r"def (\w+)\(", body).group(1)
    fn = translate(src, name, inline=True)
    verify(fn)
    wrt = [n for n, s in shapes.items() if isinstance(s, tuple)]
    adj = reverse(fn, wrt, "vjp")
    verify(Function(name, [*adj.params, adj.seed], {}, adj.stmts, adj.grads[0]))
