"""The timing harness shared by bench_mlp.py and bench_rnn.py.

The scripts are run as `python benchmarks/bench_*.py`, so this folder is on sys.path and
they import it as `harness`.  What lives here is the same in both: the `Impl` record of
one implementation, the loading of the optional frameworks (a missing one becomes a
note), the versions line, timing a batch of calls and calibrating its length, the
interquartile spread, and the formatting of times and percentages.  Each script keeps
what is its own: the data, the hand-written gradient, the checks, `measure` and the table.
"""

from __future__ import annotations

import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FRAMEWORKS = ("autograd", "jax", "torch")


@dataclass
class Impl:
    """`make(*data)` returns (run, to_numpy): run() does one call, ready to time;
    to_numpy(run()) gives (value or None, gradients or None) as NumPy for checking."""

    name: str
    make: Callable
    numpy: bool = True  # its arrays are NumPy's, so tracemalloc sees them


def fixed(fn, unpack):
    """An `Impl.make` that calls `fn` on the data as it is."""

    def make(*data):
        return (lambda: fn(*data)), unpack

    return make


def unpack_any(out):
    """(value, grads) from a value_and_grad function's result, (None, grads) from a grad's."""
    if len(out) == 2 and np.ndim(out[0]) == 0:
        return out
    return None, out


def framework_impls(names, loaders) -> tuple[list[Impl], list[str]]:
    """The implementations `loaders[name]()` gives for each of `names`, and a note for
    each framework that is not installed."""
    impls, notes = [], []
    for name in names:
        try:
            impls.extend(loaders[name]())
        except ImportError as exc:
            notes.append(f"skipped {name}: not installed ({exc})")
    return impls, notes


def versions() -> dict:
    """Python's, NumPy's and each loaded framework's version; "?" if none can be found."""
    found = {"python": platform.python_version(), "numpy": np.__version__}
    for name in FRAMEWORKS:
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", None)
            if found[name] is None:  # autograd has no __version__
                from importlib.metadata import PackageNotFoundError, version

                try:
                    found[name] = version(name)
                except PackageNotFoundError:
                    found[name] = "?"
    return found


def time_batch(run, number) -> float:
    """Seconds per call over `number` back-to-back calls, the garbage collector off."""
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            run()
        return (time.perf_counter() - start) / number
    finally:
        gc.enable()


def calibrate(run, target) -> int:
    """Calls per batch so that one batch takes about `target` seconds."""
    single = time_batch(run, 1)
    if single >= target:
        return 1
    return max(1, min(10_000, round(target / time_batch(run, max(1, round(target / single))))))


def spread(values) -> float:
    """Interquartile range over the median: how far to trust the median."""
    if len(values) < 4:
        return float("nan")
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / statistics.median(values)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.3f} s "


def pct(x: float) -> str:
    return "-" if x != x else f"{x:.0%}"
