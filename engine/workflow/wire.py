"""What passes between the engine and its sandbox worker process: data only.

Frames are a 4-byte big-endian length and a JSON document. Values are task data (what
SpiffWorkflow's serializer also stores): ``None``, ``bool``, ``int``, ``float``, ``str``,
lists, and as tagged objects tuples, sets, dicts with keys other than text, ``datetime``,
``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID`` and ``bytes``. Anything else (a
function, an iterator, a class) is no data and is refused — so nothing the worker returns
can carry code back into the engine, and no pickle is ever read.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, BinaryIO
from uuid import UUID

#: Nesting a value may have (task data is shallow; a deep one is a hostile script).
MAX_DEPTH = 100
#: Largest frame either side accepts (a script's data, the task data it is given).
MAX_FRAME = 64 * 1024 * 1024
_TAG = "$t"
_HEADER = struct.Struct(">I")


class NotData(ValueError):
    """A value that cannot leave the process it was made in."""


def pack(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data (tagged where JSON has no such type)."""
    if depth > MAX_DEPTH:
        raise NotData(f"zu tief verschachtelt (mehr als {MAX_DEPTH} Ebenen)")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [pack(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if _TAG not in value and all(type(k) is str for k in value):
            return {k: pack(v, depth + 1) for k, v in value.items()}
        return {_TAG: "dict", "v": [[pack(k, depth + 1), pack(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, tuple | set | frozenset):
        tag = "set" if isinstance(value, set) else "frozenset" if isinstance(value, frozenset) else "tuple"
        return {_TAG: tag, "v": [pack(v, depth + 1) for v in value]}
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
    raise NotData(f"kein Datenwert ({type(value).__name__})")


def _tagged(tag: str, raw: Any, depth: int) -> Any:
    if tag == "dict":
        return {unpack(k, depth + 1): unpack(v, depth + 1) for k, v in raw}
    if tag in ("tuple", "set", "frozenset"):
        items = [unpack(v, depth + 1) for v in raw]
        return tuple(items) if tag == "tuple" else set(items) if tag == "set" else frozenset(items)
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
    raise NotData(f"unbekannter Datentyp {tag!r}")


def unpack(value: Any, depth: int = 0) -> Any:
    """The value :func:`pack` made JSON-ready (and nothing else: unknown tags are refused)."""
    if depth > MAX_DEPTH:
        raise NotData(f"zu tief verschachtelt (mehr als {MAX_DEPTH} Ebenen)")
    if isinstance(value, list):
        return [unpack(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if _TAG in value:
            return _tagged(str(value[_TAG]), value.get("v"), depth)
        return {k: unpack(v, depth + 1) for k, v in value.items()}
    return value


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
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
    message = json.loads(body)
    if not isinstance(message, dict):
        raise NotData("keine Nachricht")
    return message
