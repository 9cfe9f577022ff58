"""Dense derivatives: `jacobian_f` and `hessian_f`, assembled from jvp_f, vjp_f and hvp_f.

A Jacobian of f: R^n -> R^m costs n forward passes (one `jvp_f` per input
element, the tangent a basis vector) or m reverse passes (one `vjp_f` per
output element, the cotangent a basis vector).  `jacobian_f` takes the
cheaper one, the rule `_jacobian_mode` states:

    forward when m >= n (at least as many outputs as inputs), else reverse,

where n counts the elements of every --wrt parameter together.  m is known only
at run time (output shapes depend on the arguments), so with `--jacobian auto`
the emitted function evaluates f once and decides then; `--jacobian forward`
or `--jacobian reverse` fixes the mode when the module is generated.
`hessian_f` is the Jacobian of the gradient, one `hvp_f` per input element.

Blocks are shaped `output.shape + parameter.shape`: `jacobian_f` returns one per
parameter (a tuple in --wrt order when there are several), `hessian_f` a block
`[i][j]` of shape `p_i.shape + p_j.shape` for each pair (nested tuples).

The loops live in small helpers of the generated module; this module writes the
functions that call them.
"""

from __future__ import annotations

JACOBIAN_MODES = ("auto", "forward", "reverse")

LINE_LIMIT = 88  # the generated module is formatted like `ruff format` with its defaults

# Helpers the emitted Jacobian and Hessian functions call; each is emitted only when used.
DENSE_HELPERS = {
    "_jacobian_mode": '''
def _jacobian_mode(out_shape, in_shapes):
    """Forward mode when f has at least as many output elements as input elements."""
    n_in = sum(int(np.prod(shape)) for shape in in_shapes)
    return "forward" if int(np.prod(out_shape)) >= n_in else "reverse"
''',
    "_basis_columns": '''
def _basis_columns(push, primals, in_shapes):
    """Jacobian blocks [output][input] of push, one call per input element.

    push(*primals, *tangents) returns a tuple of output tangents. Every tangent is
    zero but one element of one input, so each call yields a column of each block.
    """
    by_input = []
    for i, shape in enumerate(in_shapes):
        columns = []
        for k in range(int(np.prod(shape))):
            tangents = [np.zeros(s) for s in in_shapes]
            tangents[i].flat[k] = 1.0
            columns.append(push(*primals, *tangents))
        stacked = [np.stack(c, axis=-1) for c in zip(*columns)]
        by_input.append([s.reshape(s.shape[:-1] + shape) for s in stacked])
    return [list(row) for row in zip(*by_input)]
''',
    "_jacobian_forward": '''
def _jacobian_forward(jvp, primals, in_shapes):
    """Jacobian blocks of f, one per input, from one jvp per input element."""
    return _basis_columns(lambda *args: (jvp(*args)[1],), primals, in_shapes)[0]
''',
    "_jacobian_reverse": '''
def _jacobian_reverse(vjp, primals, in_shapes, out_shape):
    """Jacobian blocks of f, one per input, from one vjp per output element."""
    rows = []
    for k in range(int(np.prod(out_shape))):
        g = np.zeros(out_shape)
        g.flat[k] = 1.0
        cotangents = vjp(*primals, g)
        rows.append((cotangents,) if len(in_shapes) == 1 else cotangents)
    return [np.stack(r).reshape(out_shape + s) for r, s in zip(zip(*rows), in_shapes)]
''',
    "_hessian": '''
def _hessian(hvp, primals, in_shapes):
    """Hessian blocks [i][j], shaped in_shapes[i] + in_shapes[j], one hvp per element."""
    if len(in_shapes) == 1:
        return _basis_columns(lambda *args: (hvp(*args),), primals, in_shapes)
    return _basis_columns(hvp, primals, in_shapes)
''',
}
DENSE_HELPER_DEPENDS = {
    "_jacobian_forward": ("_basis_columns",),
    "_hessian": ("_basis_columns",),
}


def jacobian_function(name, params, defaults, wrt, mode, reserved) -> str:
    """Source of `jacobian_<name>`: by forward mode, reverse mode, or chosen at run time."""
    local = Locals(set(reserved) | set(params))
    primals, shapes, out_shape, blocks = local("primals", "shapes", "out_shape", "blocks")
    lines = [
        signature(f"jacobian_{name}", params, defaults),
        f'    """Jacobian of {name} with respect to {", ".join(wrt)}, by {describe(mode)}."""',
        *assign_tuple(primals, params),
        *assign_tuple(shapes, [f"np.shape({w})" for w in wrt]),
    ]
    forward = f"_jacobian_forward(jvp_{name}, {primals}, {shapes})"
    backward = f"_jacobian_reverse(vjp_{name}, {primals}, {shapes}, {out_shape})"
    if mode == "forward":
        lines.append(f"    {blocks} = {forward}")
    else:
        lines.append(f"    {out_shape} = np.shape({name}(*{primals}))")
        if mode == "reverse":
            lines.append(f"    {blocks} = {backward}")
        else:
            lines += [
                f'    if _jacobian_mode({out_shape}, {shapes}) == "forward":',
                f"        {blocks} = {forward}",
                "    else:",
                f"        {blocks} = {backward}",
            ]
    lines.append(f"    return {blocks}[0]" if len(wrt) == 1 else f"    return tuple({blocks})")
    return "\n".join(lines)


def hessian_function(name, params, defaults, wrt, reserved) -> str:
    """Source of `hessian_<name>`: the Jacobian of the gradient, one hvp per input element."""
    local = Locals(set(reserved) | set(params))
    primals, shapes, blocks, row = local("primals", "shapes", "blocks", "row")
    lines = [
        signature(f"hessian_{name}", params, defaults),
        f'    """Hessian of {name} with respect to {", ".join(wrt)}, one hvp per element."""',
        *assign_tuple(primals, params),
        *assign_tuple(shapes, [f"np.shape({w})" for w in wrt]),
        f"    {blocks} = _hessian(hvp_{name}, {primals}, {shapes})",
    ]
    if len(wrt) == 1:
        lines.append(f"    return {blocks}[0][0]")
    else:
        lines.append(f"    return tuple(tuple({row}) for {row} in {blocks})")
    return "\n".join(lines)


def helpers_for(mode: str) -> set:
    """The helpers a Jacobian function of this mode calls."""
    return {
        "forward": {"_jacobian_forward"},
        "reverse": {"_jacobian_reverse"},
        "auto": {"_jacobian_mode", "_jacobian_forward", "_jacobian_reverse"},
    }[mode]


def describe(mode: str) -> str:
    return {
        "forward": "forward mode",
        "reverse": "reverse mode",
        "auto": "the mode with fewer passes",
    }[mode]


class Locals:
    """Names for the locals of an emitted function that no parameter or helper uses."""

    def __init__(self, taken: set):
        self.taken = taken

    def __call__(self, *names):
        chosen = []
        for name in names:
            while name in self.taken:
                name += "_"
            self.taken.add(name)
            chosen.append(name)
        return chosen


def signature(fname: str, params, defaults) -> str:
    parts = [p + (f"={defaults[p]}" if p in defaults else "") for p in params]
    return f"def {fname}({', '.join(parts)}):"


def assign_tuple(name: str, items) -> list[str]:
    """`name = (a, b)` as ruff formats it: one line if it fits, else one item per line."""
    items = list(items)
    inner = f"{items[0]}," if len(items) == 1 else ", ".join(items)
    line = f"    {name} = ({inner})"
    if len(line) <= LINE_LIMIT:
        return [line]
    return [f"    {name} = (", *[f"        {item}," for item in items], "    )"]
