"""Front end: Python source -> symgrad IR.  The only module that touches `ast`.

The source is parsed, never executed or imported.  `fence` walks a function
and reports every construct outside the supported subset at once; `Translator`
then turns the function into equations through a `Builder`, either keeping
calls to the file's helper functions (for the emitted primal) or inlining them
(for differentiation).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field

from . import shapes as sh
from .builder import Builder
from .errors import Diagnostic, SymgradError
from .ir import Cond, Const, Function, Loc, Loop, Var
from .primitives import ARRAY_METHODS, NUMPY_CONSTANTS, NUMPY_FUNCTIONS

BINOPS = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.MatMult: "matmul",
    ast.BitAnd: "and_",
}
CMPOPS = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne"}
SUPPORTED_FUNCTIONS = ", ".join(sorted(NUMPY_FUNCTIONS))
SUPPORTED_METHODS = ", ".join(sorted(ARRAY_METHODS))

# What each unsupported statement or expression is called in an error, and a hint.
UNSUPPORTED = {
    ast.While: (
        "`while` loops are not supported",
        "use `for i in range(n)` with a count known before the loop",
    ),
    ast.Break: ("`break` is not supported", "loops run their whole range"),
    ast.Continue: ("`continue` is not supported", "use an `if` around the rest of the body"),
    ast.AnnAssign: ("annotated assignment is not supported", "drop the annotation"),
    ast.With: ("`with` is not supported", ""),
    ast.Try: ("`try` is not supported", ""),
    ast.Raise: ("`raise` is not supported", ""),
    ast.Assert: ("`assert` is not supported", ""),
    ast.Delete: ("`del` is not supported", ""),
    ast.Global: ("`global` is not supported", ""),
    ast.Nonlocal: ("`nonlocal` is not supported", ""),
    ast.FunctionDef: ("nested functions are not supported", "define helpers at top level"),
    ast.AsyncFunctionDef: ("async functions are not supported", ""),
    ast.ClassDef: ("classes are not supported", ""),
    ast.Import: ("imports inside a function are not supported", "import numpy at top level"),
    ast.ImportFrom: ("imports inside a function are not supported", "import numpy at top level"),
    ast.Lambda: ("lambda is not supported", "define a helper function"),
    ast.IfExp: ("conditional expressions are not supported", "use np.where"),
    ast.ListComp: ("list comprehensions are not supported", ""),
    ast.SetComp: ("set comprehensions are not supported", ""),
    ast.DictComp: ("dict comprehensions are not supported", ""),
    ast.GeneratorExp: ("generator expressions are not supported", ""),
    ast.Dict: ("dicts are not supported", ""),
    ast.Set: ("sets are not supported", ""),
    ast.BoolOp: ("`and`/`or` are not supported", "use `&` on comparisons, or np.where"),
    ast.Starred: ("starred expressions are not supported", ""),
    ast.JoinedStr: ("f-strings are not supported", ""),
    ast.Await: ("await is not supported", ""),
    ast.Yield: ("yield is not supported", ""),
    ast.YieldFrom: ("yield is not supported", ""),
    ast.NamedExpr: ("`:=` is not supported", ""),
}
OPERATOR_NAMES = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
}


@dataclass
class PyTuple:
    """A Python tuple or list of values, known at generation time."""

    items: list


@dataclass(frozen=True)
class Module:
    """A reference to numpy (or numpy.linalg) in the user's code."""

    dotted: str


@dataclass(frozen=True)
class Helper:
    name: str


