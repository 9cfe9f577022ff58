"""The runnable examples/run_*.py scripts, each run as a user would: `python examples/run_X.py`.

Each runs in a subprocess from the repo root; it must exit 0 within a few
seconds, must not import symgrad (the checked-in generated module is all it
needs), and must print the facts it exists to show, which are checked here
against numbers computed independently where that is cheap.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = (
    "run_forward_vs_reverse",
    "run_linear_regression",
    "run_logistic_regression",
    "run_batchnorm",
    "run_residual_block",
)
FEW_SECONDS = 10
NUMBER = r"(-?\d+\.\d+(?:e[-+]\d+)?)"


@functools.cache
def run(name):
    """(exit code, stdout, stderr, seconds) of examples/NAME.py, and whether it imported symgrad."""
    script = ROOT / "examples" / f"{name}.py"
    driver = (
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('symgrad imported:', 'symgrad' in sys.modules)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", driver], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start


def output_of(name) -> str:
    if name == "run_logistic_regression" and importlib.util.find_spec("scipy") is None:
        pytest.skip("scipy is not installed (pip install 'symgrad[examples]')")
    code, stdout, stderr, _ = run(name)
    assert code == 0, stderr
    return stdout


def losses(stdout) -> list[float]:
    return [float(x) for x in re.findall(rf"^  step +\d+  loss {NUMBER}$", stdout, re.M)]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_quickly_without_symgrad(name):
    stdout = output_of(name)
    assert stdout.rstrip().endswith("symgrad imported: False"), stdout
    assert run(name)[3] < FEW_SECONDS


def test_forward_and_reverse_mode_match_the_lectures_closed_forms():
    stdout = output_of("run_forward_vs_reverse")
    w0, w1, x = 0.5, 1.5, 2.0
    assert f"at w0 = {w0}, w1 = {w1}, x = {x}" in stdout
    a = w1 * x + w0
    expected = {
        ("forward", "dy1/dw1"): math.cos(a) * x,
        ("forward", "dy2/dw1"): -math.sin(a) * x,
        ("reverse", "dy2/dw0"): -math.sin(a),
        ("reverse", "dy2/dw1"): -math.sin(a) * x,
        ("reverse", "dy2/dx"): -math.sin(a) * w1,
    }
    forward, reverse = stdout.split("reverse mode")
    for (mode, label), value in expected.items():
        section = forward if mode == "forward" else reverse
        row = re.search(rf"^  {re.escape(label)} += +{NUMBER} .* = +{NUMBER} ", section, re.M)
        assert row, (label, stdout)
        generated, closed = float(row.group(1)), float(row.group(2))
        assert generated == pytest.approx(value, abs=1e-11), label
        assert closed == pytest.approx(value, abs=1e-11), label
    assert "all five derivatives agree with the closed forms" in stdout


def test_linear_regression_reaches_the_normal_equations_solution():
    stdout = output_of("run_linear_regression")
    gd = re.search(r"^gradient descent: w = \[(.*)\]  b = (\S+)$", stdout, re.M)
    exact = re.search(r"^normal equations: w = \[(.*)\]  b = (\S+)$", stdout, re.M)
    assert gd and exact, stdout
    gd_params = [float(v) for v in gd.group(1).split()] + [float(gd.group(2))]
    exact_params = [float(v) for v in exact.group(1).split()] + [float(exact.group(2))]
    assert len(gd_params) == 4
    assert gd_params == pytest.approx(exact_params, abs=1e-6)
    # the data are y = X [2, -1, 0.5] + 3 + noise; the L2 term shrinks w a little
    assert exact_params == pytest.approx([2.0, -1.0, 0.5, 3.0], abs=0.25)
    difference = float(re.search(rf"^max \|difference\| = {NUMBER}$", stdout, re.M).group(1))
    assert difference < 1e-6
    assert "gradient descent agrees with the closed form" in stdout


def test_logistic_regression_with_lbfgs_classifies_the_training_data():
    stdout = output_of("run_logistic_regression")
    assert re.search(r"^cost at w = 0, b = 0: 0\.693147 ", stdout, re.M), stdout
    assert "L-BFGS-B: success True" in stdout
    gradient_norm = re.search(rf"^gradient norm at the optimum: {NUMBER}$", stdout, re.M)
    assert float(gradient_norm.group(1)) < 1e-4
    cost = float(re.search(rf"cost = {NUMBER}$", stdout, re.M).group(1))
    assert cost < 0.3
    accuracy = re.search(r"^training accuracy: (\d\.\d+) \((\d+)/200\)$", stdout, re.M)
    assert accuracy, stdout
    assert float(accuracy.group(1)) >= 0.95
    assert int(accuracy.group(2)) / 200 == pytest.approx(float(accuracy.group(1)), abs=1e-3)


@pytest.mark.parametrize(
    "name, grads, steps",
    [
        ("run_batchnorm", "dX, dgamma, dbeta", 11),
        ("run_residual_block", "dW1, db1, dW2", 11),
    ],
)
def test_gradient_checks_and_the_loss_falls(name, grads, steps):
    stdout = output_of(name)
    check = re.search(
        rf"^gradient check at the start \({grads}\): max \|error\| = {NUMBER}$", stdout, re.M
    )
    assert check, stdout
    assert float(check.group(1)) < 1e-6
    values = losses(stdout)
    assert len(values) == steps, stdout
    assert all(b < a for a, b in zip(values, values[1:])), values
    assert values[-1] < 0.75 * values[0], values
