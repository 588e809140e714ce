"""The restricted environment for expressions and scripts inside BPMN models.

SpiffWorkflow's default script engine is plain ``eval``/``exec``. Here every expression and
script is compiled with RestrictedPython and runs with guarded attribute, item and iteration
access, a write guard and a short list of builtins. Modules are never exposed, only functions.
Refused code raises ``ValueError`` (SpiffWorkflow's error reporting crashes on a bare
``SyntaxError`` without a line number).

Code also runs bounded (:class:`ScriptLimit`): a time limit per expression or script
(``sys.settrace`` on the model's own frames: ``while True: pass`` stops), and a limit on what
one operation may build: ``**`` and ``<<`` on integers, ``*`` on strings and sequences,
``range`` and the padding string methods are checked before they allocate
(``10**10**8`` and ``'a'*10**10`` are refused at once, not after minutes and gigabytes).
"""

from __future__ import annotations

import ast
import math
import operator
import sys
import time
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
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op in ("**=", "<<=", "*="):
        return _binop(op[:-1], x, y)
    try:
        return _INPLACE[op](x, y)
    except KeyError:
        raise ValueError(f"operator {op} is not allowed in model scripts") from None


#: Seconds one expression or script may run.
TIME_LIMIT = 2.0
#: Elements of a string or sequence one operation may build.
MAX_ITEMS = 1_000_000
#: Bits of an integer one operation may build (about 300,000 decimal digits).
MAX_INT_BITS = 1_000_000
_FILENAME = "<bpmn>"


class ScriptLimit(ValueError):
    """A model's code ran past a limit (time or size)."""


def _check_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise ScriptLimit(f"Ergebnis zu groß: {count:,} Elemente (erlaubt: {MAX_ITEMS:,})".replace(",", "."))


def _bits(value: int) -> int:
    return max(abs(value).bit_length(), 1)


def _binop(op: str, left: Any, right: Any) -> Any:
    """``**``, ``<<`` and ``*`` with their result's size checked before it is built."""
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 and \
                right * math.log2(abs(left)) > MAX_INT_BITS:
            raise ScriptLimit(f"Ergebnis zu groß: Potenz mit mehr als {MAX_INT_BITS:,} Bit".replace(",", "."))
        return left ** right
    if op == "<<":
        if isinstance(left, int) and isinstance(right, int) and _bits(left) + right > MAX_INT_BITS:
            raise ScriptLimit(f"Ergebnis zu groß: Verschiebung über {MAX_INT_BITS:,} Bit".replace(",", "."))
        return left << right
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int):
            _check_items(len(seq) * n)
    return left * right


_OPS = {ast.Pow: "**", ast.LShift: "<<", ast.Mult: "*"}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, and then ``a ** b`` → ``_binop_('**', a, b)`` (also ``<<``
    and ``*``; their augmented forms go through ``_inplacevar_``)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        checked = self.node_contents_visit(node)
        op = _OPS.get(type(checked.op))
        if op is None:
            return checked
        call = ast.Call(ast.Name("_binop_", ast.Load()), [ast.Constant(op), checked.left, checked.right], [])
        return ast.fix_missing_locations(ast.copy_location(call, checked))


def _range(*args: int) -> range:
    bounded = range(*args)
    _check_items(len(bounded))
    return bounded


_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    if name in _PADDING and isinstance(obj, str | bytes):
        def padded(width: int, *args: Any) -> Any:
            _check_items(width if name != "expandtabs" else len(obj) * max(width, 1))
            return getattr(obj, name)(width, *args)
        return padded
    return safer_getattr(obj, name, *default)


class _Deadline:
    """Stops the model's own frames once the time limit has passed."""

    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.seconds = seconds

    def __call__(self, frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != _FILENAME:
            return None  # only the model's code is traced, not the engine's
        if time.monotonic() > self.until:
            raise ScriptLimit(f"Zeitlimit überschritten: läuft länger als {self.seconds:g} s")
        return self


def _bounded(run: Any) -> Any:
    deadline = _Deadline(TIME_LIMIT)
    previous = sys.gettrace()
    sys.settrace(deadline)
    try:
        return run()
    finally:
        sys.settrace(previous)


_BUILTINS: dict[str, Any] = dict(safe_builtins)
for _name in ("setattr", "delattr", "__build_class__"):
    _BUILTINS.pop(_name, None)
_BUILTINS.update({
    "list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple,
    "min": min, "max": max, "sum": sum, "any": any, "all": all, "sorted": sorted,
    "enumerate": enumerate, "reversed": reversed, "zip": zip, "map": map, "filter": filter,
    "len": len, "range": _range, "str": str, "int": int, "float": float, "bool": bool,
})

FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "getattr", "input", "breakpoint", "help", "memoryview", "type", "object",
})


def _base_globals() -> dict[str, Any]:
    return {
        "__builtins__": _BUILTINS,
        "_getattr_": _getattr,
        "_binop_": _binop,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
    }


def check_source(source: str, mode: str) -> list[str]:
    """Why ``source`` may not run in a model; an empty list when it may."""
    problems: list[str] = []
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        return [f"Syntaxfehler in Zeile {exc.lineno}: {exc.msg}"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            problems.append(f"Zeile {node.lineno}: import ist in Modellen nicht erlaubt")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"Zeile {node.lineno}: {node.id} ist in Modellen nicht erlaubt")
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=_FILENAME, policy=_Policy)
    problems.extend(result.errors)
    return problems


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> CodeType:
    problems = check_source(source, mode)
    if problems:
        raise ValueError("; ".join(problems))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=_FILENAME, policy=_Policy)
    if result.code is None:  # check_source saw these errors already; kept for the type
        raise ValueError("; ".join(result.errors))
    return result.code


class RestrictedEnvironment(TaskDataEnvironment):
    """A ``TaskDataEnvironment`` whose code is compiled by RestrictedPython."""

    def __init__(self, functions: dict[str, Any] | None = None) -> None:
        super().__init__(dict(functions or {}))

    def _globals(self, context: dict[str, Any], external: dict[str, Any] | None) -> dict[str, Any]:
        scope = _base_globals()
        scope.update(self.globals)
        scope.update(external or {})
        scope.update(context)
        return scope

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        code = _compile(expression, "eval")
        scope = self._globals(context, external_context)
        return _bounded(lambda: eval(code, scope))

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = _compile(script, "exec")
        scope = self._globals(context, external_context)
        _bounded(lambda: exec(code, scope))
        hidden = set(_base_globals()) | set(self.globals) | set(external_context or {})
        result = {
            key: value for key, value in scope.items()
            if key not in hidden and not key.startswith("_") and not callable(value)
        }
        context.clear()
        context.update(result)
        return True


def restricted_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())
