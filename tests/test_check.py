"""`symgrad check`, its interpreter and its two oracles.

* `interpret.EVALUATORS` covers every primitive, and running the IR of the rule
  table and of the examples (primal and adjoint programs) with the NumPy
  backend computes what the generated code computes;
* the sympy oracle agrees with central differences on the rule table;
* check passes on every example, in memory and against the checked-in
  modules of generated/, and fails for every mutation of an adjoint line, with
  each reference on its own;
* stale modules, `gen --check`, bad input, JSON output, kinks, positive
  inputs, helpers checked at their call sites, and that `symgrad gen` never
  imports sympy.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close, load_module
from test_rules import PARAM_NAMES, RULES, _draw, make_source

from symgrad import check as check_module
from symgrad import generate, inplace
from symgrad.check import Options, check, inferred_positive, read_header
from symgrad.cli import main
from symgrad.errors import InternalError, SymgradError
from symgrad.frontend import parse, translate
from symgrad.interpret import EVALUATORS, Interpreter, NumpyBackend
from symgrad.oracles import SympyOracle, numpy_function, probe
from symgrad.primitives import PRIMITIVES
from symgrad.reverse import reverse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from regenerate import GENERATED as GENERATED_ENTRIES  # noqa: E402
from regenerate import command  # noqa: E402

# every example that is a cost file (examples/ also holds scripts that run them)
EXAMPLES = sorted({ROOT / source for source, *_ in GENERATED_ENTRIES})
# examples whose functions have no shape annotations: the shapes check needs
EXTRA_SHAPES = {"lecture_trace": {"w0": (), "w1": (), "x": ("N",)}}


def example(name: str) -> tuple[str, str]:
    path = f"examples/{name}.py"
    return (ROOT / path).read_text(), path


def failing(report, entry=None) -> list:
    return [r for r in report.rows if not r.ok and (entry is None or r.function == entry)]


# ---------------------------------------------------------------- the interpreter


def test_every_primitive_has_an_evaluator():
    assert set(EVALUATORS) == set(PRIMITIVES)


class Recording(Interpreter):
    """The NumPy interpreter, noting every primitive it evaluates."""

    def __init__(self, seen: set, calls=None):
        super().__init__(NumpyBackend(), calls)
        self.seen = seen

    def step(self, e, env):
        self.seen.add(e.prim)
        super().step(e, env)


def run_program(stmts, env, seen, result_atoms):
    runner = Recording(seen)
    with np.errstate(all="ignore"):
        runner.run(stmts, env)
    return [runner.read(env, a) for a in result_atoms]


def run_adjoint(fn, wrt, mode, args, g, seen):
    """The adjoint program, as reverse() builds it and as the emitter writes it (in place)."""
    adj = reverse(fn, wrt, mode)
    results = []
    extra = [] if adj.seed is None else [adj.seed]
    rewritten = inplace.rewrite(adj.stmts, adj.grads, [*adj.grads_wrt, *extra])
    for stmts in (adj.stmts, rewritten):
        env = dict(zip(adj.params, [np.copy(a) if np.ndim(a) else a for a in args]))
        if adj.seed is not None:
            env[adj.seed] = g
        results.append(run_program(stmts, env, seen, adj.grads))
    for plain, in_place in zip(*results):
        assert_close(in_place, plain, rtol=0, atol=0, what="in place")
    return results[0]


def compare_with_module(source, path, func, args, seen, what):
    """Primal, vjp and grad programs of `func`, interpreted, against the generated module."""
    fn = translate(parse(source, path), func, inline=True)
    names = [p.hint for p in fn.params]
    mod = load_module(generate(source, path, [func]))
    (value,) = run_program(fn.body, dict(zip(fn.params, args)), seen, [fn.result])
    assert_close(value, getattr(mod, func)(*args), rtol=1e-12, atol=1e-14, what=f"{what} f")
    g = np.random.default_rng(0).standard_normal(np.shape(value))
    runs = [("vjp", g, getattr(mod, f"vjp_{func}")(*args, g))]
    if np.ndim(value) == 0:
        runs.append(("grad", None, getattr(mod, f"grad_{func}")(*args)))
    for mode, seed, expected in runs:
        got = run_adjoint(fn, names, mode, args, seed, seen)
        expected = expected if len(names) > 1 else (expected,)
        for n, a, b in zip(names, got, expected, strict=True):
            assert_close(a, b, rtol=1e-12, atol=1e-14, what=f"{what} {mode} d/d{n}")


def test_interpreter_computes_what_the_emitted_code_computes_for_every_primitive():
    """Primal and adjoint programs of the rule table and the examples, interpreted.

    Together they evaluate every primitive, so no entry of EVALUATORS goes untested.
    """
    seen: set = set()
    for k, rule in enumerate(RULES):
        annotated = k % 2 == 0
        source = make_source(rule.body, rule.shapes, annotated)
        rng = np.random.default_rng(zlib.crc32(rule.id.encode()))
        args = _draw(rng, rule.domain, rule.shapes)
        compare_with_module(source, "<rule>", "f", args, seen, rule.id)
    rng = np.random.default_rng(1)
    for name, shapes in [
        ("rnn", [(3, 2), (3, 4), (4,), (4, 4), (4, 2)]),
        ("mlp", [(3, 2), (3, 4), (5, 4), (2, 5)]),
    ]:
        args = [rng.uniform(-1, 1, size=s) for s in shapes]
        compare_with_module(*example(name), "cost", args, seen, name)
    zipped = textwrap.dedent(
        """
        def f(x: "4", y: "3"):
            s = 0.0
            for a, b in zip(x, y):
                s = s + a * b * b
            return s
        """
    )
    compare_with_module(zipped, "<zip>", "f", [rng.normal(size=4), rng.normal(size=3)], seen, "zip")
    generic = textwrap.dedent(
        """
        import numpy as np

        def f(x, y):
            n, m = x.shape
            z = x.reshape(m, n)
            return np.sum(np.where(x != y, z.T * y.ndim, 0.5 * y))
        """
    )
    x = rng.normal(size=(2, 3))
    compare_with_module(generic, "<generic>", "f", [x, np.where(x > 0, x, 1.0)], seen, "generic")
    source, path = example("mlp")
    primal = translate(parse(source, path), "cost", inline=False)

    def call(name, values):
        helper = translate(parse(source, path), name, inline=False)
        return run_program(helper.body, dict(zip(helper.params, values)), seen, [helper.result])[0]

    runner = Recording(seen, call)
    runner.run(primal.body, dict(zip(primal.params, args)))
    missing = set(PRIMITIVES) - seen
    assert not missing, f"primitives never evaluated: {sorted(missing)}"


def test_a_call_needs_a_resolver():
    with pytest.raises(InternalError):
        EVALUATORS["call"](NumpyBackend(), [1.0], {"func": "helper"})


def test_scatter_add_updates_in_place_like_the_emitted_code():
    acc = np.zeros((2, 3))
    out = EVALUATORS["scatter_add"](NumpyBackend(), [acc, np.ones(3), 1], {"index": (("int", 0),)})
    assert out is acc
    assert_close(acc, [[0, 0, 0], [1, 1, 1]])
    assert EVALUATORS["scatter_add"](NumpyBackend(), [1.5, 2.0], {"index": ()}) == 3.5


# ---------------------------------------------------------------- the sympy oracle


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_sympy_oracle_agrees_with_finite_differences(rule):
    source = make_source(rule.body, rule.shapes, annotated=True)
    fn = translate(parse(source, "<rule>"), "f", inline=True)
    rng = np.random.default_rng(zlib.crc32(rule.id.encode()))
    args = _draw(rng, rule.domain, rule.shapes)
    f = numpy_function(fn)
    value = f(args)
    g = rng.standard_normal(np.shape(value))
    exact_value, exact = SympyOracle(fn).value_and_vjp(args, g)
    assert_close(exact_value, value, rtol=1e-12, atol=1e-14, what="value")
    for i in range(len(args)):
        p = probe(f, args, i, rng)
        expected, noise = p.reference(g)
        got = p.project(exact[i])
        assert np.all(np.abs(got - expected) <= 1e-6 * (np.abs(expected) + 1) + noise), (
            f"d/d{PARAM_NAMES[i]}: sympy {got} vs differences {expected}"
        )


def test_sympy_oracle_follows_loops_and_branches():
    source = textwrap.dedent(
        """
        import numpy as np

        def f(x: "3", a: ""):
            s = 0.0
            for k in range(3):
                if a > 0:
                    s = s + np.sin(x[k]) * a
                else:
                    s = s - x[k] ** 2
            return s
        """
    )
    fn = translate(parse(source, "<loop>"), "f", inline=True)
    x = np.array([0.3, -0.7, 1.1])
    for a, dx, da in (
        (0.5, 0.5 * np.cos(x), np.sum(np.sin(x))),
        (-0.5, -2 * x, 0.0),
    ):
        value, (gx, ga) = SympyOracle(fn).value_and_vjp([x, a], 1.0)
        assert_close(gx, dx, what="d/dx")
        assert_close(ga, da, what="d/da")


# ---------------------------------------------------------------- check on the examples


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_check_passes_on_every_example(path):
    options = Options(shapes=EXTRA_SHAPES.get(path.stem, {}))
    report = check(path.read_text(), f"examples/{path.name}", options=options)
    assert report.ok, report.table()
    assert report.rows and not report.notes
    for row in report.rows:
        assert set(row.measures) == {"fd", "sympy"}, row


GENERATED = sorted((ROOT / "generated").glob("*_grad.py"))


@pytest.mark.parametrize("module", GENERATED, ids=lambda p: p.stem)
def test_check_passes_on_the_checked_in_modules(module):
    text = module.read_text()
    source_path = text.splitlines()[0].split(" from ")[1].removesuffix(". Do not edit.")
    shapes = EXTRA_SHAPES.get(Path(source_path).stem, {})
    report = check(
        (ROOT / source_path).read_text(),
        source_path,
        module_text=text,
        module_path=str(module),
        options=Options(points=2, shapes=shapes),
    )
    assert report.ok, report.table()
    assert not report.stale


def test_forward_mode_module_is_checked_through_jvp(tmp_path, capsys):
    source, path = example("mlp")
    text = generate(source, path, ["cost"], ["W", "V"], mode="forward")
    report = check(source, path, text, "<forward>", Options(points=1))
    assert report.ok, report.table()
    rows = {(r.function, r.parameter) for r in report.rows}
    assert ("jvp_cost", "(tangent)") in rows and not any(f.startswith("vjp") for f, _ in rows)
    assert report.functions[0]["wrt"] == ["W", "V"]  # read from jvp_cost's parameters
    src = tmp_path / "model.py"
    src.write_text(COST)
    status, out, _ = run(["check", src, "--mode", "all", "--json"], capsys)
    assert status == 0
    functions = {r["function"] for r in json.loads(out)["rows"]}
    assert functions == {"cost", "grad_cost", "value_and_grad_cost", "vjp_cost", "jvp_cost"}


def test_lecture_mlp_rows():
    source, path = example("mlp")
    report = check(source, path, options=Options(funcs=["cost"], wrt=["W", "V"]))
    rows = {(r.function, r.parameter): r for r in report.rows}
    assert set(rows) == {
        ("cost", "(value)"),
        *((e, p) for e in ("grad_cost", "value_and_grad_cost", "vjp_cost") for p in ("W", "V")),
        ("value_and_grad_cost", "(value)"),
    }
    assert rows[("grad_cost", "W")].shape == (5, 4)  # M, C: distinct sizes
    assert rows[("grad_cost", "V")].shape == (2, 5)  # D, M
    assert report.ok


def test_helper_is_checked_where_its_caller_calls_it():
    source, path = example("batchnorm")
    report = check(source, path, options=Options(funcs=["batchnorm"]))
    assert report.ok, report.table()
    (info,) = report.functions
    assert info["points"] == "as called from cost"
    assert info["shapes"] == {"X": [3, 2], "gamma": [2], "beta": [2], "eps": []}


# ---------------------------------------------------------------- mutations


def adjoint_values(tree, entry: str):
    """The right-hand sides of adjoint assignments (`dW = ...`, `dW += ...`) in one function."""
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry]
    for node in ast.walk(fn):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id[:1] == "d" and len(target.id) > 1:
                yield target.id, node.value


def mutations(value):
    """(kind, replacement) for one adjoint value: flip its sign, drop a term, undo a transpose."""
    if isinstance(value, ast.Call) and ast.unparse(value.func) in ("np.zeros_like", "np.zeros"):
        return  # an accumulator's zero start: flipping it changes nothing
    yield "flip", ast.UnaryOp(ast.USub(), value)
    if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub)):
        yield "drop-right", value.left
        yield "drop-left", value.right
    if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Mult, ast.Div)):
        yield "drop-factor", value.left
    for node in ast.walk(value):
        if isinstance(node, ast.Attribute) and node.attr == "T":
            yield "transpose", _replace(value, node, node.value)


def _replace(tree, old, new):
    """A copy of expression `tree` with its first subexpression spelled like `old` made `new`."""
    copy = ast.parse(ast.unparse(tree), mode="eval").body
    old_text = ast.unparse(old)
    for node in ast.walk(copy):
        for name, child in ast.iter_fields(node):
            if isinstance(child, ast.AST) and ast.unparse(child) == old_text:
                setattr(node, name, new)
                return copy
    raise AssertionError("transpose not found")


def mutants(text: str, entry: str):
    """Every one-line mutation of the adjoint assignments of `entry`, as module texts."""
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    for target, value in adjoint_values(tree, entry):
        for kind, new in mutations(value):
            start = sum(len(x) for x in lines[: value.lineno - 1]) + value.col_offset
            end = sum(len(x) for x in lines[: value.end_lineno - 1]) + value.end_col_offset
            mutated = text[:start] + f"({ast.unparse(new)})" + text[end:]
            if mutated != text:
                yield f"{entry}:{target}:{kind}", mutated


# Square shapes, so that an undone transpose computes wrong numbers instead of raising.
SQUARE = {"N": 3, "D": 3, "M": 3, "C": 3, "H": 3, "T": 3}
# The tangent of the shift of a stable logsumexp cancels exactly: changing it changes nothing.
EQUIVALENT = {"jvp_cost:dZmax"}
MUTATED = [
    ("mlp", ("W", "V"), "jvp_cost"),
    ("rnn", ("h0", "W", "U"), "jvp_cost"),
    ("mlp", ("W", "V"), "grad_cost"),
    ("mlp", ("W", "V"), "value_and_grad_cost"),
    ("mlp", ("W", "V"), "vjp_cost"),
    ("softmax_regression", None, "grad_cost"),
    ("residual_block", ("W1", "b1", "W2"), "grad_cost"),
    ("batchnorm", ("X", "gamma", "beta"), "vjp_cost"),
    ("rnn", ("h0", "W", "U"), "grad_cost"),
    ("logistic_regression", None, "grad_cost"),
]


@pytest.mark.parametrize("name, wrt, entry", MUTATED, ids=[f"{m[0]}-{m[2]}" for m in MUTATED])
def test_every_adjoint_mutation_fails_against_both_references(name, wrt, entry):
    source, path = example(name)
    options = Options(funcs=["cost"], wrt=list(wrt) if wrt else None, dims=SQUARE, points=1)
    mode = "forward" if entry.startswith("jvp_") else "reverse"
    text = generate(source, path, ["cost"], options.wrt, mode=mode)
    assert check(source, path, text, "<original>", options).ok
    found = [
        (label, m) for label, m in mutants(text, entry) if label.rsplit(":", 1)[0] not in EQUIVALENT
    ]
    assert len(found) >= 4, "too few mutation sites"
    numeric = set()
    for label, mutated in found:
        for ref in ("fd", "sympy"):
            alone = replace(options, references=(ref,))
            report = check(source, path, mutated, "<mutant>", alone)
            assert not report.ok and not report.stale, f"{label} survived the {ref} reference"
            rows = failing(report, entry)
            assert rows and all(r.function == entry for r in failing(report)), label
            if not any(r.errors for r in rows):  # no exception, no wrong shape: numbers differ
                assert any(not r.measures[ref].ok for r in rows), label
                numeric.add(label)
    assert 2 * len(numeric) >= len(found), "most mutants should compute wrong numbers, not raise"


def test_mutation_with_distinct_sizes_fails_by_shape():
    source, path = example("mlp")
    text = generate(source, path, ["cost"], ["W", "V"])
    mutated = text.replace("dW = Z.T @ dU", "dW = Z @ dU", 1)
    assert mutated != text
    report = check(source, path, mutated, "<mutant>", Options(funcs=["cost"], wrt=["W", "V"]))
    (row,) = [r for r in failing(report) if r.parameter == "W"]
    assert row.function == "grad_cost"
    assert "ValueError" in row.errors[0] or "shape" in row.errors[0]


def test_large_inputs_are_checked_along_directions():
    source, path = example("mlp")
    dims = {"N": 12, "D": 11, "M": 10, "C": 9}
    options = Options(funcs=["cost"], wrt=["W", "V"], dims=dims, points=1)
    text = generate(source, path, ["cost"], ["W", "V"])
    report = check(source, path, text, "<ok>", options)
    assert report.ok, report.table()
    assert any("sympy reference skipped" in n for n in report.notes)
    mutated = text.replace("dV = X.T @ dQ", "dV = -(X.T @ dQ)", 1)
    assert mutated != text
    report = check(source, path, mutated, "<mutant>", options)
    assert [(r.function, r.parameter) for r in failing(report)] == [("grad_cost", "V")]


def test_edited_primal_fails_the_value_row():
    source, path = example("linear_regression")
    text = generate(source, path, ["cost"])
    mutated = text.replace("penalty = 0.5 * lam", "penalty = 0.25 * lam", 1)
    assert mutated.count("0.25 * lam") == 1
    report = check(source, path, mutated, "<mutant>", Options(points=1))
    assert [(r.function, r.parameter) for r in failing(report)] == [("cost", "(value)")]


def test_module_that_does_not_load_fails():
    source, path = example("mlp")
    text = generate(source, path, ["cost"]) + "\ndef broken(:\n"
    report = check(source, path, text, "<broken>", Options(points=1))
    assert not report.ok
    assert "SyntaxError" in failing(report)[0].errors[0]


def test_missing_entry_point_fails():
    source, path = example("mlp")
    text = generate(source, path, ["cost"]).replace("def vjp_cost(", "def vjp_cost_gone(")
    report = check(source, path, text, "<edited>", Options(points=1))
    rows = failing(report)
    assert rows and {r.function for r in rows} == {"vjp_cost"}
    assert "vjp_cost is missing from the module" in rows[0].errors


# ---------------------------------------------------------------- staleness and gen --check

COST = """\
import numpy as np


