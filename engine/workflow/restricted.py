"""The policy for expressions and scripts inside BPMN models: what they may say and how big
one operation may get. Pure Python, no SpiffWorkflow: the sandbox worker process imports
only this (``engine.workflow.sandbox_worker``), the deploy check uses :func:`check_source`.

Every expression and script is compiled with RestrictedPython and runs with guarded
attribute, item and iteration access, a write guard and a short list of builtins. Modules
are never exposed, only functions. Refused code raises ``ValueError`` (SpiffWorkflow's error
reporting crashes on a bare ``SyntaxError`` without a line number).

The size checks are the fast first line (the worker process's memory and CPU limits are the
second): each operation that could build something huge in one C call is checked *before*
it allocates — ``**``/``pow`` and ``<<`` on integers; ``*`` and ``+`` on strings and
sequences; ``%`` formatting and f-string format specs (their widths and precisions);
``range``; the padding methods, ``join``, ``replace`` and ``translate`` of ``str`` and
``bytes`` (also when called on the type, ``str.rjust('', n)``); ``sum`` of sequences.
"""

from __future__ import annotations

import ast
import datetime
import decimal
import math
import operator
import re
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
    safe_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)

#: Seconds one expression or script may run.
TIME_LIMIT = 2.0
#: Elements of a string or sequence one operation may build.
MAX_ITEMS = 1_000_000
#: Bits of an integer one operation may build (about 300,000 decimal digits).
MAX_INT_BITS = 1_000_000
FILENAME = "<bpmn>"


class ScriptLimit(ValueError):
    """A model's code ran past a limit (time, size or memory)."""


def _german(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def _check_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise ScriptLimit(f"Ergebnis zu groß: {_german(count)} Elemente (erlaubt: {_german(MAX_ITEMS)})")


def _check_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ScriptLimit(f"Ergebnis zu groß: {what} mit mehr als {_german(MAX_INT_BITS)} Bit")


def _bits(value: int) -> int:
    return max(abs(value).bit_length(), 1)


_SIZED = (str, bytes, bytearray, list, tuple)


def _power(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _check_bits(right * math.log2(abs(left)), "Potenz")


# printf-style conversion specifiers: %[(key)][flags][width][.precision]type
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[diouxXeEfFgGcrsab%]")
_PERCENT_SPEC_B = re.compile(_PERCENT_SPEC.pattern.encode())


def _check_percent(template: str | bytes, args: Any) -> None:
    """``'%999999999d' % 1`` pads to a gigabyte: check every width and precision, ``*`` too."""
    specs = (_PERCENT_SPEC.findall(template) if isinstance(template, str)
             else _PERCENT_SPEC_B.findall(template))
    stars = False
    for width, precision in specs:
        for number in (width, precision):
            if number in ("*", b"*"):
                stars = True
            elif number:
                _check_items(int(number))
    if stars:
        for value in args if isinstance(args, tuple) else (args,):
            if isinstance(value, int):
                _check_items(abs(value))


def _binop(op: str, left: Any, right: Any) -> Any:
    """``**``, ``<<``, ``*``, ``+`` and ``%`` with their result's size checked before it is built."""
    if op == "**":
        _power(left, right)
        return left ** right
    if op == "<<":
        if isinstance(left, int) and isinstance(right, int):
            _check_bits(_bits(left) + right, "Verschiebung")
        return left << right
    if op == "*":
        if isinstance(left, int) and isinstance(right, int):
            _check_bits(_bits(left) + _bits(right), "Produkt")
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, _SIZED) and isinstance(n, int):
                _check_items(len(seq) * n)
        return left * right
    if op == "+":
        if isinstance(left, _SIZED) and isinstance(right, _SIZED):
            _check_items(len(left) + len(right))
        return left + right
    if op == "%":
        if isinstance(left, str | bytes):
            _check_percent(left, right)
        return left % right
    raise ValueError(f"Operator {op} ist in Modellen nicht erlaubt")


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor, ">>=": operator.irshift,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op in ("**=", "<<=", "*=", "+=", "%="):
        if op == "+=" and isinstance(x, list):  # in place, as Python does (a += b mutates a)
            _check_items(len(x) + (len(y) if hasattr(y, "__len__") else 0))
            x += y
            return x
        return _binop(op[:-1], x, y)
    try:
        return _INPLACE[op](x, y)
    except KeyError:
        raise ValueError(f"Operator {op} ist in Modellen nicht erlaubt") from None


_DIGITS = re.compile(r"\d+")
_MAX_SPEC = 100


def _format(value: Any, conversion: int, spec: str) -> str:
    """An f-string field ``{value!r:spec}``: every number in the spec (a width, a precision,
    a strftime padding) checked first."""
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    if len(spec) > _MAX_SPEC:
        raise ScriptLimit(f"Formatangabe zu lang: {_german(len(spec))} Zeichen (erlaubt: {_MAX_SPEC})")
    for number in _DIGITS.findall(spec):
        _check_items(int(number))
    return format(value, spec)


_OPS = {ast.Pow: "**", ast.LShift: "<<", ast.Mult: "*", ast.Add: "+", ast.Mod: "%"}


class Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, and then ``a ** b`` → ``_binop_('**', a, b)`` (also ``<<``,
    ``*``, ``+`` and ``%``; their augmented forms go through ``_inplacevar_``), and an
    f-string field with a format spec → ``_format_(value, conversion, spec)``."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        checked = self.node_contents_visit(node)
        op = _OPS.get(type(checked.op))
        if op is None:
            return checked
        call = ast.Call(ast.Name("_binop_", ast.Load()), [ast.Constant(op), checked.left, checked.right], [])
        return ast.fix_missing_locations(ast.copy_location(call, checked))

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        checked = self.node_contents_visit(node)
        if checked.format_spec is None:
            return checked
        call = ast.Call(ast.Name("_format_", ast.Load()),
                        [checked.value, ast.Constant(checked.conversion), checked.format_spec], [])
        replaced = ast.FormattedValue(value=call, conversion=-1, format_spec=None)
        return ast.fix_missing_locations(ast.copy_location(replaced, checked))


def _range(*args: int) -> range:
    bounded = range(*args)
    _check_items(len(bounded))
    return bounded


def _pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None:
        _power(base, exp)
        return pow(base, exp)
    if isinstance(mod, int):
        _check_bits(_bits(mod), "Modul")
    return pow(base, exp, mod)


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    """``sum`` of numbers as Python's; of lists or tuples with the growing size checked
    (``sum([[0]*10**6]*1000, [])`` stops at the first million, not after minutes)."""
    if not isinstance(start, _SIZED):
        return sum(values, start)
    total = start
    for value in values:
        total = _binop("+", total, value)
    return total


_TEXT_TYPES = (str, bytes, bytearray)
_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})
_SIZE_CHECKED = _PADDING | {"expandtabs", "join", "replace", "translate"}


