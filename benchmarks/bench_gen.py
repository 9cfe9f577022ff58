"""How long symgrad takes to generate code, and how much code it emits.

    python benchmarks/bench_gen.py [--runs N] [--statements 100,1000,10000] [--quick]

1. `symgrad gen examples/mlp.py` as a whole process (cold start: a new interpreter
   each run, via subprocess, with bytecode cached as for an installed package, and
   again as this environment runs it), median of several runs, beside the bare
   interpreter start, and its breakdown: import time from `python -X importtime`, with a check
   that sympy is not imported on that path, and the in-process `generate()` time.
2. `symgrad.generate` on synthetic straight-line functions of 100, 1,000 and
   10,000 statements (chains of elementwise ops, sums and matmuls over a few
   parameters, ending in a scalar), each in a child process with a time limit:
   time per statement (flat when generation is linear) and emitted lines per
   source line.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
GEN_MLP = ["-m", "symgrad", "gen", "examples/mlp.py", "--func", "cost", "--wrt", "W,V", "-o", "-"]
GEN_FUNCS = ("f", "grad_f", "value_and_grad_f", "vjp_f")

# Targets of issue 7.
GEN_SECONDS_TARGET = 0.3
LARGEST_STATEMENTS, LARGEST_SECONDS_TARGET = 10_000, 5.0
LINES_RATIO_TARGET = 4.0

# The statement kinds of the synthetic function, in turn.  {k}: this statement's number;
# {p}: the previous statement's result; {hp}, {hpp}: the last two array results before it.
STATEMENT_KINDS = (
    "    h{k} = h{p} @ B",
    "    h{k} = np.tanh(h{p}) * c",
    "    r{k} = np.sum(h{p}, axis=0)",
    "    h{k} = h{hp} + 0.5 * r{p}",
    "    h{k} = np.exp(-(h{p} ** 2)) + h{hpp}",
    "    h{k} = h{p} * S - h{hp}",
)


def synthetic_source(statements: int) -> str:
    """A straight-line cost of `statements` assignments (and a return), every one live."""
    lines = [
        '"""Synthetic straight-line cost for bench_gen."""',
        "",
        "# ruff: noqa: F722",
        "",
        "import numpy as np",
        "",
        "",
        'def f(A: "N,D", B: "D,D", c: "D", S: "N,D"):',
        "    h0 = A",
    ]
    arrays = [0]
    for k in range(1, statements):
        kind = STATEMENT_KINDS[(k - 1) % len(STATEMENT_KINDS)]
        hp = arrays[-2] if len(arrays) > 1 else arrays[-1]
        hpp = arrays[-3] if len(arrays) > 2 else arrays[0]
        lines.append(kind.format(k=k, p=k - 1, hp=hp, hpp=hpp))
        if kind.lstrip().startswith("h"):
            arrays.append(k)
    lines.append(f"    return np.mean(h{arrays[-1]} ** 2)")
    return "\n".join(lines) + "\n"


def function_lines(text: str) -> dict:
    """Lines (and code lines: not blank, not a comment) of each top-level def in `text`."""
    rows = text.splitlines()
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            body = rows[node.lineno - 1 : node.end_lineno]
            code = [r for r in body if r.strip() and not r.strip().startswith("#")]
            found[node.name] = {"lines": len(body), "code": len(code)}
    return found


def check_synthetic(text: str, source_statements: int) -> str:
    """grad_f against a central difference along one random direction (small shapes)."""
    import numpy as np

    module = types.ModuleType("synthetic_grad")
    exec(compile(text, "<synthetic_grad>", "exec"), module.__dict__)
    rng = np.random.default_rng(source_statements)
    args = [
        rng.standard_normal((5, 4)),
        0.3 * rng.standard_normal((4, 4)),
        0.5 * rng.standard_normal(4),
        0.5 * rng.standard_normal((5, 4)),
    ]
    direction = [rng.standard_normal(np.shape(a)) for a in args]
    grads = module.grad_f(*args)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, direction))
    eps = 1e-6
    plus = module.f(*[a + eps * d for a, d in zip(args, direction)])
    minus = module.f(*[a - eps * d for a, d in zip(args, direction)])
    numeric = (plus - minus) / (2 * eps)
    ok = abs(analytic - numeric) <= 1e-5 * max(1.0, abs(numeric))
    return f"{'ok' if ok else 'WRONG'} ({analytic:.6g} vs {numeric:.6g})"


def child(statements: int, runs: int) -> None:
    """Run in a child process: time generate() on the synthetic source, print JSON."""
    import symgrad

    source = synthetic_source(statements)
    result = {"statements": statements, "source_lines": len(source.splitlines())}
    times = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            text = symgrad.generate(source, "synthetic.py")
            times.append(time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a failure is a result to report
        result["error"] = f"{type(exc).__name__}: {str(exc)[:80]}"
        result["seconds"] = time.perf_counter() - start
        print(json.dumps(result))
        return
    result["seconds"] = statistics.median(times)
    result["module_lines"] = len(text.splitlines())
    result["functions"] = function_lines(text)
    result["source_function"] = function_lines(source)["f"]
    if statements <= 100:
        result["check"] = check_synthetic(text, statements)
    print(json.dumps(result))


# --- whole-process generation ------------------------------------------------------------


def run_seconds(cmd, runs: int, env=None) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO_ROOT, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return times


def bytecode_cached_env(cache_dir: str) -> dict:
    """The environment with Python's bytecode cache on, kept in `cache_dir`.

    A user's installed symgrad has its .pyc files; a checkout run with
    PYTHONDONTWRITEBYTECODE=1 and edited sources compiles every module at each start.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def import_profile(env) -> dict:
    """`python -X importtime` on the gen command: top-level imports and their cost."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *GEN_MLP],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    modules, top, seconds = [], {}, {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line[len("import time:") :].split("|")
        modules.append(name.strip())
        seconds[name.strip()] = int(cumulative) / 1e6
        if not name.startswith("  "):  # imported by the program itself, not by a module
            top[name.strip()] = int(cumulative) / 1e6
    return {"modules": modules, "top": top, "seconds": seconds}


def in_process_generate(runs: int) -> tuple[float, float, str, str]:
    """First generate() call in this process, the median of warm calls, source and output."""
    import symgrad

    source = (REPO_ROOT / "examples" / "mlp.py").read_text(encoding="utf-8")
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        text = symgrad.generate(source, "examples/mlp.py", funcs=["cost"], wrt=["W", "V"])
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:]), source, text


def report_whole_process(runs: int) -> bool:
    gen = [sys.executable, *GEN_MLP]
    with tempfile.TemporaryDirectory(prefix="bench-gen-pycache-") as cache_dir:
        cached = bytecode_cached_env(cache_dir)
        run_seconds(gen, 1, cached)  # fills the bytecode cache and the file cache
        bare, total, uncached = [], [], []
        for _ in range(runs):  # interleaved, so machine load falls on all alike
            bare += run_seconds([sys.executable, "-c", "pass"], 1, cached)
            total += run_seconds(gen, 1, cached)
            uncached += run_seconds(gen, 1)
        profile = import_profile(cached)
    first, warm, source, text = in_process_generate(max(3, runs))
    symgrad_import = sum(s for name, s in profile["top"].items() if name.split(".")[0] == "symgrad")
    sympy = sorted({m for m in profile["modules"] if m.split(".")[0] == "sympy"})
    numpy = any(m.split(".")[0] == "numpy" for m in profile["modules"])
    median = statistics.median(total)

    print(f"\n== symgrad gen examples/mlp.py --func cost --wrt W,V -o -  ({runs} runs) ==")
    print(f"whole process, median     {median * 1e3:8.1f} ms   (min {min(total) * 1e3:.1f} ms)")
    note = "PYTHONDONTWRITEBYTECODE set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "as is"
    print(
        f"  same, this environment's bytecode cache ({note}): "
        f"{statistics.median(uncached) * 1e3:.1f} ms"
    )
    print(f"  bare `python -c pass`   {statistics.median(bare) * 1e3:8.1f} ms")
    print(f"  import symgrad (-X importtime, cumulative) {symgrad_import * 1e3:8.1f} ms")
    for name, seconds in sorted(profile["top"].items(), key=lambda kv: -kv[1])[:5]:
        print(f"    top-level import {name:<24}{seconds * 1e3:8.1f} ms")
    print(
        f"  generate(), first call in process {first * 1e3:8.1f} ms; "
        f"warm median {warm * 1e3:.1f} ms"
    )
    numpy_text = f"yes, {profile['seconds']['numpy'] * 1e3:.1f} ms" if numpy else "no"
    print(f"  modules imported: {len(profile['modules'])}; numpy imported: {numpy_text}")
    print(f"  sympy imported: {'YES: ' + ', '.join(sympy[:5]) if sympy else 'no'}")
    emitted, cost = function_lines(text), function_lines(source)["cost"]
    print(
        f"  emitted: {len(text.splitlines())} lines from {len(source.splitlines())}; "
        f"grad_cost {emitted['grad_cost']['lines']} lines ({emitted['grad_cost']['code']} code) "
        f"for cost's {cost['lines']} ({cost['code']} code; helpers inlined)"
    )
    ok = median < GEN_SECONDS_TARGET and not sympy
    print(
        f"target: whole process < {GEN_SECONDS_TARGET} s and no sympy: "
        f"{median:.3f} s  {'holds' if ok else 'MISSED'}"
    )
    return ok


# --- scaling -------------------------------------------------------------------------------


def report_scaling(sizes, runs: int, timeout: float) -> None:
    print(f"\n== symgrad.generate on synthetic straight-line functions (limit {timeout:.0f} s) ==")
    header = f"{'statements':>10}{'seconds':>10}{'us/stmt':>10}{'vs first':>10}"
    print(header + f"{'module/src':>12}{'grad_f/f':>10}{'code':>8}  check")
    results, base = [], None
    for n in sizes:
        cmd = [sys.executable, __file__, "--child", str(n), "--runs", str(runs if n <= 1000 else 1)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            row = {"statements": n, "error": "timeout", "seconds": time.perf_counter() - start}
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or "").strip().splitlines()[-1:] or ["?"]
            row = {"statements": n, "error": f"crashed: {tail[0][:80]}", "seconds": float("nan")}
        results.append(row)
        per = row["seconds"] / n * 1e6
        if "error" in row:
            print(f"{n:>10}{row['seconds']:>10.2f}{'':>30}  FAILED after: {row['error']}")
            continue
        base = base or per
        module_ratio = row["module_lines"] / row["source_lines"]
        grad, src = row["functions"]["grad_f"], row["source_function"]
        print(
            f"{n:>10}{row['seconds']:>10.3f}{per:>10.0f}{per / base:>10.2f}"
            f"{module_ratio:>12.2f}{grad['lines'] / src['lines']:>10.2f}"
            f"{grad['code'] / src['code']:>8.2f}  {row.get('check', '')}"
        )
    print("  module/src: lines of the emitted module (f, grad_f, value_and_grad_f, vjp_f)")
    print("  per line of the source file; grad_f/f: lines of grad_f per line of f (code:")
    print("  without blank and comment lines).  vs first: us/stmt over the smallest size's.")
    biggest = next((r for r in results if r["statements"] == LARGEST_STATEMENTS), None)
    if biggest is not None:
        ok = "error" not in biggest and biggest["seconds"] < LARGEST_SECONDS_TARGET
        print(
            f"target: {LARGEST_STATEMENTS} statements in < {LARGEST_SECONDS_TARGET:.0f} s: "
            f"{'holds' if ok else 'MISSED'}"
        )
    good = [r for r in results if "error" not in r]
    if good:
        worst_grad = max(
            r["functions"]["grad_f"]["lines"] / r["source_function"]["lines"] for r in good
        )
        worst_module = max(r["module_lines"] / r["source_lines"] for r in good)
        print(
            f"target: emitted lines <= {LINES_RATIO_TARGET:.0f}x source lines: "
            f"grad_f/f up to {worst_grad:.2f} "
            f"({'holds' if worst_grad <= LINES_RATIO_TARGET else 'MISSED'}); whole module "
            f"up to {worst_module:.2f} "
            f"({'holds' if worst_module <= LINES_RATIO_TARGET else 'MISSED'})"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="timed runs (default 15; quick 3)")
    parser.add_argument(
        "--statements",
        default=None,
        help="synthetic sizes, comma list (default 100,1000,10000; quick 30,100)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds allowed per synthetic size"
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run; figures are rough")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 15)
    if args.child is not None:
        child(args.child, runs)
        return 0
    default_sizes = "30,100" if args.quick else "100,1000,10000"
    sizes = [int(s) for s in (args.statements or default_sizes).split(",") if s.strip()]

    print("bench_gen: symgrad's generation time and emitted size")
    print(f"python {platform.python_version()}, cpus {os.cpu_count()}, {sys.executable}")
    report_whole_process(runs)
    report_scaling(sizes, 3 if not args.quick else 1, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
