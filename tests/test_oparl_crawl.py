"""A client's walk over the whole OParl server, from ``system``: every URL in every object and
every ``next`` link is followed; every object is valid against the OParl 1.1 schemas; nothing
points nowhere; no non-public object (nor a private field) shows up anywhere."""

from __future__ import annotations

import re

import pytest
from sqlmodel import col, select

from engine.council import AgendaItem, Consultation, File, Meeting, Membership, Paper, Person
from engine.demo import load_demo
from engine.files import FileStore
from engine.oparl import server as oparl_out
from engine.visibility import is_published, published_clause
from web.oparl import BODY_LISTS

from .conftest import NOW, PASSWORD
from .oparl_crawler import ROOT, crawl


@pytest.fixture
def week(database, settings):  # type: ignore[no-untyped-def]
    """The demo with its week of Vorlagen (one non-public, with a TOP in the non-public part)
    and the Anlagen stored as files."""
    with database.unit_of_work() as s:
        demo = load_demo(s, PASSWORD, now=NOW, files=FileStore(settings.files_path), week=True)
        for meeting in s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")):
            meeting.location = "Haus der Region, Sitzungssaal 1, Aachen"
            s.add(meeting)
        return demo


def test_the_whole_server_is_valid_public_and_complete(week, app, database):  # type: ignore[no-untyped-def]
    objects, texts = crawl(app.test_client())
    kinds: dict[str, int] = {}
    for obj in objects.values():
        name = obj["type"].removeprefix(oparl_out.SCHEMA)
        kinds[name] = kinds.get(name, 0) + 1
    with database.unit_of_work() as s:
        papers = s.exec(select(Paper)).all()
        hidden = [p for p in papers if not is_published(p)]  # non-public, and drafts (issue 20)
        hidden_ids = [p.id for p in hidden]
        hidden_c = s.exec(select(Consultation.id).where(col(Consultation.paper_id).in_(hidden_ids))).all()
        hidden_f = s.exec(select(File.id).where(col(File.paper_id).in_(hidden_ids))).all()
        hidden_items = s.exec(select(AgendaItem.id).where(
            (AgendaItem.public == False) | col(AgendaItem.consultation_id).in_(hidden_c))).all()  # noqa: E712
        members = set(s.exec(select(Membership.person_id)).all())
        persons = s.exec(select(Person)).all()
        public_papers = {p.id for p in papers if is_published(p)}
        public_files = s.exec(select(File.id).join(Paper, col(Paper.id) == File.paper_id).where(
            published_clause(), col(File.sha_512_checksum).is_not(None))).all()
    # The demo's week has a non-public Vorlage (2024/073) in the non-public part of a Sitzung.
    assert hidden and hidden_items
    # Everything there is, was reached (and nothing else): every Vorlage, Anlage, person with a seat.
    assert {int(i.rsplit("/", 1)[1]) for i in objects if "/paper/" in i} == public_papers
    assert {int(i.rsplit("/", 1)[1]) for i in objects if "/file/" in i} == set(public_files)
    assert {int(i.rsplit("/", 1)[1]) for i in objects if "/person/" in i} == members
    assert {"System", "Body", "Organization", "Person", "Membership", "Meeting", "AgendaItem", "Paper",
            "Consultation", "File", "Location"} <= set(kinds)
    everything = "\n".join(texts)
    for kind, ids in (("paper", hidden_ids), ("consultation", hidden_c), ("file", hidden_f),
                      ("agendaitem", hidden_items),
                      ("person", [p.id for p in persons if p.id not in members])):
        for object_id in ids:
            assert not re.search(rf"/{kind}/{object_id}(?![0-9])", everything), (kind, object_id)
    for paper in hidden:
        assert paper.reference not in everything and paper.name not in everything
    for person in persons:
        assert person.email and person.email not in everything
    assert "email" not in everything and '"deleted"' not in everything  # nothing withdrawn yet


def test_every_list_paged_by_two_with_a_filter_holds_every_object_once(week, app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    whole, _ = crawl(client)
    body = next(o for o in whole.values() if o["type"].endswith("/Body"))
    for name, kind in BODY_LISTS.items():
        expected = sorted((o["id"] for o in whole.values() if o["id"].startswith(f"{ROOT}/oparl/v1.1/{kind}/")),
                          key=lambda i: int(i.rsplit("/", 1)[1]))
        got: list[str] = []
        url: str | None = body[name] + "?limit=2&modified_since=2000-01-01T00:00:00%2B00:00"
        while url:
            page = client.get(url.removeprefix(ROOT)).get_json()
            assert len(page["data"]) <= 2 and page["pagination"]["elementsPerPage"] == 2
            got += [o["id"] for o in page["data"]]
            url = page["links"].get("next")
            assert url is None or ("limit=2" in url and "modified_since=" in url)
        assert got == expected, name
