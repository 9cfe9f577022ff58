"""Time the RNN cost's gradient through T steps, symgrad against hand-written BPTT.

    python benchmarks/bench_rnn.py [--T 10,100,1000] [--hidden 64,8] [--repeat N] [--quick]

The cost is examples/rnn.py: h = tanh(W h + U x_t) for T steps from h0, a squared
loss on every hidden state, averaged over T; the gradient is wrt h0, W, U.  For each
hidden size H (inputs D = H / 2) and each T, everything runs in one process: each
round times every implementation once, in a new random order, and the table reports
the median over the rounds, so load from other processes falls on all of them alike.

Implementations (a framework that is not installed is skipped with a note):

- the primal `cost` of examples/rnn.py;
- a hand-written backpropagation through time in plain NumPy (the baseline of every
  ratio): the forward pass keeps the hidden states in a list, the backward loop
  accumulates `dW += np.outer(...)` in place;
- symgrad's `grad_cost` and `value_and_grad_cost`, generated at start from
  examples/rnn.py (wrt h0, W, U) with `symgrad.generate` and loaded with exec;
- autograd `grad` of the same cost, JAX `jit(grad)` of it written with `lax.scan`
  (compiled before timing), PyTorch CPU `backward` of the Python loop;
- any `--variant FILE:FUNC`, e.g. a hand-edited copy of the generated `grad_cost`
  (benchmarks/rnn_variants.py), to measure a change before symgrad emits it.

Before any timing, every gradient is checked against the hand-written one.  The
table gives time per call, the rounds' interquartile range over their median, time per
step (per call / T), and ratios to the hand-written gradient, to autograd and to the
primal; the last lines say which of issue 3's targets hold.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import random
import statistics
import sys
import time
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
RNN_SOURCE = REPO_ROOT / "examples" / "rnn.py"

PRIMAL = "primal cost (examples/rnn.py)"
BASELINE = "hand BPTT"
SYM_GRAD = "symgrad grad_cost"
SYM_VAG = "symgrad value_and_grad_cost"
AUTOGRAD = "autograd grad"
# Targets of issue 3: grad_cost within this factor of the hand-written BPTT, and faster
# than autograd, at every T.
HAND_TARGET = 1.2


# --- the hand-written gradient ----------------------------------------------------------------


def bptt(X, Y, h0, W, U):
    """Backpropagation through time of examples/rnn.py's cost, wrt h0, W, U."""
    T = X.shape[0]
    hs = [h0]
    h = h0
    for t in range(T):
        h = np.tanh(W @ h + U @ X[t])
        hs.append(h)
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    dh = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        dh += (h - Y[t]) / T  # dh is W.T @ da of the step after: a fresh array
        da = dh * (1 - h * h)
        dW += np.outer(da, hs[t])
        dU += np.outer(da, X[t])
        dh = W.T @ da
    return dh, dW, dU


# --- implementations ------------------------------------------------------------------------


