"""The OParl importer writes a page in bulk: new, changed, unchanged and deleted objects across
pages, the rows pointing to the right parents, a re-import with nothing changed writing
nothing, and a statement budget per page that does not grow with the page (a change that goes
back to a statement per object fails here). On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import gc
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from engine.council import AgendaItem, Consultation, File, Paper
from engine.db import count_statements
from engine.oparl.fetch import Fetcher
from engine.oparl.importer import YOUNG_THRESHOLD, Importer, OparlOrigin, OparlSource, Summary, bulk_insert
from engine.oparl.sample import KARLSRUHE, OparlStore, SampleServer, load_sample
from engine.types import table_of

from .conftest import NOW, PROJECT

SAMPLE = PROJECT.parent / "shared" / "oparl" / "karlsruhe-sample"
SYSTEM = KARLSRUHE + "/system"
BODY = KARLSRUHE + "/bodies/0001"
PAPER = BODY + "/papers/vo/48491"  # 2023/0425, two Beratungen, two Anlagen
OTHER = BODY + "/papers/vo/49898"

#: Statements one page may take, whatever its size: reads of what is known (origins,
#: Aktenzeichen, Sitzungen), one draw of ids for all new tables, per new table one INSERT,
#: origins, links, the resume mark, begin/commit (at most 14 on SQLite; on PostgreSQL about 10,
#: the INSERTs, links and resume mark sent in one pipeline). A statement per object: hundreds.
PAGE_BUDGET = 16
#: A page of objects stored unchanged: its lookups (and for one messy object, its unit of work).
UNCHANGED_PAGE_BUDGET = 8

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/oparl/karlsruhe-sample missing")


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with SampleServer(OparlStore(load_sample(SAMPLE))) as running:
        running.ignore_filters = True  # everything again each run: compared, not skipped by the server
        yield running


def run(database, server, on_page=None) -> Summary:  # type: ignore[no-untyped-def]
    with Fetcher(rewrite=server.rewrite, sleep=lambda _s: None, allow_private=True) as fetcher:
        return Importer(database, fetcher, now=NOW, page_size=50, on_page=on_page).run(SYSTEM)


def writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}
            and "oparl_source" not in s]


def new_paper(template: dict[str, Any], n: int, first: bool) -> dict[str, Any]:
    """A Vorlage made from ``template`` with its own ids (sorted first or last in the list)."""
    paper = copy.deepcopy(template)
    tag = f"{'0' if first else 'z'}neu{n}"
    paper["id"] = f"{BODY}/papers/vo/{tag}"
    paper["reference"] = f"2099/{tag}"
    for c in paper.get("consultation") or []:
        c["id"] = f"{BODY}/consultations/{tag}-{c['id'].rsplit('/', 1)[-1]}"
        c["paper"] = paper["id"]
        c.pop("agendaItem", None)
    for f in [paper.get("mainFile"), *(paper.get("auxiliaryFile") or [])]:
        if isinstance(f, dict):
            f["id"] = f"{BODY}/files/{tag}-{f['id'].rsplit('/', 1)[-1]}"
    return paper


def test_new_changed_unchanged_and_deleted_objects_across_pages(database, server) -> None:  # type: ignore[no-untyped-def]
    first = run(database, server)
    assert first.complete, first.lines()
    store = server.store
    template = store.by_id[PAPER]
    added = [new_paper(template, n, first=n % 2 == 0) for n in range(4)]  # on the first and the last page
    for paper in added:
        store.add("paper", paper)
    store.change(PAPER, name="Konzeptbeschluss (geändert)")
    third = next(p for p in store.lists["paper"] if len(p.get("consultation") or []) >= 2
                 and p["id"] not in (PAPER, OTHER) and not p.get("deleted") and p["id"] not in
                 {a["id"] for a in added})
    moved = third["consultation"][1]["id"]
    store.change(moved, role="Kenntnisnahme")  # an embedded object alone
    meeting = next(m for m in store.lists["meeting"] if len(m.get("agendaItem") or []) >= 2)
    item = meeting["agendaItem"][1]["id"]
    store.change(item, name="TOP umbenannt")
    store.delete(OTHER)  # this server ignores modified_since and so never lists the deletion

    second = run(database, server)
    assert second.complete, second.lines()
    papers = second.counts["paper"]
    assert papers["neu"] == 4 and papers["geändert"] == 1 and "gelöscht" not in papers
    # Missing from the full listing is not deleted (only deleted: true is): kept, and named.
    assert "1 Objekte der Liste paper fehlen" in "\n".join(second.lines())
    assert papers["unverändert"] == first.counts["paper"]["neu"] - 2
    assert second.counts["consultation"]["geändert"] == 1
    assert second.counts["agenda_item"]["geändert"] == 1
    with database.unit_of_work(write=False) as s:
        assert s.exec(select(Paper).where(Paper.name == "Konzeptbeschluss (geändert)")).one()
        for paper in added:  # the rows of the batch point to their own Vorlage, in the source's order
            row = s.exec(select(Paper).where(Paper.reference == paper["reference"])).one()
            folge = s.exec(select(Consultation.position, Consultation.role)
                           .where(Consultation.paper_id == row.id).order_by(col(Consultation.position))).all()
            expected = [(i, c["role"]) for i, c in enumerate(paper["consultation"], start=1)]
            assert folge == expected
            files = s.exec(select(File.name).where(File.paper_id == row.id).order_by(col(File.position))).all()
            named = [f["name"] for f in [paper.get("mainFile"), *(paper.get("auxiliaryFile") or [])]
                     if isinstance(f, dict)]
            assert files == named
            origin = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == paper["id"])).one()
            assert origin.object_type == "paper" and origin.object_id == row.id
        consultation = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == moved)).one()
        assert consultation.object_id is not None
        changed = s.get(Consultation, consultation.object_id)
        assert changed is not None and changed.role == "Kenntnisnahme"
        top = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == item)).one()
        renamed = s.get(AgendaItem, top.object_id)
        assert renamed is not None and renamed.name == "TOP umbenannt"
        kept = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == OTHER)).one()
        assert kept.object_id is not None and s.get(Paper, kept.object_id) is not None

    with count_statements(database.engine) as statements:
        third_run = run(database, server)
    assert third_run.complete and writes(statements) == []
    changed_kinds = {kind for kind, c in third_run.counts.items() if set(c) - {"unverändert"}}
    assert changed_kinds == set()


def test_statements_per_page_stay_within_the_budget(database, server) -> None:  # type: ignore[no-untyped-def]
    def page_costs(statements: list[str]) -> tuple[list[tuple[str, int]], Any]:
        costs: list[tuple[str, int]] = []
        mark = [0]

        def on_page(where: str) -> None:
            costs.append((where, len(statements) - mark[0]))
            mark[0] = len(statements)
        return costs, on_page

    with count_statements(database.engine) as statements:
        costs, on_page = page_costs(statements)
        first = run(database, server, on_page=on_page)
    assert first.complete, first.lines()
    # the pages of Vorlagen (50 with their Beratungen and Anlagen) and of Sitzungen (with their TOPs)
    pages = [(where, n) for where, n in costs if "/papers" in where or "/meetings" in where]
    assert len(pages) >= 6
    over = [(where, n) for where, n in pages if n > PAGE_BUDGET]
    assert over == [], f"more than {PAGE_BUDGET} statements on a page: {over}"

    with count_statements(database.engine) as statements:
        costs, on_page = page_costs(statements)
        again = run(database, server, on_page=on_page)
    assert again.complete and writes(statements) == []
    over = [(where, n) for where, n in costs[1:] if n > UNCHANGED_PAGE_BUDGET]  # the first: the run's start
    assert over == [], f"more than {UNCHANGED_PAGE_BUDGET} statements on an unchanged page: {over}"


def test_bulk_insert_stores_moments_as_the_orm_does(database) -> None:  # type: ignore[no-untyped-def]
    """``bulk_insert`` processes a UTCDateTime itself on SQLite (one step instead of two
    processors): the text stored is the ORM's, to the microsecond, whatever the zone."""
    moments = [datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2))),
               datetime(2024, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
               datetime(999, 1, 1, tzinfo=UTC)]
    with database.unit_of_work() as s:
        source = OparlSource(url="https://ris.example.org/oparl/system")
        s.add(source)
        s.flush()
        for n, moment in enumerate(moments):
            s.add(OparlOrigin(source_id=source.id, object_type="paper", origin_url=f"orm-{n}", original="{}",
                              modified=moment))
        s.flush()
        bulk_insert(s, table_of(OparlOrigin), [
            {"source_id": source.id, "object_type": "paper", "object_id": None, "origin_url": f"bulk-{n}",
             "original": "{}", "modified": moment} for n, moment in enumerate(moments)])
    with database.unit_of_work(write=False) as s:
        rows = s.connection().execute(text("SELECT origin_url, CAST(modified AS TEXT) FROM oparl_origin"))
        stored = {url: moment for url, moment in rows}
    differing = [n for n in range(len(moments)) if stored[f"orm-{n}"] != stored[f"bulk-{n}"]]
    assert differing == []
    with database.unit_of_work(write=False) as s:
        read = {o.origin_url: o.modified for o in s.exec(select(OparlOrigin))}
    assert all(read[f"bulk-{n}"] == moment for n, moment in enumerate(moments))


