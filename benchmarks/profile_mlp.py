"""Where the MLP gradients spend their time: per statement, or per NumPy operation.

    python benchmarks/profile_mlp.py [--sizes tiny,medium,large] [--func value_and_grad]
                                     [--split] [--variant FILE:FUNC ...]

Profiles symgrad's emitted `value_and_grad_cost` (or `grad_cost`) beside the
lecture's hand-written gradient written out flat (its `logistic` and `softmax`
inlined), and any `--variant`: a function in a file of your own, such as a
hand-edited copy of the generated module, to measure an optimisation before
symgrad emits it.

Each function's body is run statement by statement (with `--split`, first
rewritten so that every NumPy operation is its own statement), timing each with
perf_counter and counting its minor page faults; the medians over the rounds are
printed next to the whole-function median, timed in interleaved rounds.
"""

from __future__ import annotations

import argparse
import ast
import gc
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_mlp  # noqa: E402 - the sizes, the data and the generated module

HAND_FLAT = """
def hand_value_and_grad(X, Y, W, V):
    N = X.shape[0]
    Q = np.dot(X, V)
    Z = 1 / (1 + np.exp(-Q))
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


def hand_grad(X, Y, W, V):
    Z = 1 / (1 + np.exp(-np.dot(X, V)))
    N, D = X.shape
    U = np.dot(Z, W)
    E = np.exp(U - np.max(U, axis=1, keepdims=True))
    Yh = E / np.sum(E, axis=1, keepdims=True)
    dY = Yh - Y
    dW = np.dot(Z.T, dY) / N
    dZ = np.dot(dY, W.T)
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N
    return dW, dV
"""


class Hoist(ast.NodeTransformer):
    """Rewrite an expression so that each operation's result gets its own temporary."""

    OPS = (ast.BinOp, ast.UnaryOp, ast.Call, ast.Compare, ast.Subscript)

    def __init__(self, prefix):
        self.prefix, self.count, self.pre = prefix, 0, []

    def hoist(self, node):
        node = self.generic_visit(node)
        self.count += 1
        name = f"{self.prefix}{self.count}"
        self.pre.append(ast.Assign([ast.Name(name, ast.Store())], node))
        return ast.Name(name, ast.Load())

    def visit_BinOp(self, node):
        return self.hoist(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.operand, ast.Constant):  # -1.0 is a literal, not an operation
            return node
        return self.hoist(node)

    visit_Call = visit_Compare = visit_Subscript = visit_BinOp

    def visit_Tuple(self, node):
        return self.generic_visit(node)