def load_example():
    spec = importlib.util.spec_from_file_location("rnn_example", RNN_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_symgrad():
    """Generate the gradient module from examples/rnn.py now, and exec it."""
    import symgrad

    start = time.perf_counter()
    text = symgrad.generate(
        RNN_SOURCE.read_text(encoding="utf-8"),
        "examples/rnn.py",
        funcs=["cost"],
        wrt=["h0", "W", "U"],
    )
    elapsed = time.perf_counter() - start
    module = types.ModuleType("rnn_grad")
    exec(compile(text, "<symgrad: rnn_grad>", "exec"), module.__dict__)
    return module, elapsed


def numpy_impls(example, generated) -> list[Impl]:
    return [
        Impl(PRIMAL, fixed(example.cost, lambda out: (out, None))),
        Impl(BASELINE, fixed(bptt, lambda out: (None, out))),
        Impl(SYM_GRAD, fixed(generated.grad_cost, lambda out: (None, out))),
        Impl(SYM_VAG, fixed(generated.value_and_grad_cost, lambda out: out)),
    ]


def variant_impls(specs) -> list[Impl]:
    """`FILE:FUNC` functions of (X, Y, h0, W, U), timed beside the rest."""
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

    def cost(X, Y, h0, W, U):
        h = h0
        loss = 0.0
        for t in range(X.shape[0]):
            h = anp.tanh(anp.dot(W, h) + anp.dot(U, X[t]))
            loss = loss + 0.5 * anp.sum((h - Y[t]) ** 2)
        return loss / X.shape[0]

    grad = autograd.grad(cost, argnum=(2, 3, 4))
    return [Impl(AUTOGRAD, fixed(grad, lambda out: (None, out)))]


def jax_impls() -> list[Impl]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def cost(X, Y, h0, W, U):
        def step(h, xy):
            x, y = xy
            h = jnp.tanh(W @ h + U @ x)
            return h, 0.5 * jnp.sum((h - y) ** 2)

        _, losses = jax.lax.scan(step, h0, (X, Y))
        return jnp.sum(losses) / X.shape[0]

    grad = jax.jit(jax.grad(cost, argnums=(2, 3, 4)))

    def make(*data):
        args = [jax.device_put(a) for a in data]
        jax.block_until_ready(grad(*args))  # compile outside the timing

        def run():
            return jax.block_until_ready(grad(*args))

        return run, (lambda out: (None, tuple(np.asarray(g) for g in out)))

    return [Impl("jax jit(grad), lax.scan", make, numpy=False)]


def torch_impls() -> list[Impl]:
    import torch

    def cost(X, Y, h0, W, U):
        h = h0
        loss = 0.0
        for t in range(X.shape[0]):
            h = torch.tanh(W @ h + U @ X[t])
            loss = loss + 0.5 * torch.sum((h - Y[t]) ** 2)
        return loss / X.shape[0]

    def make(X, Y, h0, W, U):
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        params = [torch.from_numpy(a.copy()).requires_grad_() for a in (h0, W, U)]

        def run():
            for p in params:
                p.grad = None
            cost(Xt, Yt, *params).backward()
            return tuple(p.grad for p in params)

        return run, (lambda out: (None, tuple(g.numpy() for g in out)))

    return [Impl("torch backward (CPU)", make, numpy=False)]


# --- checking and timing ---------------------------------------------------------------------


def make_data(T, H, D, seed=0):
    """Inputs, targets and parameters scaled so that tanh neither saturates nor vanishes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, D))
    Y = rng.uniform(-0.5, 0.5, size=(T, H))
    h0 = 0.1 * rng.standard_normal(H)
    W = 0.9 / np.sqrt(H) * rng.standard_normal((H, H))
    U = 0.5 / np.sqrt(D) * rng.standard_normal((H, D))
    return X, Y, h0, W, U


def check_agreement(prepared, data) -> None:
    """Every gradient equals the hand-written one; every value equals the primal."""
    want_grads = bptt(*data)
    want_value = float(prepared[PRIMAL][0]())
    for name, (run, to_numpy) in prepared.items():
        value, grads = to_numpy(run())
        if value is not None:
            np.testing.assert_allclose(float(value), want_value, rtol=1e-9, err_msg=name)
        if grads is not None:
            for got, want, what in zip(grads, want_grads, ("dh0", "dW", "dU")):
                np.testing.assert_allclose(
                    got, want, rtol=1e-7, atol=1e-12, err_msg=f"{name}: {what}"
                )


def time_batch_both(run, number) -> tuple[float, float]:
    """Wall-clock and process CPU seconds per call over `number` back-to-back calls."""
    gc.disable()
    try:
        cpu = time.process_time()
        start = time.perf_counter()
        for _ in range(number):
            run()
        wall = time.perf_counter() - start
        return wall / number, (time.process_time() - cpu) / number
    finally:
        gc.enable()


def measure(prepared, repeat, target, seed, clock="wall") -> dict:
    runs = {name: run for name, (run, _unpack) in prepared.items()}
    numbers = {name: calibrate(run, target) for name, run in runs.items()}
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    order = list(runs)
    shuffle = random.Random(seed)
    for _ in range(repeat):
        shuffle.shuffle(order)
        for name in order:
            w, c = time_batch_both(runs[name], numbers[name])
            wall[name].append(w)
            cpu[name].append(c)
    primary, other = (wall, cpu) if clock == "wall" else (cpu, wall)
    return {
        name: {
            "median": statistics.median(primary[name]),
            "other": statistics.median(other[name]),
            "spread": spread(primary[name]),
            "number": numbers[name],
        }
        for name in runs
    }


# --- report --------------------------------------------------------------------------------


def print_table(T, H, D, result, repeat, clock="wall") -> None:
    print(f"\n== T={T} H={H} D={D}, float64, median of {repeat} rounds ==")
    base = result[BASELINE]["median"]
    primal = result[PRIMAL]["median"]
    auto = result[AUTOGRAD]["median"] if AUTOGRAD in result else None
    other = "cpu" if clock == "wall" else "wall"
    print(
        f"{'implementation':<32}{clock + '/call':>12}{'IQR':>6}{'us/step':>9}{'x hand':>8}"
        f"{'x autograd':>12}{'x primal':>10}{other + '/call':>12}{'calls/batch':>13}"
    )
    for name, row in result.items():
        t = row["median"]
        vs_auto = f"{t / auto:.3f}" if auto else "-"
        print(
            f"{name:<32}{fmt_time(t):>12}{pct(row['spread']):>6}{t / T * 1e6:>9.2f}{t / base:>8.2f}"
            f"{vs_auto:>12}{t / primal:>10.2f}{fmt_time(row['other']):>12}{row['number']:>13d}"
        )


def target_lines(results) -> list[str]:
    lines = []

    def verdict(ok):
        return "holds" if ok else "MISSED"

    for (T, H), r in results.items():
        sym = r[SYM_GRAD]["median"]
        ratio = sym / r[BASELINE]["median"]
        lines.append(
            f"grad_cost <= {HAND_TARGET}x hand BPTT at T={T} H={H}: "
            f"{ratio:.2f}x  {verdict(ratio <= HAND_TARGET)}"
        )
        if AUTOGRAD in r:
            auto = r[AUTOGRAD]["median"]
            lines.append(
                f"grad_cost faster than autograd at T={T} H={H}: "
                f"{sym / auto:.3f}x ({auto / sym:.1f}x faster)  {verdict(sym < auto)}"
            )
        else:
            lines.append(f"grad_cost faster than autograd at T={T} H={H}: not measured")
    return lines


def int_list(text) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", default=None, help="comma list of steps (default 10,100,1000)")
    parser.add_argument(
        "--hidden", default=None, help="comma list of hidden sizes H, inputs D = H/2 (64,8)"
    )
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 21; quick 3)")
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
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run (T=5,20, H=8); figures are rough"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="FILE:FUNC",
        help="also time this function of (X, Y, h0, W, U) (repeatable), e.g. a hand-edited "
        "copy of the generated grad_cost",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what ratios are taken of: wall clock (default) or process CPU time, steadier "
        "on a loaded machine",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    steps = int_list(args.T or ("5,20" if args.quick else "10,100,1000"))
    hidden = int_list(args.hidden or ("8" if args.quick else "64,8"))
    if not steps or min(steps) < 1 or not hidden or min(hidden) < 2:
        parser.error("--T needs steps >= 1 and --hidden sizes >= 2")
    wanted = [f.strip() for f in args.frameworks.split(",") if f.strip() not in ("", "none")]
    unknown = [f for f in wanted if f not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown framework(s) {', '.join(unknown)}")
    repeat = args.repeat or (3 if args.quick else 21)
    target = args.batch_seconds or (0.001 if args.quick else 0.01)

    generated, gen_seconds = load_symgrad()
    impls = numpy_impls(load_example(), generated) + variant_impls(args.variant)
    loaders = {"autograd": autograd_impls, "jax": jax_impls, "torch": torch_impls}
    extra, notes = framework_impls(wanted, loaders)
    impls += extra

    print("bench_rnn: examples/rnn.py, gradient wrt h0, W, U")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    threads = {
        k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ
    }
    print(f"cpus: {os.cpu_count()}, thread env: {threads or 'defaults'}")
    print(f"symgrad.generate(examples/rnn.py): {gen_seconds * 1e3:.1f} ms")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for note in notes:
        print(note)

    results = {}
    for H in hidden:
        D = max(1, H // 2)
        for T in steps:
            data = make_data(T, H, D, seed=args.seed)
            prepared = {impl.name: impl.make(*data) for impl in impls}
            check_agreement(prepared, data)
            print(f"\nT={T} H={H}: all {len(prepared)} implementations agree with hand BPTT")
            results[T, H] = measure(prepared, repeat, target, args.seed, args.clock)
            print_table(T, H, D, results[T, H], repeat, args.clock)
            del prepared
            gc.collect()
    print("\nload average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("wall: median wall-clock time; cpu: median process CPU time (all threads)")
    print("IQR: interquartile range of the rounds over their median")
    print(f"ratios and targets below are of {args.clock} time")
    print("\ntargets (issue 3)")
    for line in target_lines(results):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
