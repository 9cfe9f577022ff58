"""Time the lecture's MLP cost and its gradients, symgrad against the baselines.

    python benchmarks/bench_mlp.py [--sizes tiny,medium,large] [--repeat N] [--quick]

Everything runs in one process.  Each round times every implementation once, in a
new random order, and the table reports the median over the rounds, so load from
other processes on the machine falls on every implementation alike.

Implementations (a framework that is not installed is skipped with a note):

- the primal `cost` of examples/mlp.py;
- the lecture's hand-written `gradients` (the baseline of every ratio), and the same
  code also returning the cost (`hand value_and_grad`);
- symgrad's `grad_cost` and `value_and_grad_cost`, generated at start from
  examples/mlp.py (wrt W, V) with `symgrad.generate` and loaded with exec;
- autograd `grad`, JAX `jit(grad)` (compiled before timing) and plain `grad`,
  PyTorch CPU `backward`, each of the same cost written in that library.

Before any timing, every gradient is checked against the hand-written one.  The
table gives time per call, ratios to the hand-written gradient and to the primal,
kernel time, minor page faults (getrusage ru_minflt deltas) and peak NumPy memory
(tracemalloc) per call; the last lines say which of issue 7's targets hold.

By default every library gets one thread (the script runs itself again with
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and XLA_FLAGS set) and the
ratios are of process CPU time: on a small shared machine, pools left spinning by one
implementation slow the next, and other processes' load falls on wall-clock time.
`--threads 0` keeps the libraries' own threading and times wall-clock time.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import importlib.util
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np
from harness import (
    FRAMEWORKS,
    Impl,
    calibrate,
    fixed,
    fmt_time,
    framework_impls,
    pct,
    spread,
    unpack_any,
    versions,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
MLP_SOURCE = REPO_ROOT / "examples" / "mlp.py"

# name -> (N samples, D features, M hidden units, C classes)
SIZES = {
    "tiny": (150, 3, 16, 3),
    "medium": (2000, 50, 128, 10),
    "large": (20000, 200, 512, 10),
}
BASELINE = "hand gradients (lecture)"
PRIMAL = "primal cost (examples/mlp.py)"
SYM_GRAD = "symgrad grad_cost"
SYM_VAG = "symgrad value_and_grad_cost"
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
THREADS_SET = "BENCH_MLP_THREADS"  # marks the process bench_mlp re-ran with THREAD_ENV set
# Targets of issue 7 for value_and_grad_cost / hand-written gradient, per size.
VAG_TARGETS = {"tiny": 1.3, "medium": 1.0, "large": 0.9}


# --- the lecture's hand-written gradient --------------------------------------------------


def logistic(z):
    return 1 / (1 + np.exp(-z))


def softmax(u):
    """Row-wise and stable, like the cost's logsumexp."""
    e = np.exp(u - np.max(u, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def gradients(X, Y, W, V):
    """The lecture's `gradients`, for cost = -mean(sum(U*Y, 1) - logsumexp(U))."""
    Z = logistic(np.dot(X, V))  # N x M
    N, D = X.shape
    Yh = softmax(np.dot(Z, W))  # N x C
    dY = Yh - Y  # N x C
    dW = np.dot(Z.T, dY) / N  # M x C
    dZ = np.dot(dY, W.T)  # N x M
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N  # D x M
    return dW, dV


def value_and_gradients(X, Y, W, V):
    """The same hand-written gradient, also returning the cost from the shared forward pass."""
    N = X.shape[0]
    Z = logistic(np.dot(X, V))
    U = np.dot(Z, W)
    Umax = np.max(U, axis=1, keepdims=True)
    E = np.exp(U - Umax)
    S = np.sum(E, axis=1, keepdims=True)
    nll = np.mean(Umax[:, 0] + np.log(S[:, 0]) - np.sum(U * Y, axis=1))
    dY = E / S - Y
    dW = np.dot(Z.T, dY) / N
    dZ = np.dot(dY, W.T)
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N
    return nll, (dW, dV)


# --- implementations ------------------------------------------------------------------------


def load_example():
    spec = importlib.util.spec_from_file_location("mlp_example", MLP_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_symgrad(emit_to=None):
    """Generate the gradient module from examples/mlp.py now, and exec it."""
    import symgrad

    start = time.perf_counter()
    text = symgrad.generate(
        MLP_SOURCE.read_text(encoding="utf-8"), "examples/mlp.py", funcs=["cost"], wrt=["W", "V"]
    )
    elapsed = time.perf_counter() - start
    if emit_to:
        Path(emit_to).write_text(text, encoding="utf-8")
    module = types.ModuleType("mlp_grad")
    exec(compile(text, "<symgrad: mlp_grad>", "exec"), module.__dict__)
    module.text = text
    return module, elapsed


def revision() -> str:
    """The symgrad checkout's commit (and whether its tree has edits), read-only."""
    try:
        run = functools.partial(
            subprocess.run, cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        head = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
        edits = run(["git", "status", "--porcelain", "--", "symgrad"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' with uncommitted edits to symgrad/' if edits else ''}"


def numpy_impls(example, generated) -> list[Impl]:
    return [
        Impl(PRIMAL, fixed(example.cost, lambda out: (out, None))),
        Impl(BASELINE, fixed(gradients, lambda out: (None, out))),
        Impl("hand value_and_grad", fixed(value_and_gradients, lambda out: out)),
        Impl(SYM_GRAD, fixed(generated.grad_cost, lambda out: (None, out))),
        Impl(SYM_VAG, fixed(generated.value_and_grad_cost, lambda out: out)),
    ]


def variant_impls(specs) -> list[Impl]:
    """`FILE:FUNC` functions of (X, Y, W, V), such as hand-edited copies of the generated
    module, timed beside the rest to measure an optimisation before symgrad emits it."""
    impls = []
    for spec in specs:
        path, _, func = spec.rpartition(":")
        namespace = {"__name__": "variant"}
        exec(compile(Path(path).read_text(encoding="utf-8"), path, "exec"), namespace)
        impls.append(Impl(f"variant {func}", fixed(namespace[func], unpack_any)))
    return impls


def autograd_impls() -> list[Impl]:
    import autograd
    import autograd.numpy as anp

    def cost(X, Y, W, V):
        Q = anp.dot(X, V)
        Z = 1 / (1 + anp.exp(-Q))
        U = anp.dot(Z, W)
        Umax = anp.max(U, axis=1)
        lse = Umax + anp.log(anp.sum(anp.exp(U - Umax[:, None]), axis=1))
        return -anp.mean(anp.sum(U * Y, 1) - lse)

    grad = autograd.grad(cost, argnum=(2, 3))

    def make(X, Y, W, V):
        return (lambda: grad(X, Y, W, V)), (lambda out: (None, out))

    return [Impl("autograd grad", make)]


def jax_impls() -> list[Impl]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def cost(X, Y, W, V):
        Q = jnp.dot(X, V)
        Z = 1 / (1 + jnp.exp(-Q))
        U = jnp.dot(Z, W)
        Umax = jnp.max(U, axis=1)
        lse = Umax + jnp.log(jnp.sum(jnp.exp(U - Umax[:, None]), axis=1))
        return -jnp.mean(jnp.sum(U * Y, 1) - lse)

    def maker(fn):
        def make(X, Y, W, V):
            args = [jax.device_put(a) for a in (X, Y, W, V)]
            jax.block_until_ready(fn(*args))  # compile (jit) or warm up outside the timing

            def run():
                return jax.block_until_ready(fn(*args))

            return run, (lambda out: (None, tuple(np.asarray(g) for g in out)))

        return make

    grad = jax.grad(cost, argnums=(2, 3))
    return [
        Impl("jax jit(grad)", maker(jax.jit(grad)), numpy=False),
        Impl("jax grad (no jit)", maker(grad), numpy=False),
    ]


def torch_impls() -> list[Impl]:
    import torch

    def cost(X, Y, W, V):
        Q = X @ V
        Z = 1 / (1 + torch.exp(-Q))
        U = Z @ W
        Umax = torch.max(U, dim=1).values
        lse = Umax + torch.log(torch.sum(torch.exp(U - Umax[:, None]), dim=1))
        return -torch.mean(torch.sum(U * Y, 1) - lse)

    def make(X, Y, W, V):
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        Wt = torch.from_numpy(W.copy()).requires_grad_()
        Vt = torch.from_numpy(V.copy()).requires_grad_()

        def run():
            Wt.grad = Vt.grad = None
            cost(Xt, Yt, Wt, Vt).backward()
            return Wt.grad, Vt.grad

        return run, (lambda out: (None, tuple(g.numpy() for g in out)))

    return [Impl("torch backward (CPU)", make, numpy=False)]


# --- checking and timing ---------------------------------------------------------------------


def make_data(N, D, M, C, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    Y = np.eye(C)[rng.integers(C, size=N)]
    W = 0.1 * rng.standard_normal((M, C))
    V = 0.1 * rng.standard_normal((D, M))
    return X, Y, W, V


def check_agreement(prepared, data) -> None:
    """Every gradient equals the hand-written one; every value equals the primal."""
    X, Y, W, V = data
    want_grads = gradients(X, Y, W, V)
    want_value = float(prepared[PRIMAL][0]())
    for name, (run, to_numpy) in prepared.items():
        value, grads = to_numpy(run())
        if value is not None:
            np.testing.assert_allclose(float(value), want_value, rtol=1e-9, err_msg=name)
        if grads is not None:
            for got, want, what in zip(grads, want_grads, ("dW", "dV")):
                np.testing.assert_allclose(
                    got, want, rtol=1e-7, atol=1e-12, err_msg=f"{name}: {what}"
                )


def time_batch_both(run, number) -> tuple[float, float, float]:
    """Wall-clock, process CPU and system (kernel) seconds per call over `number`
    back-to-back calls."""
    gc.disable()
    try:
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        cpu = time.process_time()
        start = time.perf_counter()
        for _ in range(number):
            run()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
        return wall / number, cpu / number, kernel / number
    finally:
        gc.enable()


def peak_bytes(run) -> int:
    """Peak of NumPy memory (tracemalloc) during one call, above what was live before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = run()
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
        return peak
    finally:
        tracemalloc.stop()


def page_faults(run, calls) -> float:
    """Minor page faults per call (the process's ru_minflt delta)."""
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        run()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def measure(prepared, repeat, target, seed, clock="wall", numpy_based=()) -> dict:
    runs = {name: run for name, (run, _unpack) in prepared.items()}
    numbers = {name: calibrate(run, target) for name, run in runs.items()}
    samples = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    kernel = {name: [] for name in runs}
    order = list(runs)
    shuffle = random.Random(seed)
    for _ in range(repeat):
        shuffle.shuffle(order)
        for name in order:
            wall, used, sys_time = time_batch_both(runs[name], numbers[name])
            samples[name].append(wall)
            cpu[name].append(used)
            kernel[name].append(sys_time)
    faults = {name: page_faults(run, max(3, numbers[name])) for name, run in runs.items()}
    peaks = {name: peak_bytes(run) if name in numpy_based else None for name, run in runs.items()}
    return {
        name: {
            "median": statistics.median(samples[name] if clock == "wall" else cpu[name]),
            "other": statistics.median(cpu[name] if clock == "wall" else samples[name]),
            "spread": spread(samples[name] if clock == "wall" else cpu[name]),
            "sys": statistics.median(kernel[name]),
            "number": numbers[name],
            "minflt": faults[name],
            "peak": peaks[name],
        }
        for name in runs
    }


# --- report --------------------------------------------------------------------------------


def peak_text(peak) -> str:
    return "-" if peak is None else f"{peak / 2**20:.1f}"


def print_table(size, dims, result, repeat, clock="wall") -> None:
    N, D, M, C = dims
    print(f"\n== {size}: N={N} D={D} M={M} C={C}, float64, median of {repeat} rounds ==")
    base = result[BASELINE]["median"]
    primal = result[PRIMAL]["median"]
    other = "cpu" if clock == "wall" else "wall"
    header = (
        f"{'implementation':<32}{clock + '/call':>12}{'IQR':>6}{'x hand grad':>13}{'x primal':>10}"
    )
    print(
        header + f"{other + '/call':>12}{'sys/call':>11}{'minflt/call':>13}{'peak MB':>9}"
        f"{'calls/batch':>13}"
    )
    for name, row in result.items():
        t = row["median"]
        print(
            f"{name:<32}{fmt_time(t):>12}{pct(row['spread']):>6}"
            f"{t / base:>13.2f}{t / primal:>10.2f}{fmt_time(row['other']):>12}"
            f"{fmt_time(row['sys']):>11}"
            f"{row['minflt']:>13.1f}{peak_text(row['peak']):>9}{row['number']:>13d}"
        )


def target_lines(results) -> list[str]:
    lines = []

    def verdict(ok):
        return "holds" if ok else "MISSED"

    for size, limit in VAG_TARGETS.items():
        if size in results:
            r = results[size]
            ratio = r[SYM_VAG]["median"] / r[BASELINE]["median"]
            lines.append(
                f"value_and_grad_cost <= {limit}x hand gradient at {size}: "
                f"{ratio:.2f}x  {verdict(ratio <= limit)}"
            )
    for size, r in results.items():
        primal = r[PRIMAL]["median"]
        hand = r[BASELINE]["median"] / primal
        sym = r[SYM_GRAD]["median"] / primal
        lines.append(
            f"grad_cost/primal <= 1.1 x hand/primal at {size}: "
            f"{sym:.2f} vs {hand:.2f} (limit {1.1 * hand:.2f})  {verdict(sym <= 1.1 * hand)}"
        )
    if "large" in results:
        r = results["large"]
        hand = r[BASELINE]["minflt"]
        for name in (SYM_GRAD, SYM_VAG):
            sym = r[name]["minflt"]
            # Counts move by a few percent between runs: "fewer" means fewer by more than that.
            lines.append(
                f"{name} page faults < hand gradient at large (by > 5%): "
                f"{sym:.0f} vs {hand:.0f}  {verdict(sym < 0.95 * hand)}"
            )
    return lines


def threads_env(threads: int) -> dict:
    """The environment that gives NumPy's BLAS, PyTorch (OpenMP) and XLA `threads` threads."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    xla = f"intra_op_parallelism_threads={threads}"
    if threads == 1:
        xla = "--xla_cpu_multi_thread_eigen=false " + xla
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla}".strip()
    env[THREADS_SET] = str(threads)
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="tiny,medium,large", help="comma list of " + ",".join(SIZES)
    )
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 31; quick 3)")
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=None,
        help="length of one timed batch of calls (default 0.01; quick 0.001)",
    )
    parser.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma list of " + ",".join(FRAMEWORKS) + ", or none",
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run; figures are rough")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for each library's BLAS/OpenMP/XLA pool (default 1: with more, pools "
        "left spinning by one implementation slow the next); 0 keeps the libraries' defaults",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default=None,
        help="what ratios are taken of: process CPU time (the default with one thread: "
        "steady on a loaded machine) or wall-clock time (the default otherwise)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="FILE:FUNC",
        help="also time this function of (X, Y, W, V) (repeatable), e.g. a hand-edited "
        "copy of the generated value_and_grad_cost",
    )
    parser.add_argument("--emit", metavar="PATH", help="also write the generated module here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if argv is None and args.threads > 0 and os.environ.get(THREADS_SET) != str(args.threads):
        # The thread pools read these variables when the libraries load: run again with them.
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], threads_env(args.threads))
    args.clock = args.clock or ("cpu" if args.threads == 1 else "wall")

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    wanted = [f.strip() for f in args.frameworks.split(",") if f.strip() not in ("", "none")]
    unknown = [f for f in wanted if f not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown framework(s) {', '.join(unknown)}")
    repeat = args.repeat or (3 if args.quick else 31)
    target = args.batch_seconds or (0.001 if args.quick else 0.01)

    generated, gen_seconds = load_symgrad(args.emit)
    impls = numpy_impls(load_example(), generated) + variant_impls(args.variant)
    loaders = {"autograd": autograd_impls, "jax": jax_impls, "torch": torch_impls}
    extra, notes = framework_impls(wanted, loaders)
    impls += extra

    print("bench_mlp: the lecture's MLP cost, gradients wrt W, V")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    threads = {k: os.environ[k] for k in THREAD_ENV if k in os.environ}
    print(f"cpus: {os.cpu_count()}, thread env: {threads or 'defaults'}")
    digest = hashlib.sha256(generated.text.encode()).hexdigest()[:12]
    print(f"symgrad {revision()}; generate(examples/mlp.py): {gen_seconds * 1e3:.1f} ms")
    print(f"emitted module sha256 {digest}" + (f", written to {args.emit}" if args.emit else ""))
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for note in notes:
        print(note)

    results = {}
    for size in sizes:
        dims = SIZES[size]
        data = make_data(*dims, seed=args.seed)
        prepared = {impl.name: impl.make(*data) for impl in impls}
        check_agreement(prepared, data)
        print(f"\n{size}: all {len(prepared)} implementations agree with the hand-written gradient")
        numpy_based = {impl.name for impl in impls if impl.numpy}
        results[size] = measure(prepared, repeat, target, args.seed, args.clock, numpy_based)
        print_table(size, dims, results[size], repeat, args.clock)
        del prepared
        gc.collect()
    print("\nload average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("wall: median wall-clock time; cpu: median process CPU time (all threads);")
    print("IQR: interquartile range of the rounds over their median; sys: kernel CPU time")
    print("(mostly zeroing fresh pages: the minor faults); peak MB: the most NumPy memory")
    print("(tracemalloc) one call holds above what was live before it, '-' for non-NumPy")
    print(f"ratios and targets below are of {args.clock} time")
    print("\ntargets (issue 7)")
    for line in target_lines(results):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
