"""Train the lecture's Iris MLP with the gradient symgrad generated, and plot its decision regions.

    python examples/train_iris.py [--iters 5000] [--seed 0] [--out iris_decision_boundary.png]

The gradient comes from the checked-in module `generated/iris_mlp_grad.py`,
made by `symgrad gen examples/iris_mlp.py --func cost --wrt W,V -o
generated/iris_mlp_grad.py`. It is plain NumPy, so this script needs neither
symgrad nor anything else beyond NumPy, plus matplotlib for the plot (`pip
install 'symgrad[examples]'`; without it the plot is skipped).

As in the lecture: two features plus a bias input (D = 3), M = 16 logistic
hidden units, C = 3 classes, weights drawn as randn * .01, and plain gradient
descent with learning rate .1 that stops when the gradient norm falls below eps
or after max_iters steps. The two features are the petals' length and width
(the lecture does not say which two; the sepal pair leaves versicolor and
virginica badly mixed). With the defaults the training accuracy is 0.953.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data" / "iris.csv"
GENERATED = ROOT / "generated" / "iris_mlp_grad.py"
FEATURES = ("petal_length", "petal_width")
HIDDEN_UNITS = 16
BAR_WIDTH = 30


def load_generated():
    """Import generated/iris_mlp_grad.py by path: it is a file, not an installed package."""
    spec = importlib.util.spec_from_file_location("iris_mlp_grad", GENERATED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_iris(path=DATA):
    """Inputs X (N x 3: the two features and a 1 for the bias), one-hot Y and the species names."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    species = sorted({row["species"] for row in rows})
    features = np.array([[float(row[f]) for f in FEATURES] for row in rows])
    labels = np.array([species.index(row["species"]) for row in rows])
    X = np.column_stack([features, np.ones(len(rows))])
    Y = np.eye(len(species))[labels]
    return X, Y, species


def progress(t, max_iters, loss) -> str:
    done = round(BAR_WIDTH * t / max_iters)
    bar = "#" * done + "." * (BAR_WIDTH - done)
    return f"[{bar}] {100 * t / max_iters:3.0f}%  iter {t:6d}  loss {loss:.4f}"


def gradient_descent(value_and_grad, X, Y, M, lr=0.1, eps=1e-9, max_iters=5000, seed=0):
    """The lecture's GD loop, with the generated value_and_grad_cost for the gradient."""
    rng = np.random.default_rng(seed)
    N, D = X.shape
    N, K = Y.shape
    W = rng.standard_normal((M, K)) * 0.01
    V = rng.standard_normal((D, M)) * 0.01
    report_every = max(1, max_iters // 10)
    dW = np.inf * np.ones_like(W)
    t = 0
    while np.linalg.norm(dW) > eps and t < max_iters:
        loss, (dW, dV) = value_and_grad(X, Y, W, V)
        if t % report_every == 0:
            print(progress(t, max_iters, loss), flush=True)
        W = W - lr * dW
        V = V - lr * dV
        t += 1
    loss, _ = value_and_grad(X, Y, W, V)
    print(progress(t, max_iters, loss), flush=True)
    return W, V


def predict(logistic, X, W, V):
    return np.argmax(logistic(X @ V) @ W, axis=1)


def plot_decision_regions(logistic, X, Y, W, V, species, accuracy, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x0, x1 = X[:, 0], X[:, 1]
    g0, g1 = np.meshgrid(
        np.linspace(x0.min() - 0.5, x0.max() + 0.5, 300),
        np.linspace(x1.min() - 0.3, x1.max() + 0.3, 300),
    )
    grid = np.column_stack([g0.ravel(), g1.ravel(), np.ones(g0.size)])
    regions = predict(logistic, grid, W, V).reshape(g0.shape)
    colours = ["tab:blue", "tab:orange", "tab:green"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.contourf(g0, g1, regions, levels=[-0.5, 0.5, 1.5, 2.5], colors=colours, alpha=0.25)
    labels = np.argmax(Y, axis=1)
    for k, name in enumerate(species):
        ax.scatter(x0[labels == k], x1[labels == k], c=colours[k], s=14, label=name)
    ax.set_xlabel(FEATURES[0].replace("_", " ") + " (cm)")
    ax.set_ylabel(FEATURES[1].replace("_", " ") + " (cm)")
    ax.set_title(f"Iris MLP, M = {W.shape[0]} hidden units: training accuracy {accuracy:.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=5000, help="gradient steps (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    parser.add_argument(
        "--out",
        default="iris_decision_boundary.png",
        help="where to save the decision-region plot (default: ./iris_decision_boundary.png)",
    )
    args = parser.parse_args(argv)
    generated = load_generated()
    X, Y, species = load_iris()
    W, V = gradient_descent(
        generated.value_and_grad_cost, X, Y, HIDDEN_UNITS, max_iters=args.iters, seed=args.seed
    )
    correct = int(np.sum(predict(generated.logistic, X, W, V) == np.argmax(Y, axis=1)))
    accuracy = correct / len(X)
    print(f"training accuracy: {accuracy:.3f} ({correct}/{len(X)})")
    if importlib.util.find_spec("matplotlib") is None:
        print("no plot: matplotlib is not installed (pip install 'symgrad[examples]')")
        return 0
    plot_decision_regions(generated.logistic, X, Y, W, V, species, accuracy, args.out)
    print(f"decision regions saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
