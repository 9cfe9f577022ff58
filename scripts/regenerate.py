"""Regenerate the checked-in modules in generated/ from examples/ (run from the repo root).

`python scripts/regenerate.py` rewrites them; tests/test_generated.py checks they are fresh.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (source, functions, wrt, output): each is `symgrad gen SOURCE --func F --wrt W -o OUTPUT`.
GENERATED = [
    ("examples/linear_regression.py", ["cost"], ["w", "b"], "generated/linear_regression_grad.py"),
    (
        "examples/logistic_regression.py",
        ["cost"],
        ["w", "b"],
        "generated/logistic_regression_grad.py",
    ),
    (
        "examples/softmax_regression.py",
        ["cost"],
        ["W", "b"],
        "generated/softmax_regression_grad.py",
    ),
    ("examples/mlp.py", ["cost"], ["W", "V"], "generated/mlp_grad.py"),
    ("examples/rnn.py", ["cost"], ["h0", "W", "U"], "generated/rnn_grad.py"),
    ("examples/iris_mlp.py", ["cost"], ["W", "V"], "generated/iris_mlp_grad.py"),
    ("examples/batchnorm.py", ["cost"], ["X", "gamma", "beta"], "generated/batchnorm_grad.py"),
    (
        "examples/residual_block.py",
        ["cost"],
        ["W1", "b1", "W2"],
        "generated/residual_block_grad.py",
    ),
    ("examples/lecture_trace.py", ["outputs"], ["w0", "w1"], "generated/lecture_trace_grad.py"),
    (
        "examples/lecture_trace.py",
        ["outputs"],
        ["w0", "w1", "x"],
        "generated/lecture_trace_all_grad.py",
    ),
]
# outputs generated with `--mode MODE` (the others with the default, reverse)
MODES = {
    "generated/lecture_trace_grad.py": "forward",
    "generated/lecture_trace_all_grad.py": "all",
}


def command(source, funcs, wrt, output) -> list[str]:
    args = ["gen", source]
    for f in funcs:
        args += ["--func", f]
    mode = ["--mode", MODES[output]] if output in MODES else []
    return args + ["--wrt", ",".join(wrt), *mode, "-o", output, "--force"]


MARKER = re.compile(r"<!-- (generated/\S+) (\w+) -->\n```python\n.*?```", re.S)


def function_text(module_path: Path, name: str) -> str:
    """The text of `def name` in a generated module, up to the next top-level def."""
    text = module_path.read_text()
    start = text.index(f"def {name}(")
    end = text.find("\n\n\ndef ", start)
    return text[start : end if end != -1 else len(text)].rstrip() + "\n"


def readme_with_fresh_code(readme: str) -> str:
    """README.md with each `<!-- generated/X.py fn -->` block replaced by that function."""

    def fresh(match):
        path, name = match.group(1), match.group(2)
        body = function_text(ROOT / path, name)
        return f"<!-- {path} {name} -->\n```python\n{body}```"

    return MARKER.sub(fresh, readme)


def main() -> int:
    from symgrad.cli import main as cli

    for entry in GENERATED:
        status = cli(command(*entry))
        if status:
            return status
        print("wrote", entry[3])
    readme = ROOT / "README.md"
    readme.write_text(readme_with_fresh_code(readme.read_text()))
    print("refreshed the generated code shown in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
