"""Where the RNN gradients spend each step: the median time of every statement in a loop.

    python benchmarks/profile_rnn.py [--T 100] [--hidden 64,8] [--rounds 20]
                                     [--variant FILE:FUNC ...]

Profiles symgrad's emitted `grad_cost` for examples/rnn.py beside bench_rnn's
hand-written BPTT and any `--variant` (a function of (X, Y, h0, W, U) in a file of
your own, such as benchmarks/rnn_variants.py).  Every statement in the body of each
`for` loop is timed with perf_counter at every step; the table gives each statement's
median over all steps of all rounds, less the median of a timed `pass` (the cost of
the timing itself), and their sum, the cost of one step of each loop.  A median of
single statements is not disturbed by the process being descheduled now and then.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_rnn  # noqa: E402 - the data, the hand-written BPTT and the generated module


def function_node(source: str, name: str) -> ast.FunctionDef:
    tree = ast.parse(source)
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


class Instrument(ast.NodeTransformer):
    """Time every statement of the body of every top-level `for` loop: statement k of the
    loop appends its perf_counter delta to _deltas[k]; `pass` is added to each loop as
    the measure of the timing's own cost."""

    def __init__(self):
        self.labels: list[tuple[int, str]] = []  # (loop number, statement text)
        self.loops = 0

    def visit_For(self, node):
        loop = self.loops
        self.loops += 1
        body = [ast.parse("_m = _clock()").body[0]]
        for stmt in [*node.body, ast.Pass()]:
            k = len(self.labels)
            self.labels.append((loop, ast.unparse(stmt)))
            body.append(stmt)
            body.extend(
                ast.parse(f"_n = _clock(); _deltas[{k}].append(_n - _m); _m = _clock()").body
            )
        node.body = body
        return node  # loops nested in a loop body are timed as one statement


def instrumented(source, name, label):
    """(function taking the arguments and a list of delta lists, statement labels).
    The function is compiled alone, with only `np` in its globals."""
    node = function_node(source, name)
    tool = Instrument()
    node.body = [tool.visit(stmt) if isinstance(stmt, ast.For) else stmt for stmt in node.body]
    node.name = "_profiled"
    node.args.args.append(ast.arg("_deltas"))
    node.decorator_list = []
    module = ast.fix_missing_locations(ast.Module([node], []))
    namespace = {"np": np, "_clock": time.perf_counter}
    exec(compile(module, f"<instrumented {label}>", "exec"), namespace)
    return namespace["_profiled"], tool.labels


def profile(fn, labels, data, rounds):
    deltas = [[] for _ in labels]
    for _ in range(rounds):
        fn(*data, deltas)
    return [statistics.median(d) if d else 0.0 for d in deltas]


def sources(variants):
    import symgrad

    generated = symgrad.generate(
        bench_rnn.RNN_SOURCE.read_text(encoding="utf-8"),
        "examples/rnn.py",
        funcs=["cost"],
        wrt=["h0", "W", "U"],
    )
    found = [
        ("hand BPTT", Path(bench_rnn.__file__).read_text(encoding="utf-8"), "bptt"),
        ("symgrad grad_cost", generated, "grad_cost"),
    ]
    for spec in variants:
        path, _, func = spec.rpartition(":")
        found.append((f"variant {func}", Path(path).read_text(encoding="utf-8"), func))
    return found


def report(label, labels, medians) -> None:
    print(f"\n-- {label}: median us per step")
    loops = sorted({loop for loop, _ in labels})
    for loop in loops:
        rows = [(text, t) for (lp, text), t in zip(labels, medians) if lp == loop]
        overhead = rows[-1][1]  # the timed `pass`
        total = 0.0
        print(f"   loop {loop + 1} (timing overhead {overhead * 1e6:.2f} us/stmt subtracted)")
        for text, t in rows[:-1]:
            net = max(0.0, t - overhead)
            total += net
            print(f"   {net * 1e6:7.2f}  {text.splitlines()[0]}")
        print(f"   {total * 1e6:7.2f}  = loop {loop + 1} per step")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=100, help="steps (default 100)")
    parser.add_argument("--hidden", default="64,8", help="comma list of H, D = H/2 (64,8)")
    parser.add_argument("--rounds", type=int, default=20, help="calls per function (20)")
    parser.add_argument("--variant", action="append", default=[], metavar="FILE:FUNC")
    args = parser.parse_args(argv)

    found = []
    for label, source, name in sources(args.variant):
        fn, labels = instrumented(source, name, label)
        found.append((label, fn, labels))
    for H in bench_rnn.int_list(args.hidden):
        D = max(1, H // 2)
        data = bench_rnn.make_data(args.T, H, D)
        print(f"\n== T={args.T} H={H} D={D}, {args.rounds} calls each ==")
        results = {label: None for label, _, _ in found}
        for _ in range(3):  # interleave: each function profiled in turn, three times
            for label, fn, labels in found:
                medians = profile(fn, labels, data, max(1, args.rounds // 3))
                old = results[label]
                results[label] = (
                    medians if old is None else [min(a, b) for a, b in zip(old, medians)]
                )
        for label, _fn, labels in found:
            report(label, labels, results[label])
    return 0


if __name__ == "__main__":
    sys.exit(main())
