"""OParl deletions end to end (issue 20): a source marks an object ``deleted: true`` (OParl 1.1
§2.8); the importer removes the local copy from our pages, the search and our OParl lists, and
our OParl server serves a tombstone for it (id, type, created, modified, deleted). The same
deletion again writes nothing; an object the source un-deletes comes back under its old id, its
tombstone gone. A Sitzung gets its tombstone like a Vorlage; a cancelled one is not removed.

The source is the Karlsruhe sample served on loopback (``engine.oparl.sample``), its objects in
the real shapes; a deletion there is what ``OparlStore.delete`` makes of it (the spec's shape:
id, type, created, modified, deleted). On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from engine import search
from engine.council import AgendaItem, Consultation, Meeting, OparlTombstone, Paper
from engine.db import count_statements
from engine.oparl.importer import OparlOrigin
from engine.oparl.sample import OparlStore, SampleServer, load_sample, stamp
from engine.process import sessions
from engine.settings import TIMEZONE

from .conftest import NOW
from .oparl_schema import errors_of
from .test_oparl_import import PAPER, SAMPLE, run, writes

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/oparl/karlsruhe-sample missing")

API = "/oparl/v1.1"
SINCE = "2026-01-01T00:00:00%2B01:00"  # before the import's clock (NOW), after the sample's dates


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with SampleServer(OparlStore(load_sample(SAMPLE))) as running:
        yield running


def _local(database, url: str) -> tuple[int | None, int | None]:  # type: ignore[no-untyped-def]
    """The local id of an imported object, and the id it had before its source deleted it."""
    with database.unit_of_work(write=False) as s:
        origin = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == url)).one()
        return origin.object_id, origin.deleted_id


def _undelete(server, url: str, original: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """The source takes its deletion back: the object as it was, modified now."""
    with server.store.lock:
        obj = server.store.by_id[url]
        obj.clear()
        obj.update(copy.deepcopy(original), modified=stamp())


def _listed(client, kind: str, since: bool = True) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Our Body's list of a kind (every page), by id; with ``modified_since``: tombstones too."""
    body = client.get(f"{API}/body").get_json()["data"][0]["id"].removeprefix("http://localhost")
    url: str | None = f"{body}/{kind}?limit=100" + (f"&modified_since={SINCE}" if since else "")
    found: dict[str, dict[str, Any]] = {}
    while url:
        page = client.get(url.removeprefix("http://localhost")).get_json()
        found.update({o["id"]: o for o in page["data"]})
        url = page["links"].get("next")
    return found


