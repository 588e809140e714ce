"""The OParl 1.1 JSON schemas of ../shared/oparl/spec-1.1 as a jsonschema validator.

The spec's files name embedded objects with their own keyword (``"schema": "File.json"`` next to
``"type": "object"``); here those become ``$ref``s between the files, resolved locally (no
network). Formats are checked: ``date-time`` must carry an offset, ``date`` is a calendar date,
``url`` an absolute http(s) URL.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(os.environ.get("OPARL_SPEC", Path(__file__).resolve().parents[2] / "shared" / "oparl" / "spec-1.1"))
if not SPEC.is_dir():
    SPEC = Path("/work/shared/oparl/spec-1.1")
BASE = "https://schema.oparl.org/1.1/"


def _refs(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _refs(v) for k, v in node.items()}
        if node.get("type") == "object" and isinstance(node.get("schema"), str):
            node["$ref"] = node.pop("schema")
        return node
    if isinstance(node, list):
        return [_refs(v) for v in node]
    return node


def _checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("date", raises=ValueError)
    def _date(value: object) -> bool:
        return not isinstance(value, str) or bool(date.fromisoformat(value))

    @checker.checks("url")
    def _url(value: object) -> bool:
        return not isinstance(value, str) or value.startswith(("http://", "https://"))

    return checker


@cache
def validators() -> dict[str, Draft202012Validator]:
    """One validator per OParl type name ("Paper", "File" …)."""
    schemas = {}
    for path in sorted((SPEC / "schema").glob("*.json")):
        schema = _refs(json.loads(path.read_text(encoding="utf-8")))
        schema["$id"] = BASE + path.name
        schemas[path.stem] = schema
    registry: Registry[Any] = Registry().with_resources(
        (BASE + name + ".json", Resource.from_contents(copy.deepcopy(s), default_specification=DRAFT202012))
        for name, s in schemas.items())
    checker = _checker()
    return {name: Draft202012Validator(s, registry=registry, format_checker=checker)
            for name, s in schemas.items()}


def errors_of(obj: dict[str, Any]) -> list[str]:
    """What the schema of the object's ``type`` finds wrong with it (empty: valid)."""
    kind = str(obj.get("type", "")).removeprefix(BASE)
    validator = validators().get(kind)
    if validator is None:
        return [f"unknown type {obj.get('type')!r}"]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