@dataclass
class SourceFile:
    path: str
    text: str
    tree: ast.Module
    numpy_aliases: set = field(default_factory=set)
    functions: dict = field(default_factory=dict)  # name -> ast.FunctionDef
    constants: dict = field(default_factory=dict)  # name -> Const
    other_imports: dict = field(default_factory=dict)  # name -> what it imports

    @functools.cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def parse(text: str, path: str) -> SourceFile:
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise SymgradError(
            [Diagnostic(path, exc.lineno or 1, exc.offset or 1, f"invalid syntax: {exc.msg}")]
        ) from None
    except ValueError as exc:  # e.g. null bytes
        raise SymgradError([Diagnostic(path, 1, 1, f"cannot parse: {exc}")]) from None
    src = SourceFile(path, text, tree)
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "numpy":
                    src.numpy_aliases.add(alias.asname or "numpy")
                else:
                    src.other_imports[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                src.other_imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.FunctionDef):
            src.functions[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(target, ast.Name) and _is_number(value):
                src.constants[target.id] = Const(_number_value(value))
    return src


def _is_number(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    )


def _number_value(node):
    if isinstance(node, ast.UnaryOp):
        return -node.operand.value
    return node.value


class Fence(ast.NodeVisitor):
    """Collects every unsupported construct in a function, with its position."""

    def __init__(self, src: SourceFile):
        self.src = src
        self.problems: list[Diagnostic] = []

    def report(self, node, message, hint=""):
        self.problems.append(
            Diagnostic(self.src.path, node.lineno, node.col_offset + 1, message, hint)
        )

    def check_function(self, fn: ast.FunctionDef):
        args = fn.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            self.report(fn, f"function '{fn.name}': only plain positional parameters are supported")
        if fn.decorator_list:
            self.report(fn.decorator_list[0], "decorators are not supported")
        body = fn.body
        if body and _is_docstring(body[0]):
            body = body[1:]
        for stmt in body:
            self.visit(stmt)
        returns = [s for s in ast.walk(fn) if isinstance(s, ast.Return)]
        if not returns:
            self.report(fn, f"function '{fn.name}' has no return statement")
        elif fn.body[-1] is not returns[0] or len(returns) > 1:
            self.report(returns[0], "`return` must be the last statement of the function")

    def visit_For(self, node):
        if node.orelse:
            self.report(node, "`for ... else` is not supported")
        if not isinstance(node.target, (ast.Name, ast.Tuple)):
            self.report(node.target, "the loop variable must be a name or a tuple of names")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        if not isinstance(node.target, ast.Name):
            self.report(node, "augmented assignment is supported on names only, not on items")
        self.generic_visit(node)

    def generic_visit(self, node):
        if type(node) in UNSUPPORTED:
            message, hint = UNSUPPORTED[type(node)]
            self.report(node, message, hint)
            return
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATOR_NAMES:
            self.report(node, f"operator `{OPERATOR_NAMES[type(node.op)]}` is not supported")
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            self.report(node, "an expression statement has no effect here", "assign its value")
        if isinstance(node, ast.Return) and node.value is None:
            self.report(node, "`return` needs a value")
        super().generic_visit(node)


def _is_docstring(stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def parameter_shapes(src: SourceFile, fn: ast.FunctionDef) -> dict:
    """Static shapes from annotations ('N,D', float) and numeric defaults."""
    result = {}
    params = fn.args.args
    defaults = dict(
        zip([p.arg for p in params][len(params) - len(fn.args.defaults) :], fn.args.defaults)
    )
    for p in params:
        ann = p.annotation
        shape = None
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                shape = sh.parse_annotation(ann.value)
            except ValueError:
                raise SymgradError(
                    [
                        Diagnostic(
                            src.path,
                            ann.lineno,
                            ann.col_offset + 1,
                            f"cannot read shape annotation {ann.value!r}",
                            'write dims separated by commas, e.g. "N,D" or "3" or "" for a scalar',
                        )
                    ]
                ) from None
        elif isinstance(ann, ast.Name) and ann.id in ("float", "int"):
            shape = ()
        elif p.arg in defaults and _is_number(defaults[p.arg]):
            shape = ()
        result[p.arg] = sh.Opaque(p.arg) if shape is None else shape
    return result


class Translator:
    """Translates one function (and, when inlining, the helpers it calls) into a Builder."""

    def __init__(self, src: SourceFile, builder: Builder, inline: bool, shapes_override=None):
        self.src = src
        self.b = builder
        self.inline = inline
        self.shapes_override = shapes_override or {}
        self.stack: list[str] = []
        self.symbols = 0
        self.block_locals: dict[str, str] = {}

    # ------------------------------------------------------------ entry points

    def function(self, name: str) -> Function:
        node = self.src.functions[name]
        check(self.src, node)
        shapes = parameter_shapes(self.src, node)
        shapes.update({k: v for k, v in self.shapes_override.items() if k in shapes})
        params = [Var(hint=a.arg, shape=shapes[a.arg]) for a in node.args.args]
        defaults = {}
        n_def = len(node.args.defaults)
        for var, default in zip(params[len(params) - n_def :], node.args.defaults):
            defaults[var] = (
                Const(_number_value(default)) if _is_number(default) else self.constant(default)
            )
        result = self.body(node, params)
        doc = ast.get_docstring(node) or ""
        locs = {v: self.loc(a) for v, a in zip(params, node.args.args)}
        return Function(name, params, defaults, self.b.eqns, result, doc, self.loc(node), locs)

    def body(self, node: ast.FunctionDef, args) -> object:
        if node.name in self.stack:
            chain = " -> ".join(self.stack + [node.name])
            raise self.error(node, f"recursive helper calls are not supported ({chain})")
        self.stack.append(node.name)
        env = {a.arg: v for a, v in zip(node.args.args, args)}
        self.block(node.body[:-1], env)
        self.b.loc = self.loc(node.body[-1])
        result = self.array_value(node.body[-1].value, env)
        self.stack.pop()
        return result

    # ------------------------------------------------------------ statements

    def block(self, stmts, env):
        for stmt in stmts:
            self.b.loc = self.loc(stmt)
            if _is_docstring(stmt) or isinstance(stmt, ast.Pass):
                continue
            if isinstance(stmt, ast.Assign):
                self.assign(stmt, env)
            elif isinstance(stmt, ast.AugAssign):
                self.augmented(stmt, env)
            elif isinstance(stmt, ast.For):
                self.for_loop(stmt, env)
            elif isinstance(stmt, ast.If):
                self.if_statement(stmt, env)
            else:
                raise self.error(stmt, f"unsupported statement: {type(stmt).__name__}")

    def augmented(self, stmt: ast.AugAssign, env):
        prim = BINOPS.get(type(stmt.op))
        if prim is None or prim == "and_":
            raise self.error(stmt, "this augmented assignment operator is not supported")
        current = self.expr_Name(stmt.target, env)
        value = self.b.op(prim, current, self.array_value(stmt.value, env))
        self.bind(stmt.target, value, env, stmt)

    def for_loop(self, stmt: ast.For, env):
        """`for i in range(...)`, `for row in X`, `for a, b in zip(A, B)`: a Loop carrying
        every variable the body assigns that exists before the loop."""
        bounds, bind_items = self.loop_header(stmt, env)
        carried = [n for n in assigned_names(stmt.body) if n in env]
        index = Var(hint=loop_index_name(stmt), shape=(), static=True)
        shapes = {n: getattr(env[n], "shape", None) for n in carried}
        static = {n: getattr(env[n], "static", False) for n in carried}
        for attempt in range(3):
            params = [Var(hint=n, shape=shapes[n], static=static[n]) for n in carried]
            inner = dict(env)
            inner.update(zip(carried, params))
            self.b.open_block()
            bind_items(index, inner)
            self.block(stmt.body, inner)
            body = self.b.close_block()
            results = [inner[n] for n in carried]
            changed = [
                n
                for n, r in zip(carried, results)
                if not sh.same_shape(getattr(r, "shape", None), shapes[n])
            ]
            # a value that starts as a constant (np.zeros(...)) may become differentiable
            derived = [n for n, r in zip(carried, results) if static[n] and not r_static(r)]
            if not (changed or derived) or attempt == 2:
                break
            for n in changed:  # the value changes shape between iterations
                shapes[n] = sh.Opaque(n)
            for n in derived:
                static[n] = False
        for n, r in zip(carried, results):
            if isinstance(r, PyTuple) or isinstance(env[n], PyTuple):
                raise self.error(stmt, f"'{n}' holds a tuple; loops can carry arrays and numbers")
        outs = [Var(hint=p.hint, shape=p.shape, static=p.static) for p in params]
        self.b.loc = self.loc(stmt)
        self.b.append(
            Loop(
                index,
                bounds,
                [env[n] for n in carried],
                params,
                body,
                results,
                outs,
                self.loc(stmt),
            )
        )
        env.update(zip(carried, outs))
        self.note_block_locals(stmt.body, env, "inside the loop", stmt)

    def loop_header(self, stmt: ast.For, env):
        """Bounds of the range, and a function binding the target names in the body."""
        it = stmt.iter
        target = stmt.target
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            if it.keywords or not 1 <= len(it.args) <= 3:
                raise self.error(it, "range() takes one to three integer arguments here")
            values = [self.loop_bound(a, env) for a in it.args]
            start, stop, step = (
                (Const(0), values[0], Const(1))
                if len(values) == 1
                else (values[0], values[1], values[2] if len(values) == 3 else Const(1))
            )
            if isinstance(step, Const) and step.value == 0:
                raise self.error(it, "range() step must not be zero")
            if not isinstance(target, ast.Name):
                raise self.error(target, "a range loop needs a single loop variable")

            def bind_range(index, inner):
                inner[target.id] = index

            return (start, stop, step), bind_range
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "zip":
            arrays = [self.array_value(a, env) for a in it.args]
            if not isinstance(target, ast.Tuple) or len(target.elts) != len(arrays):
                raise self.error(target, "unpack zip(...) into one name per array")
            lengths = [self.length(a) for a in arrays]
            stop = lengths[0]
            for n in lengths[1:]:
                stop = self.b.op("int_min", stop, n)
            names = [t.id if isinstance(t, ast.Name) else None for t in target.elts]
            if None in names:
                raise self.error(target, "unpack zip(...) into plain names")

            def bind_zip(index, inner):
                for name, array in zip(names, arrays):
                    inner[name] = self.b.op("getitem", array, index, index=(("int", 0),))

            return (Const(0), stop, Const(1)), bind_zip
        array = self.array_value(it, env)
        if not isinstance(target, ast.Name):
            raise self.error(target, "iterate over an array with one loop variable")

        def bind_rows(index, inner):
            inner[target.id] = self.b.op("getitem", array, index, index=(("int", 0),))

        return (Const(0), self.length(array), Const(1)), bind_rows

    def length(self, array):
        return self.b.op("getitem", self.b.op("shape", array), Const(0), index=(("int", 0),))

    def loop_bound(self, node, env):
        value = self.array_value(node, env)
        if isinstance(value, Const) and not (
            isinstance(value.value, int) and not isinstance(value.value, bool)
        ):
            raise self.error(node, "range() needs integers")
        return value

    def if_statement(self, stmt: ast.If, env):
        pred = self.array_value(stmt.test, env)
        if isinstance(pred, Const):  # known when the code is generated: keep one branch
            self.block(stmt.body if pred.value else stmt.orelse, env)
            return
        branches = []
        for body in (stmt.body, stmt.orelse):
            inner = dict(env)
            self.b.open_block()
            self.block(body, inner)
            branches.append((self.b.close_block(), inner))
        (then_body, then_env), (else_body, else_env) = branches
        names = [
            n
            for n in assigned_names(stmt.body + stmt.orelse)
            if (n in env or (n in then_env and n in else_env))
        ]
        outs, then_results, else_results = [], [], []
        for n in names:
            a, b = then_env[n], else_env[n]
            if any(isinstance(v, (PyTuple, Module, Helper)) for v in (a, b)):
                raise self.error(stmt, f"'{n}' must be an array or number in both branches")
            sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
            shape = sa if sh.same_shape(sa, sb) else sh.Opaque(n)
            static = getattr(a, "static", True) and getattr(b, "static", True)
            outs.append(Var(hint=n, shape=shape, static=static))
            then_results.append(a)
            else_results.append(b)
        self.b.loc = self.loc(stmt)
        self.b.append(
            Cond(pred, then_body, then_results, else_body, else_results, outs, self.loc(stmt))
        )
        env.update(zip(names, outs))
        self.note_block_locals(stmt.body + stmt.orelse, env, "in one branch of the `if`", stmt)

    def note_block_locals(self, body, env, where, stmt):
        """Remember names assigned only inside a block, to explain a later use of them."""
        for n in assigned_names(body):
            if n not in env:
                self.block_locals[n] = f"'{n}' is assigned only {where} at line {stmt.lineno}"

    def assign(self, stmt: ast.Assign, env):
        value = self.expr(stmt.value, env)
        for target in stmt.targets:
            self.bind(target, value, env, stmt)

    def bind(self, target, value, env, stmt):
        if isinstance(target, ast.Name):
            if isinstance(value, Var) and not value.hint:
                value.hint = target.id
            env[target.id] = value
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            names = target.elts
            if isinstance(value, PyTuple):
                if len(value.items) != len(names):
                    raise self.error(
                        target, f"cannot unpack {len(value.items)} values into {len(names)} names"
                    )
                for t, v in zip(names, value.items):
                    self.bind(t, v, env, stmt)
                return
            if not all(isinstance(t, ast.Name) for t in names):
                raise self.error(target, "only names can be unpacked into")
            if isinstance(value, Var) and value.static:
                self.refine_rank(value, [t.id for t in names])
                outs = [Var(hint=t.id, static=True, shape=()) for t in names]
                self.b.emit_multi("unpack", [value], outs)
                for t, o in zip(names, outs):
                    env[t.id] = o
                return
            items = [
                self.b.op("getitem", value, Const(k), index=(("int", 0),))
                for k in range(len(names))
            ]
            for t, v in zip(names, items):
                self.bind(t, v, env, stmt)
            return
        raise self.error(target, "only assignment to names (or tuples of names) is supported")

    def refine_rank(self, shape_var, names):
        """`N, D = X.shape` tells the rank of X; give X fresh dim symbols if it had none."""
        eqn = self.b.def_of(shape_var)
        if eqn is None or eqn.prim != "shape":
            return
        array = eqn.args[0]
        if isinstance(array, Var) and sh.known(array.shape) is None:
            self.symbols += 1
            array.shape = tuple(f"{n}#{self.symbols}" for n in names)

    # ------------------------------------------------------------ expressions

    def array_value(self, node, env):
        value = self.expr(node, env)
        if isinstance(value, PyTuple):
            raise self.error(
                node, "a tuple or list is not supported here; expected an array or number"
            )
        if isinstance(value, (Module, Helper)):
            raise self.error(node, "expected an array or number, not a module or function")
        return value

    def expr(self, node, env):
        self_loc = getattr(node, "lineno", None)
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            raise self.error(node, f"unsupported expression: {type(node).__name__}")
        assert self_loc is not None
        return method(node, env)

    def expr_Constant(self, node, env):
        if isinstance(node.value, bool) or node.value is None or node.value is Ellipsis:
            return Const(node.value)
        if isinstance(node.value, (int, float)):
            return Const(node.value)
        if isinstance(node.value, str):
            return Const(node.value)
        raise self.error(node, f"unsupported constant {node.value!r}")

    def expr_Name(self, node, env):
        name = node.id
        if name in env:
            return env[name]
        if name in self.src.constants:
            return self.src.constants[name]
        if name in self.src.numpy_aliases:
            return Module("")
        if name in self.src.functions:
            return Helper(name)
        if name in ("abs", "len"):
            return Helper("builtin:" + name)
        if name in self.src.other_imports:
            what = self.src.other_imports[name]
            hint = "import numpy as np and call np." + what.split(".")[-1]
            if not what.startswith("numpy."):
                hint = "differentiated functions can use numpy (as np) and this file's functions"
            raise self.error(
                node, f"'{name}' ({what}) cannot be used in a differentiated function", hint
            )
        if name == "np" or name == "numpy":
            raise self.error(
                node, f"'{name}' is used but numpy is not imported", "add `import numpy as np`"
            )
        if name in self.block_locals:
            raise self.error(
                node, self.block_locals[name], f"assign '{name}' before the block to use it after"
            )
        raise self.error(node, f"name '{name}' is not defined in this function")

    def expr_Tuple(self, node, env):
        return PyTuple([self.expr(e, env) for e in node.elts])

    expr_List = expr_Tuple

    def expr_UnaryOp(self, node, env):
        if isinstance(node.op, ast.UAdd):
            return self.array_value(node.operand, env)
        if isinstance(node.op, ast.USub):
            return self.b.neg(self.array_value(node.operand, env))
        raise self.error(node, f"unary operator {type(node.op).__name__} is not supported")

    def expr_BinOp(self, node, env):
        prim = BINOPS.get(type(node.op))
        if prim is None:
            raise self.error(
                node, f"operator `{OPERATOR_NAMES.get(type(node.op), '?')}` is not supported"
            )
        left = self.array_value(node.left, env)
        right = self.array_value(node.right, env)
        for side, value in ((node.left, left), (node.right, right)):
            if isinstance(value, Const) and isinstance(value.value, str):
                raise self.error(side, "strings are not supported in arithmetic")
        if prim == "div" and all(isinstance(v, Const) for v in (left, right)) and right.value == 0:
            raise self.error(node, "division by the constant zero")
        return self.b.op(prim, left, right)

    def expr_Compare(self, node, env):
        if len(node.ops) != 1:
            raise self.error(
                node, "chained comparisons are not supported", "use `(a < b) & (b < c)`"
            )
        prim = CMPOPS.get(type(node.ops[0]))
        if prim is None:
            raise self.error(node, f"comparison {type(node.ops[0]).__name__} is not supported")
        return self.b.op(
            prim, self.array_value(node.left, env), self.array_value(node.comparators[0], env)
        )

    def expr_Attribute(self, node, env):
        base = self.expr(node.value, env)
        attr = node.attr
        if isinstance(base, Module):
            dotted = f"{base.dotted}.{attr}".lstrip(".")
            if dotted == "linalg":
                return Module("linalg")
            if dotted in NUMPY_CONSTANTS:
                return NUMPY_CONSTANTS[dotted]
            if dotted in NUMPY_FUNCTIONS:
                return Module(dotted)
            raise self.error(
                node,
                f"np.{dotted} is not supported",
                f"supported: {SUPPORTED_FUNCTIONS}, np.pi, np.e, np.newaxis",
            )
        if isinstance(base, (PyTuple, Helper)):
            raise self.error(node, f"attribute '{attr}' is not supported here")
        if attr == "T":
            return self.b.op("transpose", base)
        if attr == "shape":
            return self.b.op("shape", base)
        if attr == "ndim":
            return self.b.op("ndim", base)
        if attr == "size":
            return self.b.op("size", base)
        if attr in ARRAY_METHODS:
            return ("method", attr, base)
        raise self.error(
            node,
            f"array attribute '.{attr}' is not supported",
            f"supported: .T, .shape, .ndim, .size and the methods {SUPPORTED_METHODS}",
        )

    def expr_Subscript(self, node, env):
        base = self.expr(node.value, env)
        index = node.slice
        if isinstance(base, PyTuple):
            k = self.array_value(index, env)
            if not (isinstance(k, Const) and isinstance(k.value, int)):
                raise self.error(index, "a tuple can only be indexed with an integer constant")
            try:
                return base.items[k.value]
            except IndexError:
                raise self.error(index, "tuple index out of range") from None
        if isinstance(base, (Module, Helper, tuple)):
            raise self.error(node, "only arrays and tuples can be indexed")
        items = index.elts if isinstance(index, ast.Tuple) else [index]
        template, dyn = [], []
        for item in items:
            template.append(self.index_item(item, env, dyn))
        if sum(1 for t in template if t == ("ellipsis",)) > 1:
            raise self.error(index, "an index can only have a single ellipsis ('...')")
        return self.b.op("getitem", base, *dyn, index=tuple(template))

    def index_item(self, item, env, dyn):
        if isinstance(item, ast.Slice):
            bounds = []
            for part in (item.lower, item.upper, item.step):
                if part is None:
                    bounds.append(None)
                    continue
                value = self.static_int(part, env)
                bounds.append(len(dyn))
                dyn.append(value)
            return ("slice", *bounds)
        value = self.expr(item, env)
        if isinstance(value, Const) and value.value is None:
            return ("none",)
        if isinstance(value, Const) and value.value is Ellipsis:
            return ("ellipsis",)
        value = self.static_int(item, env, value)
        dyn.append(value)
        return ("int", len(dyn) - 1)

    def static_int(self, node, env, value=None):
        value = self.expr(node, env) if value is None else value
        if (
            isinstance(value, Const)
            and isinstance(value.value, int)
            and not isinstance(value.value, bool)
        ):
            return value
        if isinstance(value, Var) and value.static and value.shape == ():
            return value
        raise self.error(
            node,
            "indices must be integers known from shapes or constants",
            "indexing with arrays or booleans is not supported",
        )

    # ------------------------------------------------------------ calls

    def expr_Call(self, node, env):
        dotted = dotted_name(node.func)
        if dotted and dotted[0] in self.src.numpy_aliases and dotted[0] not in env:
            name = ".".join(dotted[1:])
            if name not in NUMPY_FUNCTIONS:
                raise self.error(
                    node, f"np.{name} is not supported", f"supported: {SUPPORTED_FUNCTIONS}"
                )
        func = self.expr(node.func, env)
        if isinstance(func, Helper):
            return self.call_helper(node, func, env)
        if isinstance(func, tuple) and func[0] == "method":
            _, name, base = func
            return self.call_method(node, name, base, env)
        if isinstance(func, Module) and func.dotted in NUMPY_FUNCTIONS:
            return self.call_numpy(node, NUMPY_FUNCTIONS[func.dotted], func.dotted, env, [])
        raise self.error(
            node, "only numpy functions, array methods and this file's functions can be called"
        )

    def call_helper(self, node, helper, env):
        if node.keywords:
            raise self.error(node, "keyword arguments to helper functions are not supported")
        args = [self.array_value(a, env) for a in node.args]
        if helper.name == "builtin:abs":
            if len(args) != 1:
                raise self.error(node, "abs() takes one argument")
            return self.b.op("abs", args[0])
        if helper.name == "builtin:len":
            if len(args) != 1:
                raise self.error(node, "len() takes one argument")
            return self.b.op("getitem", self.b.op("shape", args[0]), Const(0), index=(("int", 0),))
        fn = self.src.functions[helper.name]
        params = fn.args.args
        n_def = len(fn.args.defaults)
        if not (len(params) - n_def <= len(args) <= len(params)):
            raise self.error(
                node, f"{helper.name}() takes {len(params)} arguments, got {len(args)}"
            )
        for default in fn.args.defaults[len(args) - (len(params) - n_def) :]:
            args.append(
                Const(_number_value(default)) if _is_number(default) else self.constant(default)
            )
        if not self.inline:
            check(self.src, fn)
            return self.b.op("call", *args, func=helper.name)
        saved = self.b.loc
        result = self.body_checked(fn, args)
        self.b.loc = saved
        return result

    def body_checked(self, fn, args):
        check(self.src, fn)
        return self.body(fn, args)

    def call_method(self, node, name, base, env):
        prim = ARRAY_METHODS[name]
        if name == "reshape" and len(node.args) > 1:
            shape = self.as_static_tuple(PyTuple([self.expr(a, env) for a in node.args]), node)
            return self.b.op("reshape", base, shape)
        if name == "transpose" and node.args:
            axes = [self.expr(a, env) for a in node.args]
            if len(axes) == 1:
                axes = axes[0]
            else:
                axes = PyTuple(axes)
            return self.b.op("transpose", base, axes=self.static_param(node, "axes", axes))
        return self.call_numpy(node, prim, name, env, [base])

    def call_numpy(self, node, prim, name, env, leading):
        values = list(leading)
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.error(a, "starred arguments are not supported")
            values.append(self.expr(a, env))
        keywords = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error(node, "**kwargs are not supported")
            keywords[kw.arg] = self.expr(kw.value, env)
        arrays, params = [], {}
        signature = prim.signature
        for k, spec in enumerate(signature):
            pname, _, default = spec.partition("=")
            variadic = pname.startswith("*")
            pname = pname.lstrip("*")
            if k < len(values):
                value = values[k]
                if pname in keywords:
                    raise self.error(node, f"np.{name}() got argument '{pname}' twice")
            elif pname in keywords:
                value = keywords.pop(pname)
            elif default:
                value = None if default == "None" else Const(_literal(default))
            else:
                raise self.error(node, f"np.{name}() is missing argument '{pname}'")
            keywords.pop(pname, None)
            if variadic:
                if not isinstance(value, PyTuple) or not value.items:
                    raise self.error(node, f"np.{name}() expects a list of arrays")
                arrays.extend(self.as_array(v, node) for v in value.items)
            elif default:
                params[pname] = self.static_param(node, pname, value)
            elif pname in ("shape", "newshape", "N"):
                arrays.append(
                    self.as_static_tuple(value, node) if isinstance(value, PyTuple) else value
                )
            else:
                arrays.append(self.as_array(value, node))
        if len(values) > len(signature):
            raise self.error(node, f"np.{name}() got too many positional arguments")
        if keywords:
            raise self.error(
                node, f"np.{name}(): argument '{next(iter(keywords))}' is not supported"
            )
        return self.finish_call(node, prim, name, arrays, params)

    def finish_call(self, node, prim, name, arrays, params):
        if prim.name == "norm":
            ord_ = params.pop("ord", None)
            if ord_ not in (None, "fro", 2):
                raise self.error(
                    node,
                    f"np.linalg.norm with ord={ord_!r} is not supported",
                    "the 2-norm and Frobenius norm are",
                )
            if ord_ == 2 and params.get("axis") is None:
                raise self.error(
                    node, "np.linalg.norm(x, 2) without axis is the spectral norm, not supported"
                )
        if prim.name == "clip" and any(isinstance(a, Const) and a.value is None for a in arrays):
            raise self.error(
                node, "np.clip with a None bound is not supported", "use np.maximum or np.minimum"
            )
        if prim.name in ("concatenate", "stack") and not isinstance(params.get("axis"), int):
            raise self.error(node, f"np.{name} needs an integer axis")
        if prim.name == "transpose" and params.get("axes") is not None:
            axes = params["axes"]
            if not isinstance(axes, tuple) or sorted(axes) != list(range(len(axes))):
                raise self.error(node, "np.transpose axes must be a permutation such as (1, 0, 2)")
        for key in ("axis",):
            axis = params.get(key)
            ok = (
                axis is None
                or isinstance(axis, int)
                or (isinstance(axis, tuple) and all(isinstance(a, int) for a in axis))
            )
            if not ok or isinstance(axis, bool):
                raise self.error(node, "axis must be an integer, a tuple of integers or None")
        if "keepdims" in params and not isinstance(params["keepdims"], bool):
            raise self.error(node, "keepdims must be True or False")
        params = {k: v for k, v in params.items() if not (k == "keepdims" and v is False)}
        return self.b.op(prim.name, *arrays, **params)

    def static_param(self, node, name, value):
        if value is None:
            return None
        if isinstance(value, PyTuple):
            items = [self.static_param(node, name, v) for v in value.items]
            return tuple(items)
        if isinstance(value, Const):
            return value.value
        raise self.error(node, f"'{name}' must be a constant known when the code is generated")

    def as_static_tuple(self, value, node):
        items = []
        for v in value.items:
            if isinstance(v, Const) and isinstance(v.value, int):
                items.append(v)
            elif isinstance(v, Var) and v.static:
                items.append(v)
            else:
                raise self.error(node, "shapes must be built from integers and sizes of arrays")
        if all(isinstance(v, Const) for v in items):
            return Const(tuple(v.value for v in items))
        return self.b.op("tuple", *items)

    def as_array(self, value, node):
        if isinstance(value, PyTuple):
            raise self.error(node, "a tuple or list is not supported here; expected an array")
        if isinstance(value, (Module, Helper, tuple)):
            raise self.error(node, "expected an array or number")
        return value

    def constant(self, node):
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, (bool, int, float))
        ):
            return Const(node.value)
        raise self.error(node, "default values must be numbers, booleans or None")

    # ------------------------------------------------------------ errors

    def loc(self, node) -> Loc:
        line = node.lineno
        lines = self.src.lines
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        return Loc(line, node.col_offset + 1, text)

    def error(self, node, message, hint=""):
        return SymgradError(
            [
                Diagnostic(
                    self.src.path,
                    getattr(node, "lineno", 1),
                    getattr(node, "col_offset", 0) + 1,
                    message,
                    hint,
                )
            ]
        )


