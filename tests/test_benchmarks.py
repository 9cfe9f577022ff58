"""Smoke tests of benchmarks/: each runs in its quick mode and prints its ratio table.

The figures are not checked (benchmarks are not timed tests).  autograd, JAX and
PyTorch are hidden from bench_mlp and bench_rnn by stub modules that fail to import, so the run
is as fast and as complete here as on a CI machine without them, and the path
that skips a missing framework is the one tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO_ROOT / "benchmarks"
FRAMEWORKS = ("autograd", "jax", "torch")
TIMEOUT = 60


def run_benchmark(script, *args, env=None):
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )


def test_bench_mlp_quick_prints_ratio_table(tmp_path):
    for name in FRAMEWORKS:
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    proc = run_benchmark("bench_mlp.py", "--quick", "--sizes", "tiny", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "x hand grad" in out and "x primal" in out and "minflt/call" in out
    for row in ("hand gradients (lecture)", "symgrad grad_cost", "symgrad value_and_grad_cost"):
        assert row in out
    for name in FRAMEWORKS:
        assert f"skipped {name}: not installed" in out
    assert "value_and_grad_cost <= 1.3x hand gradient at tiny" in out


def test_bench_gen_quick_prints_scaling_table():
    proc = run_benchmark("bench_gen.py", "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "whole process, median" in out
    assert "sympy imported: no" in out
    assert "us/stmt" in out and "module/src" in out
    assert "ok (" in out  # the synthetic gradient matched a finite difference


def test_bench_rnn_quick_prints_ratio_table(tmp_path):
    for name in FRAMEWORKS:
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    proc = run_benchmark("bench_rnn.py", "--quick", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "agree with hand BPTT" in out
    assert "x hand" in out and "x autograd" in out and "us/step" in out
    for row in ("hand BPTT", "symgrad grad_cost", "symgrad value_and_grad_cost"):
        assert row in out
    for name in FRAMEWORKS:
        assert f"skipped {name}: not installed" in out
    assert "grad_cost <= 1.2x hand BPTT at T=20 H=8" in out
    assert "grad_cost faster than autograd at T=20 H=8: not measured" in out
