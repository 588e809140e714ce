"""The restricted environment for expressions and scripts inside BPMN models.

SpiffWorkflow's default script engine is plain ``eval``/``exec``. Here every expression and
script is compiled with RestrictedPython and runs with guarded attribute, item and iteration
access, a write guard and a short list of builtins. Modules are never exposed, only functions.
Refused code raises ``ValueError`` (SpiffWorkflow's error reporting crashes on a bare
``SyntaxError`` without a line number).
"""

from __future__ import annotations

import ast
import operator
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
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
    try:
        return _INPLACE[op](x, y)
    except KeyError:
        raise ValueError(f"operator {op} is not allowed in model scripts") from None


_BUILTINS: dict[str, Any] = dict(safe_builtins)
for _name in ("setattr", "delattr", "__build_class__"):
    _BUILTINS.pop(_name, None)
_BUILTINS.update({
    "list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple,
    "min": min, "max": max, "sum": sum, "any": any, "all": all, "sorted": sorted,
    "enumerate": enumerate, "reversed": reversed, "zip": zip, "map": map, "filter": filter,
    "len": len, "range": range, "str": str, "int": int, "float": float, "bool": bool,
})

FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "getattr", "input", "breakpoint", "help", "memoryview", "type", "object",
})


def _base_globals() -> dict[str, Any]:
    return {
        "__builtins__": _BUILTINS,
        "_getattr_": safer_getattr,
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
    result = compiler(source)
    problems.extend(result.errors)
    return problems


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> CodeType:
    problems = check_source(source, mode)
    if problems:
        raise ValueError("; ".join(problems))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source)
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
        return eval(code, self._globals(context, external_context))

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = _compile(script, "exec")
        scope = self._globals(context, external_context)
        exec(code, scope)
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
