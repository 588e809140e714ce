"""What passes between the engine and its sandbox worker process: data only.

Frames are a 4-byte big-endian length and a JSON document. Values cross as task data
crosses SpiffWorkflow's own serializer when a workflow is saved: JSON, so a tuple arrives
as a list and a dict key as text, exactly as after the next save and restore. What JSON
lacks is tagged: ``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID``,
``bytes``, sets. Anything else (a function, an iterator, a class) is no data and is
refused — so nothing the worker returns can carry code back into the engine, and no pickle
is ever read. Encoding and decoding stay in the json module's C code (a ``default`` and an
``object_hook`` for the tagged kinds only).
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, BinaryIO
from uuid import UUID

#: Largest frame either side accepts (a script's data, the task data it is given).
MAX_FRAME = 64 * 1024 * 1024
_TAG = "__wire__"
_HEADER = struct.Struct(">I")


class NotData(ValueError):
    """A value that cannot leave the process it was made in."""


def _default(value: Any) -> Any:
    """The tagged form of what JSON has no type for (called by ``json.dumps``)."""
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {_TAG: "time", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, UUID):
        return {_TAG: "uuid", "v": str(value)}
    if isinstance(value, bytes | bytearray):
        return {_TAG: "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, set | frozenset):
        return {_TAG: "frozenset" if isinstance(value, frozenset) else "set", "v": list(value)}
    raise NotData(f"kein Datenwert ({type(value).__name__})")


def _hook(value: dict[str, Any]) -> Any:
    """A tagged object back as its value (called by ``json.loads`` for every object)."""
    tag = value.get(_TAG)
    if tag is None:
        return value
    raw: Any = value.get("v")
    try:
        if tag == "datetime":
            return datetime.fromisoformat(raw)
        if tag == "date":
            return date.fromisoformat(raw)
        if tag == "time":
            return time.fromisoformat(raw)
        if tag == "timedelta":
            return timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2])
        if tag == "decimal":
            return Decimal(raw)
        if tag == "uuid":
            return UUID(raw)
        if tag == "bytes":
            return base64.b64decode(raw)
        if tag == "set":
            return set(raw)
        if tag == "frozenset":
            return frozenset(raw)
    except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
        raise NotData(f"unlesbarer Wert ({tag}): {exc}") from None
    raise NotData(f"unbekannter Datentyp {tag!r}")


def frame(message: dict[str, Any]) -> bytes:
    try:
        body = json.dumps(message, default=_default, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    except RecursionError:
        raise NotData("zu tief verschachtelt") from None
    except (TypeError, ValueError) as exc:  # a key that is no text or number; a circular list
        raise NotData(str(exc)) from None
    if len(body) > MAX_FRAME:
        mib = 1024 * 1024
        raise NotData(f"Daten zu groß ({len(body) // mib} MB, erlaubt {MAX_FRAME // mib} MB)")
    return _HEADER.pack(len(body)) + body


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message from a blocking stream; None at its end (used by the worker)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise NotData("Nachricht zu groß")
    body = stream.read(length)
    if len(body) < length:
        return None
    return decode(body)


def header_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    return int(length)


HEADER_SIZE = _HEADER.size


def decode(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body, object_hook=_hook)
    except (RecursionError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotData(f"unlesbar: {type(exc).__name__}") from None
    if not isinstance(message, dict):
        raise NotData("keine Nachricht")
    return message