@pytest.mark.sqlite_only
def test_a_run_collects_garbage_less_often_and_sets_the_threshold_back(database, server) -> None:  # type: ignore[no-untyped-def]
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    summary = run(database, server, on_page=lambda _where: during.append(gc.get_threshold()))
    assert summary.complete
    assert during and all(seen[0] == max(before[0], YOUNG_THRESHOLD) for seen in during)
    assert gc.get_threshold() == before

    def interrupted(_where: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(database, server, on_page=interrupted)
    assert gc.get_threshold() == before


#: A row the database refuses inside a page's batch (a trigger stands in for any constraint
#: the importer cannot see beforehand).
REFUSE = {
    "sqlite": ["CREATE TRIGGER refuse_paper BEFORE INSERT ON paper WHEN NEW.reference = '2023/0425' "
               "BEGIN SELECT RAISE(ABORT, 'abgelehnt'); END"],
    "postgresql": ["CREATE FUNCTION refuse_paper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF NEW.reference = '2023/0425' THEN "
                   "RAISE EXCEPTION 'abgelehnt' USING ERRCODE = 'check_violation'; END IF; "
                   "RETURN NEW; END $$",
                   "CREATE TRIGGER refuse_paper BEFORE INSERT ON paper FOR EACH ROW EXECUTE FUNCTION refuse_paper()"],
}
ALLOW = {"sqlite": ["DROP TRIGGER refuse_paper"],
         "postgresql": ["DROP TRIGGER refuse_paper ON paper", "DROP FUNCTION refuse_paper()"]}


def test_a_row_the_database_refuses_leaves_its_page_to_be_done_object_by_object(database, server) -> None:  # type: ignore[no-untyped-def]
    """A page's new rows go to the database together (on PostgreSQL in one pipeline, whose
    error comes only at its end). When the database refuses one of them, the page is done again
    object by object: the refused Vorlage is reported in German and fetched again by the next
    run, the others of its page are stored, with their Beratungen; nothing else is lost."""
    kind = database.engine.dialect.name
    with database.unit_of_work() as s:
        for statement in REFUSE[kind]:
            s.connection().exec_driver_sql(statement)
    try:
        first = run(database, server)
    finally:
        with database.unit_of_work() as s:
            for statement in ALLOW[kind]:
                s.connection().exec_driver_sql(statement)
    assert not first.complete
    refused = [reason for reason in first.problems if reason.startswith("Datenbank lehnt ab (")]
    assert refused == [f"Datenbank lehnt ab ({'IntegrityError' if kind == 'sqlite' else 'CheckViolation'})"]
    assert first.skipped == [PAPER]
    papers = [p for p in server.store.lists["paper"] if not p.get("deleted")]
    with database.unit_of_work(write=False) as s:
        stored = set(s.exec(select(Paper.reference)).all())
        origins = set(s.exec(select(OparlOrigin.origin_url)).all())
    missing = sorted(p["reference"] for p in papers if p["reference"] not in stored)
    assert missing == ["2023/0425"]
    lost = [c["id"] for p in papers if p["id"] != PAPER for c in p.get("consultation") or []
            if isinstance(c, dict) and c["id"] not in origins]
    assert lost == []

    second = run(database, server)
    assert second.complete, second.lines()
    assert second.counts["paper"]["neu"] == 1
    with database.unit_of_work(write=False) as s:
        row = s.exec(select(Paper).where(Paper.reference == "2023/0425")).one()
        folge = s.exec(select(Consultation.position).where(Consultation.paper_id == row.id)
                       .order_by(col(Consultation.position))).all()
    expected = list(range(1, len(server.store.by_id[PAPER]["consultation"]) + 1))
    assert folge == expected