def _found(database, words: str) -> set[int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return {hit.paper_id for hit in search.search(s, words, search.Filters()).hits}


def test_a_paper_deleted_at_the_source_leaves_pages_search_and_lists_with_a_tombstone(  # type: ignore[no-untyped-def]
        database, server, app) -> None:
    run(database, server)
    search.rebuild(database)
    paper_id, _ = _local(database, PAPER)
    assert paper_id is not None
    client = app.test_client()
    before = client.get(f"{API}/paper/{paper_id}").get_json()
    name = before["name"]
    consultations = [c["id"] for c in before["consultation"]]
    assert consultations and client.get(f"/vorlagen/{paper_id}").status_code == 200
    assert paper_id in _found(database, name)
    original = copy.deepcopy(server.store.by_id[PAPER])

    server.store.delete(PAPER)
    deletion = server.store.by_id[PAPER]
    assert deletion["deleted"] is True and set(deletion) <= {"id", "type", "created", "modified", "deleted", "body"}
    summary = run(database, server)
    assert summary.counts["paper"]["gelöscht"] == 1, summary.lines()
    assert _local(database, PAPER) == (None, paper_id)
    # Gone from the pages and the search …
    assert client.get(f"/vorlagen/{paper_id}").status_code == 404
    assert paper_id not in _found(database, name)
    # … and our OParl server serves its tombstone (§2.8), at its URL and in the list asked with
    # modified_since; the list without it does not show it.
    stone = {"id": before["id"], "type": "https://schema.oparl.org/1.1/Paper", "created": before["created"],
             "modified": NOW.astimezone(TIMEZONE).isoformat(), "deleted": True}
    assert client.get(f"{API}/paper/{paper_id}").get_json() == stone
    assert errors_of(stone) == []
    assert _listed(client, "paper")[stone["id"]] == stone
    assert stone["id"] not in _listed(client, "paper", since=False)
    gone = _listed(client, "consultation")
    assert all(gone[c].get("deleted") is True for c in consultations)

    # The same deletion again: nothing written.
    with count_statements(database.engine) as statements:
        run(database, server)
    assert writes(statements) == []

    # Un-deleted at the source: back under its id, no tombstone left, searchable again.
    _undelete(server, PAPER, original)
    summary = run(database, server)
    assert summary.counts["paper"]["wiederhergestellt"] == 1, summary.lines()
    assert _local(database, PAPER) == (paper_id, None)
    again = client.get(f"{API}/paper/{paper_id}").get_json()
    assert "deleted" not in again and again["name"] == name
    assert sorted(c["id"] for c in again["consultation"]) == sorted(consultations)
    with database.unit_of_work(write=False) as s:
        left = s.exec(select(OparlTombstone).where(OparlTombstone.object_type == "paper")).all()
    assert left == []
    assert client.get(f"/vorlagen/{paper_id}").status_code == 200
    assert paper_id in _found(database, name)


def _meeting_with_agenda(server) -> str:  # type: ignore[no-untyped-def]
    """A Sitzung of the sample whose TOPs are linked from a Beratung of a Vorlage."""
    for meeting in server.store.lists["meeting"]:
        if any(item.get("consultation") for item in meeting.get("agendaItem", [])):
            return str(meeting["id"])
    raise AssertionError("the sample has no Sitzung with a Beratung on its agenda")


def test_a_meeting_deleted_at_the_source_gets_a_tombstone_and_comes_back(database, server, app) -> None:  # type: ignore[no-untyped-def]
    run(database, server)
    url = _meeting_with_agenda(server)
    meeting_id, _ = _local(database, url)
    assert meeting_id is not None
    client = app.test_client()
    before = client.get(f"{API}/meeting/{meeting_id}").get_json()
    items = [i["id"] for i in before["agendaItem"]]
    with database.unit_of_work(write=False) as s:
        linked = [c.id for c in s.exec(select(Consultation).where(Consultation.meeting_id == meeting_id))]
        papers_before = {p.id: p.modified for p in s.exec(select(Paper).join(
            Consultation, Consultation.paper_id == Paper.id).where(Consultation.meeting_id == meeting_id))}
    assert items and linked and papers_before
    assert client.get(f"/sitzungen/{meeting_id}").status_code == 200
    original = copy.deepcopy(server.store.by_id[url])

    server.store.delete(url)
    summary = run(database, server)
    assert summary.counts["meeting"]["gelöscht"] == 1, summary.lines()
    assert client.get(f"/sitzungen/{meeting_id}").status_code == 404
    stone = client.get(f"{API}/meeting/{meeting_id}").get_json()
    assert stone == {"id": before["id"], "type": "https://schema.oparl.org/1.1/Meeting",
                     "created": before["created"], "modified": stone["modified"], "deleted": True}
    assert errors_of(stone) == []
    listed = _listed(client, "meeting")
    assert listed[before["id"]] == stone and before["id"] not in _listed(client, "meeting", since=False)
    tops = _listed(client, "agendaItem")
    assert all(tops[i].get("deleted") is True for i in items)
    # The Beratungen that named it lost their Sitzung: they and their Vorlagen are modified, so a
    # mirror reading them with modified_since drops the link too.
    with database.unit_of_work(write=False) as s:
        after = {c.id: c for c in s.exec(select(Consultation).where(Consultation.id.in_(linked)))}  # type: ignore[union-attr]
        papers_after = {p.id: p.modified for p in s.exec(select(Paper).where(Paper.id.in_(papers_before)))}  # type: ignore[union-attr]
    assert all(c.meeting_id is None and c.modified == NOW for c in after.values())
    assert all(papers_after[p] == NOW for p in papers_before)

    with count_statements(database.engine) as statements:
        run(database, server)  # the tombstone again: already applied
    assert writes(statements) == []

    _undelete(server, url, original)
    summary = run(database, server)
    assert summary.counts["meeting"]["wiederhergestellt"] == 1, summary.lines()
    assert _local(database, url) == (meeting_id, None)
    again = client.get(f"{API}/meeting/{meeting_id}").get_json()
    assert "deleted" not in again and sorted(i["id"] for i in again["agendaItem"]) == sorted(items)
    assert client.get(f"/sitzungen/{meeting_id}").status_code == 200
    with database.unit_of_work(write=False) as s:
        left = s.exec(select(OparlTombstone).where(
            col(OparlTombstone.object_type).in_(["meeting", "location", "agendaitem"]))).all()
    assert left == []


def test_a_cancelled_meeting_stays_listed_as_cancelled_without_a_tombstone(demo, database, actor, app) -> None:  # type: ignore[no-untyped-def]
    """Cancellation is not removal: the Sitzung stays, ``cancelled: true``. No page or API deletes
    a Sitzung; only the import removes one its source deleted (above)."""
    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
    with database.unit_of_work() as s:
        sessions.cancel(s, actor("hoffmann"), later.id, {"reason": "Keine beratungsreifen Vorlagen"}, now=NOW)
    client = app.test_client()
    served = client.get(f"{API}/meeting/{later.id}").get_json()
    assert served["cancelled"] is True and "deleted" not in served
    since = (NOW - timedelta(days=1)).isoformat().replace("+", "%2B")
    body = client.get(f"{API}/body").get_json()["data"][0]["id"].removeprefix("http://localhost")
    listed = client.get(f"{body}/meeting?modified_since={since}").get_json()["data"]
    mine = [o for o in listed if o["id"] == served["id"]]
    flags = [o.get("cancelled") for o in mine]
    assert flags == [True] and all("deleted" not in o for o in mine)
    with database.unit_of_work(write=False) as s:
        stones = s.exec(select(OparlTombstone).where(OparlTombstone.object_type == "meeting")).all()
        items = s.exec(select(AgendaItem).where(AgendaItem.meeting_id == later.id)).all()
    assert stones == [] and items is not None


def test_a_paper_missing_from_a_list_is_not_deleted(database, server) -> None:  # type: ignore[no-untyped-def]
    """Paging of real sources is unreliable: a Vorlage that a full listing leaves out stays."""
    server.ignore_filters = True
    run(database, server)
    paper_id, _ = _local(database, PAPER)
    with server.store.lock:
        server.store.lists["paper"].remove(server.store.by_id[PAPER])
    summary = run(database, server)
    assert "fehlen in der vollständigen Auflistung: behalten" in "\n".join(summary.lines())
    assert _local(database, PAPER) == (paper_id, None)
    with database.unit_of_work(write=False) as s:
        assert s.get(Paper, paper_id) is not None
        stones = s.exec(select(OparlTombstone)).all()
    assert stones == []


def test_an_id_in_use_again_lists_the_object_not_the_old_tombstone(demo, database, app) -> None:  # type: ignore[no-untyped-def]
    """SQLite gives the highest id out again once its row is deleted (the import's batches take
    max(id) + 1 too): a tombstone left for that id must not stand next to the new object."""
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        s.add(OparlTombstone(object_type="meeting", object_id=meeting.id, created=NOW - timedelta(days=400),
                             deleted_at=NOW - timedelta(days=1)))
        meeting_id = meeting.id
    client = app.test_client()
    since = (NOW - timedelta(days=30)).isoformat().replace("+", "%2B")
    body = client.get(f"{API}/body").get_json()["data"][0]["id"].removeprefix("http://localhost")
    listed = client.get(f"{body}/meeting?modified_since={since}&limit=100").get_json()["data"]
    same = [o for o in listed if o["id"].endswith(f"/meeting/{meeting_id}")]
    assert len(same) == 1 and "deleted" not in same[0]
    assert "deleted" not in client.get(f"{API}/meeting/{meeting_id}").get_json()
