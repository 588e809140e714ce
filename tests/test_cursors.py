"""One spelling of keyset cursors (engine/cursors.py), used by the catalogue and the inbox."""

from __future__ import annotations

import ast
from datetime import datetime

import pytest

from engine import catalog, cursors, inbox
from engine.errors import Invalid

from .conftest import PROJECT


def test_catalogue_and_inbox_spell_cursors_alike() -> None:
    when = datetime(2026, 12, 1, 9, 30)
    assert catalog.encode_cursor("papers", [when, 7]) == cursors.pack(["papers", when.isoformat(), 7])
    query = inbox.InboxQuery()
    assert inbox._encode_cursor(query, when, 7) == cursors.pack([query.view, query.sort, when.isoformat(), 7])
    assert catalog.decode_cursor("papers", cursors.pack(["papers", when.isoformat(), 7]), [datetime, int]) \
        == (when, 7)


@pytest.mark.parametrize("broken", ["%%%", "A", "W1s", cursors.pack(["other", 1]), "[" * 5000,
                                    cursors.pack([[[[[]]]]]) + "\udcff"])
def test_broken_cursors_are_refused(broken: str) -> None:
    with pytest.raises(Invalid):
        catalog.decode_cursor("papers", broken, [int])
    with pytest.raises(Invalid):
        inbox.InboxQuery(cursor=broken).decode_cursor()


def test_only_the_helper_encodes_cursors() -> None:
    for name in ("catalog.py", "inbox.py", "oparl/server.py"):
        tree = ast.parse((PROJECT / "engine" / name).read_text())
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert "base64" not in modules, name