def statements(fn_node: ast.FunctionDef, split: bool) -> list[ast.stmt]:
    """The body (docstring dropped, `return x` as `_return = x`), optionally one op each."""
    body = list(fn_node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    out = []
    for i, stmt in enumerate(body):
        if isinstance(stmt, ast.Return):
            stmt = ast.Assign([ast.Name("_return", ast.Store())], stmt.value)
        if split and isinstance(stmt, ast.Assign) and isinstance(stmt.value, Hoist.OPS):
            hoist = Hoist(f"_op{i}_")
            top = stmt.value
            stmt.value = hoist.generic_visit(top) if not isinstance(top, ast.Tuple) else top
            out.extend(hoist.pre)
        out.append(stmt)
    return [ast.fix_missing_locations(s) for s in out]


class Stepper:
    """A function body instrumented between statements: `run` returns per-statement deltas
    of a counter (perf_counter for seconds, or the process's minor page faults)."""

    def __init__(self, label, fn_node, namespace, split):
        self.label = label
        self.stmts = statements(fn_node, split)
        self.texts = [ast.unparse(s) for s in self.stmts]
        self.function = namespace[fn_node.name]
        body = [ast.parse(f"_marks = [0] * {len(self.stmts) + 1}; _marks[0] = _counter()")]
        for k, stmt in enumerate(self.stmts, start=1):
            body += [stmt, ast.parse(f"_marks[{k}] = _counter()").body[0]]
        body.append(ast.parse("return _marks").body[0])
        args = ast.arguments(
            posonlyargs=[],
            args=[*fn_node.args.args, ast.arg("_counter")],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        )
        flat = []
        for b in body:
            flat.extend(b.body if isinstance(b, ast.Module) else [b])
        fn = ast.FunctionDef("_instrumented", args, flat, [], None, None, type_params=[])
        module = ast.fix_missing_locations(ast.Module([fn], []))
        scope = dict(namespace)
        exec(compile(module, f"<instrumented {label}>", "exec"), scope)
        self.instrumented = scope["_instrumented"]

    def run(self, args, times, faults=None, clock=time.perf_counter):
        """Run the body once, appending each statement's seconds (or, given `faults`,
        its minor page faults: a separate pass, as the system call disturbs timing)."""
        if faults is None:
            marks, into = self.instrumented(*args, clock), times
        else:
            marks, into = self.instrumented(*args, minor_faults), faults
        for k in range(len(self.stmts)):
            into[k].append(marks[k + 1] - marks[k])


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def load_function(source, name, label, split, extra_globals=None) -> Stepper:
    namespace = {"np": np, **(extra_globals or {})}
    exec(compile(source, f"<{label}>", "exec"), namespace)
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return Stepper(label, node, namespace, split)


def steppers(func, split, variants) -> list[Stepper]:
    import symgrad

    text = symgrad.generate(
        bench_mlp.MLP_SOURCE.read_text(encoding="utf-8"),
        "examples/mlp.py",
        funcs=["cost"],
        wrt=["W", "V"],
    )
    hand_name = {"value_and_grad": "hand_value_and_grad", "grad": "hand_grad"}[func]
    found = [
        load_function(HAND_FLAT, hand_name, "hand", split),
        load_function(text, f"{func}_cost", "symgrad", split),
    ]
    for spec in variants:
        path, _, name = spec.rpartition(":")
        found.append(load_function(Path(path).read_text(encoding="utf-8"), name, name, split))
    return found


def split_result(result):
    """(value or None, grads) of a grad_ or value_and_grad_ function's result."""
    if len(result) == 2 and np.ndim(result[0]) == 0:
        return result
    return None, result


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_calls(fn, number, clock) -> float:
    gc.disable()
    try:
        start = clock()
        for _ in range(number):
            fn()
        return (clock() - start) / number
    finally:
        gc.enable()


def profile(size, stepper_list, repeat, seed, clock="wall"):
    data = bench_mlp.make_data(*bench_mlp.SIZES[size], seed=seed)
    want = bench_mlp.gradients(*data)
    want_value = bench_mlp.load_example().cost(*data)
    for s in stepper_list:
        value, got = split_result(s.function(*data))
        if value is not None:
            np.testing.assert_allclose(value, want_value, rtol=1e-9, err_msg=s.label)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-12, err_msg=s.label)
    per_line = {s.label: ([[] for _ in s.stmts], [[] for _ in s.stmts]) for s in stepper_list}
    whole = {s.label: [] for s in stepper_list}
    number = {
        s.label: bench_mlp.calibrate(lambda s=s: s.function(*data), 0.005) for s in stepper_list
    }
    order = list(stepper_list)
    shuffle = random.Random(seed)
    for r in range(repeat):
        shuffle.shuffle(order)
        for s in order:
            gc.disable()
            times, faults = per_line[s.label]
            s.run(data, times, clock=CLOCKS[clock])
            if r < 3:
                s.run(data, times, faults)
            whole[s.label].append(
                time_calls(lambda s=s: s.function(*data), number[s.label], CLOCKS[clock])
            )
            gc.enable()
    return per_line, whole


def step_overhead(clock, rounds=200) -> float:
    """What the instrumentation adds to each statement: its timing of a trivial one."""
    node = ast.parse("def empty():\n" + "    x = None\n" * 50 + "    return x\n").body[0]
    empty = Stepper("empty", node, {"empty": None}, False)
    times = [[] for _ in empty.stmts]
    for _ in range(rounds):
        empty.run((), times, clock=clock)
    return statistics.median(t for ts in times for t in ts)


def report(size, stepper_list, per_line, whole, repeat, lines=True, clock="wall"):
    N, D, M, C = bench_mlp.SIZES[size]
    overhead = step_overhead(CLOCKS[clock])
    print(f"\n== {size}: N={N} D={D} M={M} C={C}, {clock} time, median of {repeat} rounds ==")
    print(f"(per-statement times have the instrumentation's {overhead * 1e9:.0f} ns taken off)")
    base = statistics.median(whole[stepper_list[0].label])
    for s in stepper_list:
        times, faults = per_line[s.label]
        med = [max(0.0, statistics.median(t) - overhead) for t in times]
        flt = [statistics.median(f) for f in faults]
        total = statistics.median(whole[s.label])
        print(
            f"\n{s.label}: whole function {bench_mlp.fmt_time(total).strip()} "
            f"({total / base:.2f}x {stepper_list[0].label}); statements sum to "
            f"{bench_mlp.fmt_time(sum(med)).strip()}, {sum(flt):.0f} minor faults"
        )
        for text, t, f in zip(s.texts, med, flt) if lines else ():
            share = t / sum(med) * 100
            print(f"  {t * 1e6:10.1f} us {share:5.1f}% {f:7.0f} flt  {text[:90]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,medium,large")
    parser.add_argument("--func", choices=("value_and_grad", "grad"), default="value_and_grad")
    parser.add_argument("--split", action="store_true", help="one NumPy operation per statement")
    parser.add_argument("--variant", action="append", default=[], metavar="FILE:FUNC")
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 51, large 11)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-lines", action="store_true", help="whole functions only")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="cpu: process CPU time, steady on a loaded machine with OPENBLAS_NUM_THREADS=1",
    )
    args = parser.parse_args(argv)
    found = steppers(args.func, args.split, args.variant)
    for size in args.sizes.split(","):
        repeat = args.repeat or (11 if size == "large" else 51)
        per_line, whole = profile(size, found, repeat, args.seed, args.clock)
        report(size, found, per_line, whole, repeat, not args.no_lines, args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
