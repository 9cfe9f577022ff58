"""Command line: the subcommands of `COMMANDS` (gen, show, check).  Parsing, exit codes, files.

Exit status: 0 success, 1 a failed check (`check` found a wrong or stale
gradient, `gen --check` found the file out of date) or an internal error (a bug
in symgrad: please report), 2 bad or unsupported input (one
`PATH:LINE:COL: error: ...` line per problem).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import traceback

from .api import HEADER_MARK, MODES, VERSION, check_modes, generate
from .dense import JACOBIAN_MODES
from .errors import SymgradError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2
EXIT_FAILED = 1
REPORT = (
    "symgrad: internal error: {}. This is a bug in symgrad; please report it "
    "with the input file (run with --debug for a traceback)."
)


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"symgrad: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="symgrad", description="Source-to-source gradients for NumPy code.")
    parser.add_argument("--version", action="version", version=f"symgrad {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (help_text, add_arguments, _run) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text))
    return parser


def add_source_arguments(cmd) -> None:
    """The arguments every command that reads a source file shares."""
    cmd.add_argument("path", help="the Python file holding the functions (read, never run)")
    cmd.add_argument(
        "--func",
        action="append",
        metavar="NAME",
        help="function to differentiate (repeatable; default: all)",
    )
    cmd.add_argument(
        "--wrt", metavar="A,B", help="parameters to differentiate with respect to (default: all)"
    )
    cmd.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME=N,D",
        help="declare a parameter's shape, like an annotation",
    )
    cmd.add_argument("--debug", action="store_true", help="show a traceback on internal errors")


def add_gen_arguments(gen) -> None:
    add_source_arguments(gen)
    gen.add_argument(
        "-o",
        "--output",
        metavar="OUT.py",
        help="output file, or - for stdout (default: <stem>_grad.py beside PATH)",
    )
    gen.add_argument(
        "--force", action="store_true", help="overwrite an output file symgrad did not generate"
    )
    gen.add_argument(
        "--no-inplace",
        dest="inplace",
        action="store_false",
        help="never write into a dead temporary (np.exp(t, out=t), t += s); plainer, slower",
    )
    gen.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the output file differs from what gen would write",
    )
    gen.add_argument(
        "--mode",
        choices=MODES,
        default="reverse",
        help="reverse: grad_, value_and_grad_, vjp_ (default); forward: jvp_, jacobian_; "
        "all: both, plus hvp_ and hessian_ for scalar functions",
    )
    gen.add_argument(
        "--jacobian",
        choices=JACOBIAN_MODES,
        default="auto",
        help="how jacobian_ works: forward (one pass per input element), reverse (one per "
        "output element), or auto: forward when the output has at least as many elements",
    )


def add_check_arguments(check) -> None:
    add_source_arguments(check)
    check.add_argument(
        "-m",
        "--module",
        metavar="GENERATED.py",
        help="check this generated module (imported) instead of generating one in memory",
    )
    check.add_argument(
        "--dim",
        action="append",
        default=[],
        metavar="N=4",
        help="size of a dimension symbol of the annotations (default: small, distinct sizes)",
    )
    check.add_argument(
        "--positive",
        action="append",
        default=[],
        metavar="A,B",
        help="parameters to draw from [0.5, 2] (those reaching log, sqrt or ** are inferred)",
    )
    check.add_argument(
        "--mode",
        choices=MODES,
        default="reverse",
        help="without -m: the mode of the module generated to check (forward checks jvp_)",
    )
    check.add_argument("--seed", type=int, default=0, help="seed of the random points")
    check.add_argument(
        "--points", type=int, default=3, metavar="K", help="number of random points (default 3)"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except SymgradError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INPUT
    except UsageError as exc:
        print(f"symgrad: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a report
        if args.debug:
            traceback.print_exc()
        print(REPORT.format(f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_INTERNAL


def read_source(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected a Python file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def parse_shapes(items) -> dict:
    from .shapes import parse_annotation

    shapes = {}
    for item in items:
        name, sep, dims = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--shape {item!r}: expected NAME=DIMS, e.g. X=N,D")
        try:
            shapes[name] = parse_annotation(dims)
        except ValueError:
            raise UsageError(f"--shape {item!r}: dims must be names or integers") from None
    return shapes


def run_gen(args) -> int:
    source = read_source(args.path)
    try:
        check_modes(args.mode, args.jacobian)
    except ValueError as exc:
        raise UsageError(f"--mode {args.mode} --jacobian {args.jacobian}: {exc}") from None
    text = generate(
        source,
        args.path,
        funcs=args.func,
        wrt=wrt_list(args),
        shapes=parse_shapes(args.shape),
        mode=args.mode,
        jacobian=args.jacobian,
        inplace=args.inplace,
    )
    if args.output == "-":
        if args.check:
            raise UsageError("--check compares with a file; name it with -o, not -o -")
        sys.stdout.write(text)
        return EXIT_OK
    out = args.output or default_output(args.path)
    if args.check:
        return check_up_to_date(args, out, text)
    if os.path.abspath(out) == os.path.abspath(args.path):
        raise UsageError(f"{out}: refusing to overwrite the input file")
    if os.path.isdir(out):
        raise UsageError(f"{out} is a directory; give a file name with -o")
    if os.path.exists(out) and not args.force and not generated_by_us(out):
        raise UsageError(
            f"{out} exists and was not generated by symgrad; use --force to overwrite it"
        )
    write_atomically(out, text)
    return EXIT_OK


def check_up_to_date(args, out: str, text: str) -> int:
    """`gen --check`: exit 1, saying how to regenerate, when `out` is not what gen writes."""
    try:
        with open(out, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{out}: cannot read: {exc}") from None
    if current == text:
        print(f"{out} is up to date with {args.path}")
        return EXIT_OK
    reason = "does not exist" if current is None else f"is out of date with {args.path}"
    command = gen_command_line(args, out)
    print(f"symgrad: {out} {reason}; regenerate it with:\n  {command}", file=sys.stderr)
    return EXIT_FAILED


def gen_command_line(args, out: str) -> str:
    """The `symgrad gen` command that writes `out` with the options of `args` (but --check).

    Read from gen's own option table, so options added later are kept too.
    """
    options = Parser(prog="symgrad gen")
    add_gen_arguments(options)
    words = ["symgrad", "gen", args.path]
    for action in options._actions:
        value = getattr(args, action.dest, action.default)
        skip = action.dest in ("help", "check", "output", "debug") or not action.option_strings
        if skip or value == action.default or value is None:
            continue
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:
            words.append(flag)
        else:
            for item in value if isinstance(value, list) else [value]:
                words += [flag, str(item)]
    return shlex.join([*words, "-o", out])


def run_check(args) -> int:
    from .check import Options, check

    if args.points < 1:
        raise UsageError("--points must be at least 1")
    options = Options(
        funcs=args.func,
        wrt=wrt_list(args),
        shapes=parse_shapes(args.shape),
        dims=parse_dims(args.dim),
        positive={p.strip() for item in args.positive for p in item.split(",") if p.strip()},
        seed=args.seed,
        points=args.points,
        mode=args.mode,
    )
    source = read_source(args.path)
    module_text = read_source(args.module) if args.module else None
    report = check(source, args.path, module_text, args.module, options)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.table())
    return EXIT_OK if report.ok else EXIT_FAILED


def parse_dims(items) -> dict:
    dims = {}
    for item in items:
        name, sep, size = item.partition("=")
        if not sep or not name.isidentifier() or not size.strip().isdigit() or int(size) < 1:
            raise UsageError(f"--dim {item!r}: expected NAME=SIZE with a positive size, e.g. N=4")
        dims[name] = int(size)
    return dims


def wrt_list(args) -> list[str] | None:
    return [w.strip() for w in args.wrt.split(",") if w.strip()] if args.wrt else None


def default_output(path: str) -> str:
    root, _ = os.path.splitext(path)
    return root + "_grad.py"


def generated_by_us(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().startswith(HEADER_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".symgrad-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def add_show_arguments(show) -> None:
    add_source_arguments(show)
    view = show.add_mutually_exclusive_group()
    view.add_argument(
        "--trace",
        action="store_true",
        help="print the evaluation and adjoint traces, one line per primitive",
    )
    view.add_argument(
        "--graph",
        nargs="?",
        const="-",
        metavar="OUT",
        help="write the computational graph as Graphviz DOT to stdout, or to OUT "
        "(.dot/.gv; .svg/.png/.pdf are rendered with Graphviz's dot)",
    )
    show.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the code: auto (on a terminal, unless NO_COLOR is set), always or never",
    )


def run_show(args) -> int:
    from . import show

    try:
        text = show_text(show, args)
    except show.ShowError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(text)
    return EXIT_OK


def show_text(show, args) -> str:
    """What `symgrad show` prints; writing a graph to a file prints nothing."""
    source = read_source(args.path)
    wrt, shapes = wrt_list(args), parse_shapes(args.shape)
    if args.graph is not None:
        names = show.function_names(source, args.path, args.func)
        if len(names) != 1:
            raise UsageError(
                f"--graph draws one function; choose it with --func (found: {', '.join(names)})"
            )
        dot = show.graph_dot(show.build_trace(source, args.path, names[0], wrt, shapes))
        if args.graph == "-":
            return dot
        show.write_graph(dot, args.graph)
        return ""
    if args.trace:
        text = "\n".join(
            show.format_trace(show.build_trace(source, args.path, name, wrt, shapes), args.path)
            for name in show.function_names(source, args.path, args.func)
        )
    else:
        text = show.code(source, args.path, args.func, wrt, shapes)
    return show.highlight(text) if show.use_colour(sys.stdout, args.color) else text


# Every subcommand: name -> (help, add_arguments(parser), run(args) -> exit status).
COMMANDS = {
    "gen": ("write a module of gradient code for a Python file", add_gen_arguments, run_gen),
    "show": ("print the emitted code, traces or graph of a function", add_show_arguments, run_show),
    "check": (
        "compare generated gradients with finite differences and a sympy oracle",
        add_check_arguments,
        run_check,
    ),
}
