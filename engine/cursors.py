"""The one spelling of a keyset cursor: a JSON list, base64url without padding.

What the list holds (which list it belongs to, the key values) is the caller's; ``unpack``
raises ``ValueError`` (also for broken base64, text or JSON) on anything unreadable."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def pack(values: list[Any]) -> str:
    """``values`` (JSON-serialisable) as an opaque cursor for a URL."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def unpack(cursor: str) -> Any:
    """The JSON value a cursor holds; ``ValueError`` when it is not one."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==="))
    except (binascii.Error, UnicodeError, RecursionError) as exc:
        raise ValueError("broken cursor") from exc
