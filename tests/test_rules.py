"""Rule table: every primitive of the supported subset against central differences.

Each row of ``RULES`` is one differentiable expression: an id, the body (an
expression, or statements ending in ``return``), the shapes of its parameters
(named x, y, z in order; ``()`` is a Python float) and an input domain. Every row
runs twice: with the parameters annotated with their concrete shapes, and
unannotated (shape-generic code). For each run we check

* the generated primal ``f`` against the source executed directly with NumPy,
* ``vjp_f`` against central differences of ``<g, f(args)>`` for a random
  cotangent ``g`` of the output's shape, for every parameter,
* for scalar outputs, ``grad_f`` and ``value_and_grad_f`` against ``vjp_f`` with
  ``g = 1.0``.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
import pytest
from helpers import assert_close, load_module, numeric_vjp

from symgrad import generate

RTOL = 1e-5
ATOL = 1e-6
PARAM_NAMES = ("x", "y", "z")

# --------------------------------------------------------------------------
# Input domains
# --------------------------------------------------------------------------

# "away": values with magnitude in [0.2, 1.5], all distinct across every parameter
# (pairwise gaps >= ~0.024, so no near ties for max/min/maximum/where), and away
# from the clip bounds +-0.5. Drawn without replacement from a jittered grid.
_AWAY_MAGNITUDES = np.array([m for m in np.arange(0.2, 1.5, 0.03) if abs(m - 0.5) > 0.035])
_AWAY_GRID = np.concatenate([_AWAY_MAGNITUDES, -_AWAY_MAGNITUDES])


def _draw(rng: np.random.Generator, domain: str, shapes) -> list:
    sizes = [int(np.prod(s, dtype=int)) for s in shapes]
    total = sum(sizes)
    if domain == "normal":
        flat = rng.uniform(-1.2, 1.2, size=total)
    elif domain == "pos":
        flat = rng.uniform(0.5, 2.0, size=total)
    elif domain == "away":
        flat = rng.choice(_AWAY_GRID, size=total, replace=False)
        flat = flat + rng.uniform(-0.003, 0.003, size=total)
    else:  # pragma: no cover - table typo
        raise ValueError(domain)
    args, start = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        chunk = flat[start : start + size]
        start += size
        args.append(float(chunk[0]) if shape == () else chunk.reshape(shape))
    return args


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------


class Rule(NamedTuple):
    id: str
    body: str
    shapes: tuple
    domain: str = "normal"


def _fmt(shape) -> str:
    if shape == ():
        return "()"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ",".join(str(n) for n in shape) + ")"


BINARY_SHAPES = [
    ((), (2, 3)),  # Python float with array
    ((3,), ()),  # array with Python float
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((2, 3), (2, 3)),
    ((1, 3), (2, 1)),
    ((2, 1), (3,)),
    ((), ()),
]

# name, symbol for the id, expression, domain
BINARY_OPS = [
    ("add", "+", "x + y", "normal"),
    ("sub", "-", "x - y", "normal"),
    ("mul", "*", "x * y", "normal"),
    ("div", "/", "x / y", "away"),
    ("pow", "**", "x ** y", "pos"),
    ("maximum", ",", "np.maximum(x, y)", "away"),
    ("minimum", ",", "np.minimum(x, y)", "away"),
    ("power", ",", "np.power(x, y)", "pos"),
    ("logaddexp", ",", "np.logaddexp(x, y)", "normal"),
    ("where", ",", "np.where(x > y, x, y * y)", "away"),
]

UNARY_SHAPES = [(), (3,), (2, 3)]

UNARY_OPS = [
    ("neg", "-x", "normal"),
    ("exp", "np.exp(x)", "normal"),
    ("log", "np.log(x)", "pos"),
    ("log1p", "np.log1p(x)", "pos"),
    ("expm1", "np.expm1(x)", "normal"),
    ("sqrt", "np.sqrt(x)", "pos"),
    ("square", "np.square(x)", "normal"),
    ("abs", "np.abs(x)", "away"),
    ("sign", "np.sign(x)", "away"),
    ("sin", "np.sin(x)", "normal"),
    ("cos", "np.cos(x)", "normal"),
    ("tan", "np.tan(x)", "normal"),
    ("tanh", "np.tanh(x)", "normal"),
    ("arctan", "np.arctan(x)", "normal"),
    ("sinh", "np.sinh(x)", "normal"),
    ("cosh", "np.cosh(x)", "normal"),
    ("clip", "np.clip(x, -0.5, 0.5)", "away"),
    # elementwise with constants
    ("mul-const", "2.5 * x", "normal"),
    ("rsub-const", "3.0 - x", "normal"),
    ("rdiv-const", "1.0 / x", "away"),
    ("div-const", "x / 4.0", "normal"),
    ("pow-int", "x ** 2", "normal"),
    ("pow-3", "x ** 3", "normal"),
    ("pow-half", "x ** 0.5", "pos"),
    ("rpow-const", "2.0 ** x", "normal"),
    ("power-const", "np.power(x, 3)", "normal"),
    ("maximum-0", "np.maximum(x, 0.0)", "away"),
    ("minimum-const", "np.minimum(1.0, x)", "away"),
    ("sign-times-x", "x * np.sign(x)", "away"),
    ("where-const", "np.where(x > 0, x, 0.1 * x)", "away"),
]

REDUCTION_FUNCS = [
    ("sum", "normal"),
    ("mean", "normal"),
    ("max", "away"),
    ("min", "away"),
    ("prod", "away"),
    ("var", "normal"),
    ("std", "normal"),
]

# (shape, extra arguments after x)
REDUCTION_VARIANTS = [
    ((3,), ""),
    ((3,), "axis=0"),
    ((2, 3), ""),
    ((2, 3), "axis=0"),
    ((2, 3), "axis=1"),
    ((2, 3), "axis=-1"),
    ((2, 3), "axis=(0, 1)"),
    ((2, 3), "axis=None"),
    ((2, 3), "axis=0, keepdims=True"),
    ((2, 3), "axis=-1, keepdims=True"),
    ((2, 3), "keepdims=True"),
    ((2, 3), "1"),  # axis by position
    ((2, 3, 2), "axis=(0, 2)"),
    ((2, 3, 2), "axis=(0, -1), keepdims=True"),
    ((2, 3, 2), "axis=-2"),
]

MATMUL_SHAPES = [
    ((2, 3), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((3,), (3,)),
]

OTHER_RULES = [
    # ---- matmul family extras
    Rule("matmul[(2,2,3)@(3,4)]", "x @ y", ((2, 2, 3), (3, 4))),
    Rule("np.matmul[(2,2,3)@(3,4)]", "np.matmul(x, y)", ((2, 2, 3), (3, 4))),
    Rule("outer[(3,),(4,)]", "np.outer(x, y)", ((3,), (4,))),
    Rule("outer[(2,),(2,)]", "np.outer(x, y)", ((2,), (2,))),
    # ---- linalg.norm
    Rule("norm[(3,)]", "np.linalg.norm(x)", ((3,),)),
    Rule("norm[(2,3)]", "np.linalg.norm(x)", ((2, 3),)),
    # ---- array methods
    Rule("method.sum[(2,3)]", "x.sum()", ((2, 3),)),
    Rule("method.sum[(2,3),0]", "x.sum(0)", ((2, 3),)),
    Rule(
        "method.sum[(2,3),axis=1,keepdims]",
        "x.sum(axis=1, keepdims=True)",
        ((2, 3),),
    ),
    Rule("method.mean[(3,)]", "x.mean()", ((3,),)),
    Rule("method.mean[(2,3),axis=0]", "x.mean(axis=0)", ((2, 3),)),
    Rule("method.max[(2,3)]", "x.max()", ((2, 3),), "away"),
    Rule("method.max[(2,3),axis=-1]", "x.max(axis=-1)", ((2, 3),), "away"),
    Rule("method.min[(2,3),axis=0]", "x.min(axis=0)", ((2, 3),), "away"),
    Rule("method.prod[(2,3),axis=1]", "x.prod(axis=1)", ((2, 3),), "away"),
    Rule("method.var[(2,3)]", "x.var()", ((2, 3),)),
    Rule("method.std[(2,3),axis=0]", "x.std(axis=0)", ((2, 3),)),
    Rule("method.reshape[(2,3)->3,2]", "x.reshape(3, 2)", ((2, 3),)),
    Rule("method.reshape[(2,3)->(3,2)]", "x.reshape((3, 2))", ((2, 3),)),
    Rule("method.reshape[(2,3)->-1]", "x.reshape(-1)", ((2, 3),)),
    Rule("method.reshape[(2,3,2)->2,-1]", "x.reshape(2, -1)", ((2, 3, 2),)),
    Rule("method.transpose[(2,3)]", "x.transpose()", ((2, 3),)),
    Rule("method.transpose[(2,3,2)]", "x.transpose()", ((2, 3, 2),)),
    # ---- transposes and reshapes
    Rule("T[(2,3)]", "x.T", ((2, 3),)),
    Rule("T[(2,3)]*y", "x.T * y", ((2, 3), (3, 2))),
    Rule("np.transpose[(2,3)]", "np.transpose(x)", ((2, 3),)),
    Rule("np.transpose[(2,3,2)]", "np.transpose(x)", ((2, 3, 2),)),
    Rule("np.reshape[(2,3)->(-1,)]", "np.reshape(x, (-1,))", ((2, 3),)),
    Rule("np.reshape[(6,)->(2,3)]", "np.reshape(x, (2, 3))", ((6,),)),
    # ---- subscripts
    Rule("index[(2,3)][0]", "x[0]", ((2, 3),)),
    Rule("index[(2,3)][-1]", "x[-1]", ((2, 3),)),
    Rule("index[(3,)][0]", "x[0]", ((3,),)),
    Rule("index[(2,3)][1,2]", "x[1, 2]", ((2, 3),)),
    Rule("index[(2,3)][:,1]", "x[:, 1]", ((2, 3),)),
    Rule("index[(3,4)][1:,::2]", "x[1:, ::2]", ((3, 4),)),
    Rule("index[(3,)][::-1]", "x[::-1]", ((3,),)),
    Rule("index[(2,3)][::-1]", "x[::-1]", ((2, 3),)),
    Rule("index[(4,)][1:3]", "x[1:3]", ((4,),)),
    Rule("index[(3,)][:,None]", "x[:, None]", ((3,),)),
    Rule("index[(2,3)][:,None]", "x[:, None]", ((2, 3),)),
    Rule("index[(2,3)][...,0]", "x[..., 0]", ((2, 3),)),
    Rule("index[(2,3,2)][...,0]", "x[..., 0]", ((2, 3, 2),)),
    Rule("index[(3,)][None]", "x[None]", ((3,),)),
    Rule("index[(2,3)][None]", "x[None]", ((2, 3),)),
    Rule("index[(3,)][:,np.newaxis]", "x[:, np.newaxis]", ((3,),)),
    Rule("index[(3,),(4,)]outer-newaxis", "x[:, np.newaxis] * y", ((3,), (4,))),
    Rule("index[(3,)]sum-of-parts", "x[0] * x[1] + x[2]", ((3,),)),
    # ---- concatenate / stack
    Rule(
        "concatenate[(2,3),(1,3),axis=0]",
        "np.concatenate([x, y], axis=0)",
        ((2, 3), (1, 3)),
    ),
    Rule(
        "concatenate[(2,3),(2,2),axis=1]",
        "np.concatenate([x, y], axis=1)",
        ((2, 3), (2, 2)),
    ),
    Rule(
        "concatenate[(2,3),(2,2),axis=-1]",
        "np.concatenate([x, y], axis=-1)",
        ((2, 3), (2, 2)),
    ),
    Rule("concatenate[(3,),(2,)]", "np.concatenate([x, y])", ((3,), (2,))),
    Rule(
        "concatenate[(3,),(2,),(1,)]",
        "np.concatenate([x, y, z], axis=0)",
        ((3,), (2,), (1,)),
    ),
    Rule(
        "concatenate-tuple[(2,3),(1,3)]",
        "np.concatenate((x, y), axis=0)",
        ((2, 3), (1, 3)),
    ),
    Rule("stack[(3,),(3,)]", "np.stack([x, y])", ((3,), (3,))),
    Rule(
        "stack[(2,3),(2,3),axis=0]",
        "np.stack([x, y], axis=0)",
        ((2, 3), (2, 3)),
    ),
    Rule(
        "stack[(2,3),(2,3),axis=1]",
        "np.stack([x, y], axis=1)",
        ((2, 3), (2, 3)),
    ),
    Rule(
        "stack[(2,3),(2,3),axis=-1]",
        "np.stack([x, y], axis=-1)",
        ((2, 3), (2, 3)),
    ),
    Rule("stack-same-twice[(3,)]", "np.stack([x, x * x], axis=1)", ((3,),)),
    # ---- constructors and constants in differentiable code
    Rule("ones_like[(2,3)]", "x * np.ones_like(x)", ((2, 3),)),
    Rule("zeros[(2,3)+(2,3)]", "x + np.zeros((2, 3))", ((2, 3),)),
    Rule("zeros[(3,)+(2,3)]", "x + np.zeros((2, 3))", ((3,),)),
    Rule("eye[(2,3)@eye(3)]", "x @ np.eye(3)", ((2, 3),)),
    Rule("full_like[(2,3)]", "np.full_like(x, 2.0) * x", ((2, 3),)),
    Rule("ones[(2,3)*(2,3)]", "np.ones((2, 3)) * x", ((2, 3),)),
    Rule("ones[(2,3)*(3,)]", "np.ones((2, 3)) * x", ((3,),)),
    Rule("ones[(2,3)*()]", "np.ones((2, 3)) * x", ((),)),
    Rule("pi[(2,3)]", "np.pi * x", ((2, 3),)),
    Rule("e[(3,)]", "np.e ** x", ((3,),)),
    Rule("e-sin[()]", "np.sin(np.pi * x) + np.e", ((),)),
    Rule("shape0[(2,3)]", "x / x.shape[0]", ((2, 3),)),
    Rule("shape1-sum[(2,3)]", "np.sum(x) / x.shape[1]", ((2, 3),)),
    Rule("ndim[(2,3)]", "x * x.ndim", ((2, 3),)),
    Rule(
        "shape-unpack[(2,3)]",
        "n, m = x.shape\nreturn np.sum(x * x) / (n * m) + n * x[0, 0]",
        ((2, 3),),
    ),
    # ---- small compositions (reductions broadcast back, statements)
    Rule("center[(2,3)]", "x - np.mean(x, axis=0)", ((2, 3),)),
    Rule("normalize[(2,3)]", "x / np.sum(x, axis=1, keepdims=True)", ((2, 3),), "pos"),
    Rule(
        "softmax[(2,3)]",
        "e = np.exp(x - np.max(x, axis=-1, keepdims=True))\n"
        "return e / np.sum(e, axis=-1, keepdims=True)",
        ((2, 3),),
        "away",
    ),
    Rule("logsumexp[(2,3)]", "np.log(np.sum(np.exp(x)))", ((2, 3),)),
    Rule(
        "least-squares[(4,3),(3,)]",
        "r = x @ y - 1.0\nreturn 0.5 * np.sum(r ** 2)",
        ((4, 3), (3,)),
    ),
    Rule("reuse[(3,)]", "a = x * x\nb = a + x\nreturn a * b", ((3,),)),
    Rule("three-params[(2,3),(3,),()]", "x * y + z * x", ((2, 3), (3,), ())),
]


def _build_rules() -> list[Rule]:
    rules: list[Rule] = []
    for name, symbol, expr, domain in BINARY_OPS:
        for sx, sy in BINARY_SHAPES:
            rules.append(Rule(f"{name}[{_fmt(sx)}{symbol}{_fmt(sy)}]", expr, (sx, sy), domain))
    for name, expr, domain in UNARY_OPS:
        for shape in UNARY_SHAPES:
            rules.append(Rule(f"{name}[{_fmt(shape)}]", expr, (shape,), domain))
    for func, domain in REDUCTION_FUNCS:
        for shape, extra in REDUCTION_VARIANTS:
            call = f"np.{func}(x, {extra})" if extra else f"np.{func}(x)"
            label = _fmt(shape) + ("," + extra.replace(" ", "") if extra else "")
            rules.append(Rule(f"{func}[{label}]", call, (shape,), domain))
    for name, symbol, expr in [
        ("matmul", "@", "x @ y"),
        ("np.matmul", "@", "np.matmul(x, y)"),
        ("dot", ",", "np.dot(x, y)"),
        ("method.dot", ",", "x.dot(y)"),
    ]:
        for sx, sy in MATMUL_SHAPES:
            rules.append(Rule(f"{name}[{_fmt(sx)}{symbol}{_fmt(sy)}]", expr, (sx, sy)))
    rules.extend(OTHER_RULES)
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    return rules


RULES = _build_rules()


# --------------------------------------------------------------------------
# Machinery
# --------------------------------------------------------------------------


def _annotation(shape) -> str:
    return ",".join(str(n) for n in shape)


def make_source(body: str, shapes, annotated: bool) -> str:
    params = []
    for name, shape in zip(PARAM_NAMES[: len(shapes)], shapes, strict=True):
        params.append(f'{name}: "{_annotation(shape)}"' if annotated else name)
    lines = body.split("\n")
    if not lines[-1].startswith("return"):
        lines[-1] = "return " + lines[-1]
    indented = "\n".join("    " + line for line in lines)
    return f"import numpy as np\n\n\ndef f({', '.join(params)}):\n{indented}\n"


def reference(source: str):
    """The test source itself, executed with plain NumPy."""
    namespace: dict = {}
    exec(compile(source, "<rule-source>", "exec"), namespace)
    return namespace["f"]


def as_tuple(result, n: int) -> tuple:
    if n == 1:
        return (result,)
    assert isinstance(result, tuple), f"expected a tuple of {n} gradients"
    assert len(result) == n, f"expected {n} gradients, got {len(result)}"
    return result


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


def _params():
    for rule in RULES:
        for annotated in (True, False):
            tag = "annotated" if annotated else "generic"
            yield pytest.param(rule, annotated, id=f"{rule.id}-{tag}")


@pytest.mark.parametrize("rule, annotated", list(_params()))
def test_rule(rule: Rule, annotated: bool):
    source = make_source(rule.body, rule.shapes, annotated)
    names = list(PARAM_NAMES[: len(rule.shapes)])
    generated = generate(source, path=f"<{rule.id}>", funcs=["f"], wrt=names)
    mod = load_module(generated)
    ref = reference(source)

    rng = np.random.default_rng(_seed(rule.id))
    args = _draw(rng, rule.domain, rule.shapes)

    # primal
    expected_out = ref(*args)
    out = mod.f(*args)
    assert_close(out, expected_out, rtol=1e-10, atol=1e-12, what="primal f")

    # vjp against central differences
    out_shape = np.shape(expected_out)
    g = rng.standard_normal(out_shape)
    if out_shape == ():
        g = float(g)
    grads = as_tuple(mod.vjp_f(*args, g), len(names))
    for i, name in enumerate(names):
        expected = numeric_vjp(ref, args, i, g)
        assert np.shape(grads[i]) == np.shape(args[i]), (
            f"vjp d/d{name}: shape {np.shape(grads[i])} != {np.shape(args[i])}"
        )
        assert_close(grads[i], expected, rtol=RTOL, atol=ATOL, what=f"vjp d/d{name}")

    # scalar output: grad_f and value_and_grad_f agree with vjp at g = 1
    if out_shape == ():
        unit = as_tuple(mod.vjp_f(*args, 1.0), len(names))
        grad = as_tuple(mod.grad_f(*args), len(names))
        value, vgrad = mod.value_and_grad_f(*args)
        vgrad = as_tuple(vgrad, len(names))
        assert_close(value, expected_out, rtol=1e-10, atol=1e-12, what="value")
        for i, name in enumerate(names):
            assert_close(grad[i], unit[i], rtol=1e-12, atol=1e-12, what=f"grad {name}")
            assert_close(vgrad[i], unit[i], rtol=1e-12, atol=1e-12, what=f"v&g grad {name}")


# --------------------------------------------------------------------------
# Documented conventions at non-smooth points
# --------------------------------------------------------------------------


def _vjp_of(body: str, shapes, annotated: bool, args, g):
    source = make_source(body, shapes, annotated)
    names = list(PARAM_NAMES[: len(shapes)])
    mod = load_module(generate(source, funcs=["f"], wrt=names))
    return as_tuple(mod.vjp_f(*args, g), len(names)), mod


BOTH = pytest.mark.parametrize("annotated", [True, False], ids=["annotated", "generic"])


@BOTH
def test_relu_derivative_at_zero_is_zero(annotated):
    x = np.array([-1.0, 0.0, 2.0])
    (gx,), _ = _vjp_of("np.maximum(x, 0)", ((3,),), annotated, [x], np.ones(3))
    assert_close(gx, [0.0, 0.0, 1.0], what="relu'")
    (gs,), _ = _vjp_of("np.maximum(x, 0.0)", ((),), annotated, [0.0], 1.0)
    assert_close(gs, 0.0, what="relu'(0) scalar")


@BOTH
def test_abs_derivative_at_zero_is_zero(annotated):
    x = np.array([-1.0, 0.0, 2.0])
    (gx,), _ = _vjp_of("np.abs(x)", ((3,),), annotated, [x], np.ones(3))
    assert_close(gx, [-1.0, 0.0, 1.0], what="abs'")
    (gs,), _ = _vjp_of("np.abs(x)", ((),), annotated, [0.0], 1.0)
    assert_close(gs, 0.0, what="abs'(0) scalar")


@BOTH
def test_max_ties_share_gradient(annotated):
    x = np.array([1.0, 3.0, 3.0])
    (gx,), mod = _vjp_of("np.max(x)", ((3,),), annotated, [x], 1.0)
    assert_close(gx, [0.0, 0.5, 0.5], what="vjp of max with ties")
    assert_close(mod.grad_f(x), [0.0, 0.5, 0.5], what="grad of max with ties")


@BOTH
def test_maximum_ties_split_evenly(annotated):
    x = np.array([1.0, 2.0])
    y = np.array([1.0, 3.0])
    (gx, gy), _ = _vjp_of("np.maximum(x, y)", ((2,), (2,)), annotated, [x, y], np.ones(2))
    assert_close(gx, [0.5, 0.0], what="d/dx maximum with tie")
    assert_close(gy, [0.5, 1.0], what="d/dy maximum with tie")