def _checked_method(name: str, method: Callable[..., Any], text: Any) -> Callable[..., Any]:
    """``text.<name>`` (bound) with the size of its result checked before it is built."""
    def call(*args: Any) -> Any:
        if name in _PADDING and args and isinstance(args[0], int):
            _check_items(args[0])
        elif name == "expandtabs":
            _check_items(len(text) * max(args[0] if args and isinstance(args[0], int) else 8, 1))
        elif name == "join" and args:
            parts = list(args[0])
            _check_items(sum(len(p) for p in parts if isinstance(p, _SIZED))
                         + len(text) * max(len(parts) - 1, 0))
            return method(parts)
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], _TEXT_TYPES) \
                and isinstance(args[1], _TEXT_TYPES):
            count = text.count(args[0]) if args[0] else len(text) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            _check_items(len(text) + count * max(len(args[1]) - len(args[0]), 0))
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, _TEXT_TYPES)), default=1)
            _check_items(len(text) * max(longest, 1))
        return method(*args)
    return call


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    if name in _SIZE_CHECKED:
        if isinstance(obj, _TEXT_TYPES):
            return _checked_method(name, safer_getattr(obj, name), obj)
        if isinstance(obj, type) and issubclass(obj, _TEXT_TYPES):
            unbound = safer_getattr(obj, name)

            def on_the_type(text: Any, *args: Any) -> Any:  # str.rjust('', n)
                if not isinstance(text, obj):
                    return unbound(text, *args)  # the type's own TypeError
                return _checked_method(name, getattr(text, name), text)(*args)
            return on_the_type
    return safer_getattr(obj, name, *default)


BUILTINS: dict[str, Any] = dict(safe_builtins)
for _name in ("setattr", "delattr", "__build_class__"):
    BUILTINS.pop(_name, None)
BUILTINS.update({
    "list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple,
    "min": min, "max": max, "sum": _sum, "any": any, "all": all, "sorted": sorted,
    "enumerate": enumerate, "reversed": reversed, "zip": zip, "map": map, "filter": filter,
    "len": len, "range": _range, "pow": _pow, "str": str, "int": int, "float": float, "bool": bool,
})

FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "getattr", "input", "breakpoint", "help", "memoryview", "type", "object",
})


def base_globals() -> dict[str, Any]:
    return {
        "__builtins__": BUILTINS,
        "_getattr_": _getattr,
        "_binop_": _binop,
        "_format_": _format,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
    }


#: The names a script's scope holds besides its data (never returned as data).
HIDDEN = frozenset(base_globals())


def check_source(source: str, mode: str) -> list[str]:
    """Why ``source`` may not run in a model; an empty list when it may."""
    problems: list[str] = []
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        return [f"Syntaxfehler in Zeile {exc.lineno}: {exc.msg}"]
    except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
        return ["der Code lässt sich nicht lesen (Nullzeichen oder zu tief verschachtelt)"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            problems.append(f"Zeile {node.lineno}: import ist in Modellen nicht erlaubt")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"Zeile {node.lineno}: {node.id} ist in Modellen nicht erlaubt")
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=FILENAME, policy=Policy)
    problems.extend(result.errors)
    return problems


@lru_cache(maxsize=2048)
def compile_code(source: str, mode: str) -> CodeType:
    """The restricted code object of ``source`` (``mode`` "eval" or "exec"); ValueError if refused."""
    problems = check_source(source, mode)
    if problems:
        raise ValueError("; ".join(problems))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=FILENAME, policy=Policy)
    if result.code is None:  # check_source saw these errors already; kept for the type
        raise ValueError("; ".join(result.errors))
    return result.code


@lru_cache(maxsize=2048)
def names_of(source: str, mode: str) -> frozenset[str]:
    """Every name ``source`` can read, write or delete (a superset: attribute names too).
    Restricted code has no ``globals()``/``vars()``, so it reaches data only by these names:
    the rest of a task's data need not go to the worker, nor come back."""
    names: set[str] = set()
    codes = [compile_code(source, mode)]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, CodeType))  # comprehensions
    return frozenset(names)


def run(source: str, mode: str, scope: dict[str, Any]) -> Any:
    """Evaluate (``mode="eval"``) or execute ``source`` in ``scope`` (data, globals added here)."""
    code = compile_code(source, mode)
    scope.update(base_globals())
    if mode == "eval":
        return eval(code, scope)  # noqa: S307 - restricted code, see the module docstring
    exec(code, scope)  # noqa: S102
    return None


# ----------------------------------------------------------------------------- plain lookups

#: The nodes of a *plain* expression: names, item lookups with a constant or a name as key,
#: constants (and tuples/lists/sets of them), comparisons, ``and``/``or``/``not``. No call, no
#: attribute, no arithmetic, no loop: nothing that can run long, allocate, or reach beyond the
#: data it names.
_PLAIN_NODES = (ast.Expression, ast.Name, ast.Load, ast.Subscript, ast.Constant, ast.Compare,
                ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Tuple, ast.List, ast.Set,
                ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
#: Plain expressions longer than this go to the sandbox (a constant's size is the source's).
_PLAIN_MAX = 500


@lru_cache(maxsize=1024)
def plain_expression(source: str) -> CodeType | None:
    """The compiled code of a *plain* expression (see :data:`_PLAIN_NODES`), or None.

    Most expressions in a model are of this kind (``beratung['organization_id']``,
    ``ergebnis == 'vertagt'``): evaluated on plain task data they can do nothing but look
    up and compare, so they run in the calling process — no round trip to a sandbox worker.
    Everything else runs restricted in the sandbox."""
    if len(source) > _PLAIN_MAX:
        return None
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, _PLAIN_NODES):
            return None
        if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in FORBIDDEN_NAMES):
            return None
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant | ast.Name):
            return None
    return compile(tree, FILENAME, "eval")


#: Value types a plain expression may meet in task data: their comparisons and lookups are
#: the built-in ones (no user-defined ``__eq__`` or ``__getitem__`` runs).
PLAIN_DATA = (dict, list, tuple, set, frozenset, str, int, float, bool, type(None), datetime.datetime,
              datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, uuid.UUID)


def run_plain(code: CodeType, data: dict[str, Any]) -> Any:
    """Evaluate a :func:`plain_expression` in ``data`` (no builtins)."""
    return eval(code, {"__builtins__": {}}, data)  # noqa: S307 - plain nodes only, see above
