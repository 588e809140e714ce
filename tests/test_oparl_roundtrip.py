"""Round trip: the Karlsruhe sample imported through the importer (from the local OParl server on
loopback), then this system's own OParl server crawled from ``/oparl/v1.1/system`` and every
object checked against the OParl 1.1 schemas. What comes out must be what went in — every public
paper, meeting and consultation of the sample, matched by the origin URL the importer keeps
(``oparl_origin``). Whatever legitimately differs is named below with its reason; nothing else may.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlmodel import col, select

from engine.council import File
from engine.oparl.fetch import Fetcher
from engine.oparl.importer import Importer, OparlOrigin, Summary
from engine.oparl.sample import KARLSRUHE, OparlStore, SampleServer, load_sample

from .conftest import NOW, PROJECT
from .oparl_crawler import crawl

SAMPLE = PROJECT.parent / "shared" / "oparl" / "karlsruhe-sample"
OURS = "http://localhost/oparl/v1.1/"
#: Our path segment -> the importer's object type in ``oparl_origin``.
ORIGIN_TYPE = {"agendaitem": "agenda_item"}

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/oparl/karlsruhe-sample missing")

# ------------------------------------------------------------------ what legitimately differs

#: Meetings whose ``end`` lies before their ``start`` at the source (Karlsruhe writes midnight of
#: the same day when the end is not known): the importer leaves the end out ("Sitzungsende vor
#: dem Beginn: Ende weggelassen"), so our Meeting has no ``end``.
END_BEFORE_START = "Sitzungsende vor dem Beginn: Ende weggelassen"
#: The source lists two consultations twice under one id in the same paper, with different
#: meetings. One id is one object: the importer keeps the first ("doppelt in der Liste
#: (consultation): einmal übernommen"); the second reading cannot come out again.
DUPLICATE_CONSULTATIONS = {KARLSRUHE + "/bodies/0001/consultations/31684",
                           KARLSRUHE + "/bodies/0001/consultations/32884"}
#: Agendas whose ``order`` has gaps at the source (TOPs it does not serve, presumably its
#: non-public ones): our ``order`` counts the public TOPs of a Sitzung only, so that no gap tells
#: how many non-public ones there are. The sequence is the same; the numbers close up.
ORDER_WITH_GAPS = {KARLSRUHE + "/bodies/0001/meetings/" + n for n in ("9515", "9540", "9606")}
#: A TOP's ``number`` given as "" at the source (headings such as "ANTRÄGE"): left out (OParl
#: allows no empty strings), its place kept by ``order``.
#: Papers the source has deleted (tombstones, listed only with ``modified_since``): never
#: imported, so never served — not even as a tombstone (they were never public here).
#: Files: imported as metadata only (without ``--with-files`` there is no content); the server
#: serves an Anlage only with its content stored (``accessUrl`` must answer), so none comes out.
#: ``authoritative`` left out at the source: the importer reads it as ``false`` and the server
#: says so (OParl 1.1 makes it a boolean; "not said" has no third value here).
#: Persons and memberships are not compared: the sample has none (``load_sample`` invents three
#: persons), and the memberships its organizations name are not served by it (404, reported).
#: Objects the importer could not map: none in this sample (the summary's ``skipped`` is empty).


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ours(ref: str | dict[str, Any]) -> tuple[str, int]:
    """A reference to one of our objects (a URL, or the object embedded) as (object type, row id)."""
    url = ref if isinstance(ref, str) else ref["id"]
    kind, number = url.removeprefix(OURS).split("/")
    return ORIGIN_TYPE.get(kind, kind), int(number)


@pytest.fixture
def imported(database) -> tuple[OparlStore, Summary]:  # type: ignore[no-untyped-def]
    with SampleServer(OparlStore(load_sample(SAMPLE))) as server, \
            Fetcher(rewrite=server.rewrite, sleep=lambda _s: None, timeout=10, allow_private=True) as fetcher:
        summary = Importer(database, fetcher, now=NOW, page_size=50).run(KARLSRUHE + "/system")
    assert summary.complete and summary.skipped == [], summary.lines()
    return server.store, summary


def test_what_went_in_comes_out(imported, app, database) -> None:  # type: ignore[no-untyped-def]
    store, summary = imported
    served, _ = crawl(app.test_client(), pages=False)  # validates every object against the schemas
    with database.unit_of_work(write=False) as s:
        origins = {(o.object_type, o.object_id): o.origin_url
                   for o in s.exec(select(OparlOrigin).where(col(OparlOrigin.object_id).is_not(None)))}
        files_without_content = s.exec(select(File.id).where(col(File.sha_512_checksum).is_(None))).all()

    def origin(ref: str | dict[str, Any]) -> str:
        return origins[_ours(ref)]

    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for url, obj in served.items():
        if obj.get("deleted") or url.removeprefix(OURS).split("/")[0] in {"system", "body", "location"}:
            continue  # ours (the System, one Body, a Location per Sitzung): no origin to compare with
        kind, _number = _ours(url)
        by_kind.setdefault(kind, {})[origin(url)] = obj
    assert not any(o.get("deleted") for o in served.values())  # no tombstones: nothing withdrawn

    # ---- the source: every public object (deleted papers are not public any more)
    papers = [p for p in store.lists["paper"] if not p.get("deleted")]
    deleted = [p["id"] for p in store.lists["paper"] if p.get("deleted")]
    assert len(papers) == 222 and len(deleted) == 5
    consultations: dict[str, dict[str, Any]] = {}
    for p in papers:
        for c in p.get("consultation", []):
            consultations.setdefault(c["id"], c)  # the first reading of a duplicate (see above)
    meetings = store.lists["meeting"]
    items = [i for m in meetings for i in m.get("agendaItem", [])]
    assert all(i.get("public", True) for i in items)  # the sample has no non-public TOP

    # ---- papers: reference, name, paperType, date (and the lead organization)
    assert set(by_kind["paper"]) == {p["id"] for p in papers}
    assert not set(deleted) & set(by_kind["paper"])
    for p in papers:
        ours = by_kind["paper"][p["id"]]
        assert {k: ours.get(k) for k in ("reference", "name", "paperType", "date")} == {
            k: p.get(k) for k in ("reference", "name", "paperType", "date")}, p["id"]
        lead = [origin(u) for u in ours.get("underDirectionOf", [])]
        assert lead == p.get("underDirectionOf", []), p["id"]
        assert {origin(u) for u in ours.get("consultation", [])} == {c["id"] for c in p.get("consultation", [])}

    # ---- meetings: name, start, end (and the organization, the agenda)
    assert set(by_kind["meeting"]) == {m["id"] for m in meetings}
    cut, gaps = [], []
    for m in meetings:
        ours = by_kind["meeting"][m["id"]]
        assert ours["name"] == m["name"] and _instant(ours["start"]) == _instant(m["start"]), m["id"]
        if _instant(m["end"]) < _instant(m["start"]):  # type: ignore[operator]
            cut.append(m["id"])
            assert "end" not in ours, m["id"]
        else:
            assert _instant(ours.get("end")) == _instant(m["end"]), m["id"]
        organizations = [origin(u) for u in ours["organization"]]
        assert organizations == m["organization"], m["id"]
        # the agenda in the source's order, headings without a number where the source put them
        agenda = ours.get("agendaItem", [])
        agenda_rows = [(origin(i), i.get("number"), i["name"]) for i in agenda]
        assert agenda_rows == [(i["id"], i.get("number") or None, i["name"]) for i in m["agendaItem"]], m["id"]
        orders = [i["order"] for i in agenda]
        assert orders == list(range(1, len(agenda) + 1)), m["id"]
        if [i["order"] for i in m["agendaItem"]] != list(range(1, len(agenda) + 1)):
            gaps.append(m["id"])
    assert len(cut) == 25 and END_BEFORE_START in "\n".join(summary.lines())
    assert sorted(gaps) == sorted(ORDER_WITH_GAPS)
    assert set(by_kind["agenda_item"]) == {i["id"] for i in items}

    # ---- consultations: paper ↔ meeting ↔ organization, role, authoritative
    assert set(by_kind["consultation"]) == set(consultations)
    assert len(consultations) == 461 and DUPLICATE_CONSULTATIONS <= set(consultations)
    assert "doppelt in der Liste (consultation): einmal übernommen" in "\n".join(summary.lines())
    for url, c in consultations.items():
        ours = by_kind["consultation"][url]
        assert {
            "paper": origin(ours["paper"]),
            "meeting": origin(ours["meeting"]) if "meeting" in ours else None,
            "organization": [origin(u) for u in ours["organization"]],
            "role": ours.get("role"),
            "authoritative": ours["authoritative"],
            "agendaItem": origin(ours["agendaItem"]) if "agendaItem" in ours else None,
        } == {
            "paper": c["paper"], "meeting": c.get("meeting"), "organization": c["organization"],
            "role": c["role"], "authoritative": c.get("authoritative", False),
            "agendaItem": c.get("agendaItem"),
        }, url
    assert sum(1 for c in consultations.values() if "meeting" not in c) == 10  # come out without one too

    # ---- organizations: every one, by name
    assert {o: v["name"] for o, v in by_kind["organization"].items()} == {
        o["id"]: o["name"] for o in store.lists["organization"]}

    # ---- files: none comes out (metadata only, see above), though every one came in
    source_files = {f["id"] for p in papers for f in p.get("auxiliaryFile", []) + [p.get("mainFile") or {}]
                    if f}
    assert "file" not in by_kind and not any("/file/" in u for u in served)
    assert len(source_files) == len(files_without_content) == 787
    assert source_files == {origins[("file", i)] for i in files_without_content}
