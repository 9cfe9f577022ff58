"""Regenerate the checked-in modules in generated/ from examples/ (run from the repo root).

`python scripts/regenerate.py` rewrites them; tests/test_generated.py checks they are fresh.
"""

from __future__ import annotations

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
]


def command(source, funcs, wrt, output) -> list[str]:
    args = ["gen", source]
    for f in funcs:
        args += ["--func", f]
    return args + ["--wrt", ",".join(wrt), "-o", output, "--force"]


def main() -> int:
    from symgrad.cli import main as cli

    for entry in GENERATED:
        status = cli(command(*entry))
        if status:
            return status
        print("wrote", entry[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