def cost(w: "D", X: "N,D", y: "N"):
    r = X @ w - y
    return 0.5 * np.mean(r ** 2)
"""


def run(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def test_stale_module_is_reported_with_the_command_that_regenerates_it(tmp_path, capsys):
    src, out = tmp_path / "model.py", tmp_path / "model_grad.py"
    src.write_text(COST)
    assert run(["gen", src, "--wrt", "w", "-o", out], capsys)[0] == 0
    status, text, _ = run(["check", src, "-m", out], capsys)
    assert status == 0, text
    src.write_text(COST.replace("0.5 *", "0.25 *"))
    status, text, _ = run(["check", src, "-m", out], capsys)
    assert status == 1
    assert "stale" in text
    command = f"symgrad gen {src} --func cost --wrt w -o {out}"
    assert command in text
    assert "FAIL" in text  # the rows still say what no longer matches
    assert run(command.split()[1:], capsys)[0] == 0
    assert run(["check", src, "-m", out], capsys)[0] == 0


def test_module_without_source_hash_is_stale(tmp_path):
    text = generate(COST, "model.py")
    edited = "\n".join(line for line in text.splitlines() if "sha256" not in line) + "\n"
    report = check(COST, "model.py", edited, "model_grad.py", Options(points=1))
    assert read_header(edited)[0] is None
    assert report.stale and not report.ok
    assert all(r.ok for r in report.rows)


def test_gen_check(tmp_path, capsys):
    src, out = tmp_path / "model.py", tmp_path / "model_grad.py"
    src.write_text(COST)
    status, _, err = run(["gen", src, "--check", "-o", out], capsys)
    assert status == 1 and "does not exist" in err
    assert not out.exists()
    assert run(["gen", src, "-o", out], capsys)[0] == 0
    status, text, _ = run(["gen", src, "--check", "-o", out], capsys)
    assert status == 0 and "up to date" in text
    out.write_text(out.read_text().replace("np.mean", "np.average", 1))
    before = out.read_text()
    status, _, err = run(["gen", src, "--check", "-o", out], capsys)
    assert status == 1
    assert "out of date" in err and f"symgrad gen {src} -o {out}" in err
    assert out.read_text() == before  # --check writes nothing
    status, _, err = run(["gen", src, "--check", "-o", "-"], capsys)
    assert status == 2 and "--check" in err


def test_gen_check_passes_on_generated(capsys, monkeypatch):
    """What CI runs to keep generated/ fresh: `symgrad gen --check` on every entry."""
    monkeypatch.chdir(ROOT)
    for entry in GENERATED_ENTRIES:
        argv = [a for a in command(*entry) if a != "--force"]
        status, out, err = run([*argv, "--check"], capsys)
        assert status == 0, err
        assert "up to date" in out


def test_gen_check_keeps_options_in_the_command(tmp_path, capsys):
    src, out = tmp_path / "model.py", tmp_path / "model_grad.py"
    src.write_text(COST)
    argv = ["gen", src, "--func", "cost", "--wrt", "w,X", "--shape", "y=N", "--mode", "all"]
    argv += ["-o", out]
    assert run(argv, capsys)[0] == 0
    src.write_text(COST + "\n")
    status, _, err = run([*argv, "--check"], capsys)
    assert status == 1
    assert f"symgrad gen {src} --func cost --wrt w,X --shape y=N --mode all -o {out}" in err


# ---------------------------------------------------------------- command line and input


def test_cli_table_and_exit_status(tmp_path, capsys):
    src = tmp_path / "model.py"
    src.write_text(COST)
    status, text, _ = run(["check", src, "--points", "2", "--seed", "7"], capsys)
    assert status == 0
    assert text.splitlines()[0].split() == [
        "function", "parameter", "shape", "fd", "abs", "fd", "rel",
        "sympy", "abs", "sympy", "rel", "result",
    ]  # fmt: skip
    assert "grad_cost            w          (3,)" in text  # D, the first symbol, is 3
    assert text.rstrip().endswith("all passed (2 points, seed 7)")


def test_cli_json(tmp_path, capsys):
    src = tmp_path / "model.py"
    src.write_text(COST)
    status, text, _ = run(["check", src, "--json", "--dim", "N=5"], capsys)
    assert status == 0
    report = json.loads(text)
    assert report["ok"] is True and report["stale"] is False
    assert report["functions"][0]["shapes"] == {"w": [3], "X": [5, 3], "y": [5]}
    row = next(r for r in report["rows"] if r["function"] == "vjp_cost" and r["parameter"] == "X")
    assert row["status"] == "PASS" and row["shape"] == [5, 3]
    assert row["fd"]["ok"] and row["sympy"]["ok"] and row["sympy"]["abs"] < 1e-12


def test_cli_reports_failure_with_status_1(tmp_path, capsys):
    src, out = tmp_path / "model.py", tmp_path / "model_grad.py"
    src.write_text(COST)
    assert run(["gen", src, "-o", out], capsys)[0] == 0
    out.write_text(out.read_text().replace("dw = X.T @ dr", "dw = -(X.T @ dr)"))
    assert out.read_text().count("dw = -(X.T @ dr)") == 3
    status, text, _ = run(["check", src, "-m", out, "--json"], capsys)
    assert status == 1
    failed = {
        (r["function"], r["parameter"]) for r in json.loads(text)["rows"] if r["status"] == "FAIL"
    }
    assert failed == {("grad_cost", "w"), ("value_and_grad_cost", "w"), ("vjp_cost", "w")}


@pytest.mark.parametrize(
    "source, argv, words",
    [
        ("def f(x):\n    return x * x\n", [], ["parameter 'x' has no shape", "--shape x="]),
        ("def f(x):\n    return x *\n", [], ["invalid syntax"]),
        (COST, ["--func", "nope"], ["'nope' is not defined"]),
        (COST, ["--wrt", "v"], ["no parameter 'v'"]),
        (COST, ["--dim", "N=0"], ["--dim"]),
        (COST, ["--dim", "N"], ["--dim"]),
        (COST, ["--points", "0"], ["--points"]),
        (COST, ["--shape", "X=N,D", "--shape", "w=N"], ["cannot evaluate 'cost'"]),
        (
            "import numpy as np\n\ndef f(x: '3'):\n    return np.sum(np.log(x - 10.0))\n",
            [],
            ["not finite", "--positive"],
        ),
    ],
    ids=["no-shape", "syntax", "func", "wrt", "dim-zero", "dim-form", "points", "shapes", "domain"],
)
def test_bad_input_exits_2(tmp_path, capsys, source, argv, words):
    src = tmp_path / "model.py"
    src.write_text(source)
    status, _, err = run(["check", src, *argv], capsys)
    assert status == 2, err
    for w in words:
        assert w in err


def test_missing_module_file_exits_2(tmp_path, capsys):
    src = tmp_path / "model.py"
    src.write_text(COST)
    status, _, err = run(["check", src, "-m", tmp_path / "nope.py"], capsys)
    assert status == 2 and "no such file" in err


def test_scalar_with_default_and_shape_option(tmp_path):
    source = "import numpy as np\n\ndef f(x, scale=2.0):\n    return scale * np.sum(np.sin(x))\n"
    report = check(source, "m.py", options=Options(shapes={"x": ("K",)}, dims={"K": 4}))
    assert report.ok, report.table()
    assert report.functions[0]["shapes"] == {"x": [4], "scale": []}


def test_non_scalar_function_checks_vjp_only():
    source = 'import numpy as np\n\ndef f(x: "2,3"):\n    return np.tanh(x) @ x.T\n'
    report = check(source, "m.py")
    assert report.ok
    assert {r.function for r in report.rows} == {"f", "vjp_f"}


# ---------------------------------------------------------------- domains


def test_positive_parameters_are_inferred():
    source = textwrap.dedent(
        """
        import numpy as np

        def f(a: "3", b: "3", c: "3", d: "3", e: "3"):
            u = np.log(a * np.sum(b)) + np.sqrt(c[0]) + np.log(np.exp(d)) + (e - 1.0) ** 2
            return np.sum(u) + np.sum(d ** 0.5)
        """
    )
    fn = translate(parse(source, "m.py"), "f", inline=True)
    assert inferred_positive(fn) == {"a", "b", "c", "d"}
    report = check(source, "m.py")
    assert report.ok, report.table()
    assert report.functions[0]["positive"] == ["a", "b", "c", "d"]


def test_declared_positive_parameters(tmp_path, capsys):
    src = tmp_path / "m.py"
    src.write_text('import numpy as np\n\ndef f(x: "16"):\n    return np.sum(np.log(x - 0.4))\n')
    status, _, err = run(["check", src], capsys)
    assert status == 2 and "--positive" in err
    status, text, _ = run(["check", src, "--positive", "x"], capsys)
    assert status == 0, text


def test_points_near_a_kink_are_redrawn(monkeypatch):
    source = 'import numpy as np\n\ndef f(x: "20"):\n    return np.sum(np.maximum(x, 0.0) * x)\n'
    monkeypatch.setattr(check_module, "KINK_MARGIN", 0.5)
    report = check(source, "m.py", options=Options(points=3))
    assert report.ok
    plan_points = []

    original = check_module.check_function

    def spy(plan, *args):
        plan_points.extend(plan.points)
        return original(plan, *args)

    monkeypatch.setattr(check_module, "check_function", spy)
    check(source, "m.py", options=Options(points=3))
    assert len(plan_points) == 3
    for (x,) in plan_points:
        assert np.all(np.abs(x) >= 0.5)


def test_exact_ties_are_kept():
    source = textwrap.dedent(
        """
        import numpy as np

        def f(x: "3"):
            return np.sum(np.abs(x - x) + np.maximum(x, x))
        """
    )
    report = check(source, "m.py")
    assert report.ok, report.table()


# ---------------------------------------------------------------- imports


def test_symgrad_gen_never_imports_sympy(tmp_path):
    src = tmp_path / "model.py"
    src.write_text(COST)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "symgrad", "gen", str(src), "-o", "-"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "import time:" in proc.stderr
    assert "sympy" not in proc.stderr
    assert "symgrad.check" not in proc.stderr


def test_check_imports_sympy_only_when_the_oracle_runs():
    code = (
        "import sys, symgrad.check, symgrad.oracles, symgrad.interpret\n"
        "assert 'sympy' not in sys.modules\n"
        "from symgrad.check import check, Options\n"
        "check(open('examples/mlp.py').read(), 'mlp.py', options=Options(references=('fd',)))\n"
        "assert 'sympy' not in sys.modules\n"
        "check(open('examples/mlp.py').read(), 'mlp.py')\n"
        "assert 'sympy' in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr


def test_check_runs_as_a_command(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "symgrad", "check", "examples/mlp.py", "--func", "cost"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vjp_cost" in proc.stdout and "all passed" in proc.stdout


def test_bad_input_raises_symgrad_error():
    with pytest.raises(SymgradError, match="has no shape"):
        check("def f(x):\n    return x\n", "m.py")
