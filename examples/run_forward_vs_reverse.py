"""The lecture's forward- and reverse-mode example, run with the code symgrad generated.

    python examples/run_forward_vs_reverse.py

y1 = sin(w1 x + w0) and y2 = cos(w1 x + w0) (`examples/lecture_trace.py`).
Forward mode, `jvp_outputs` of `generated/lecture_trace_grad.py` seeded with
dw0 = 0, dw1 = 1, gives dy1/dw1 and dy2/dw1 in one pass. Reverse mode,
`vjp_outputs` of `generated/lecture_trace_all_grad.py` (made with `--mode all
--wrt w0,w1,x`) with the cotangent (0, 1), gives dy2/dw0, dy2/dw1 and dy2/dx in
one pass. Both are printed next to the lecture's closed forms and must agree.
Only NumPy and the two generated modules are imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
W0, W1, X = 0.5, 1.5, 2.0  # the point (w0, w1, x)


def load_generated(name):
    """Import generated/NAME.py by path: it is a file, not an installed package."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "generated" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def show(label, generated, closed_form, formula) -> float:
    error = abs(generated - closed_form)
    row = f"  {label:9s} = {generated: .12f}   {formula:22s} = {closed_form: .12f}"
    print(f"{row}   |diff| {error:.1e}")
    return error


def main() -> int:
    forward = load_generated("lecture_trace_grad")
    reverse = load_generated("lecture_trace_all_grad")
    a5 = W1 * X + W0
    print(f"at w0 = {W0}, w1 = {W1}, x = {X}  (w1 x + w0 = {a5})")

    value, tangent = forward.jvp_outputs(W0, W1, X, 0.0, 1.0)
    print("forward mode, one jvp_outputs pass with (dw0, dw1) = (0, 1):")
    errors = [
        show("dy1/dw1", tangent[0], np.cos(a5) * X, "cos(w1x+w0)*x"),
        show("dy2/dw1", tangent[1], -np.sin(a5) * X, "-sin(w1x+w0)*x"),
    ]

    dw0, dw1, dx = reverse.vjp_outputs(W0, W1, X, np.array([0.0, 1.0]))
    print("reverse mode, one vjp_outputs pass with cotangent (0, 1):")
    errors += [
        show("dy2/dw0", dw0, -np.sin(a5), "-sin(w1x+w0)"),
        show("dy2/dw1", dw1, -np.sin(a5) * X, "-sin(w1x+w0)*x"),
        show("dy2/dx", dx, -np.sin(a5) * W1, "-sin(w1x+w0)*w1"),
    ]
    assert np.allclose(value, [np.sin(a5), np.cos(a5)], rtol=0, atol=1e-12), value
    worst = max(errors)
    assert worst < 1e-12, worst
    print(f"all five derivatives agree with the closed forms (max |diff| {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