def r_static(value) -> bool:
    return isinstance(value, Const) or getattr(value, "static", True)


def called_helpers(src: SourceFile, name: str) -> list[str]:
    """Helpers `name` calls, transitively, in source order."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        node = src.functions[todo.pop()]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                callee = sub.func.id
                if callee in src.functions and callee not in seen and callee != name:
                    seen.add(callee)
                    todo.append(callee)
    return [f for f in src.functions if f in seen]


def assigned_names(stmts) -> list[str]:
    """Names a block assigns, in order of first assignment (loop targets included)."""
    names: list[str] = []
    for stmt in stmts:
        for node in ast.walk(stmt):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.For)):
                targets = [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name) and sub.id not in names:
                        names.append(sub.id)
    return names


def loop_index_name(stmt: ast.For) -> str:
    if isinstance(stmt.target, ast.Name) and isinstance(stmt.iter, ast.Call):
        if isinstance(stmt.iter.func, ast.Name) and stmt.iter.func.id == "range":
            return stmt.target.id
    return "i"


def dotted_name(node) -> list[str] | None:
    """['np', 'linalg', 'norm'] for `np.linalg.norm`; None for anything but a dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _literal(text: str):
    return {"None": None, "False": False, "True": True}.get(
        text, int(text) if text.lstrip("-").isdigit() else text
    )


def check(src: SourceFile, fn: ast.FunctionDef) -> None:
    fence = Fence(src)
    fence.check_function(fn)
    if fence.problems:
        raise SymgradError(fence.problems)


def translate(src: SourceFile, name: str, inline: bool, shapes=None) -> Function:
    """The IR of function `name`: helpers inlined (for differentiation) or kept as calls."""
    builder = Builder()
    fn = Translator(src, builder, inline, shapes).function(name)
    if fn.result is None:
        raise SymgradError(
            [Diagnostic(src.path, fn.loc.line, fn.loc.col, f"function '{name}' returns nothing")]
        )
    return fn
