"""Least privilege: who learns that a non-public Vorlage exists (``engine.visibility``)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engine.council import File, Organization, Paper
from engine.visibility import can_see_paper, visible_papers_clause

from .conftest import NOW

#: Role → whether it sees a non-public Vorlage of Wirtschaft und Raum, beraten im AWSG only.
SEES = {None: False, "becker": True, "hoffmann": True, "schmitz": False, "krause": False,
        "zierstedt": True, "lenz": False, "krueger": True, "admin": True}


@pytest.fixture
def secret(database, demo, draft, others):  # type: ignore[no-untyped-def]
    """A non-public Entwurf of Wirtschaft und Raum with one Beratung in the AWSG, and an Anlage."""
    paper_id = draft("2024/099", "Grundstücksangelegenheit")
    with database.unit_of_work() as s:
        paper = s.get(Paper, paper_id)
        paper.public = False  # type: ignore[union-attr]
        s.add(paper)
        file = File(paper_id=paper_id, name="Gutachten", file_name="Gutachten.pdf", size=10)
        s.add(file)
        s.flush()
        return paper_id, file.id


@pytest.mark.parametrize("who", list(SEES))
def test_a_non_public_vorlage_is_seen_only_by_its_people(database, browser, actor, secret, who):  # type: ignore[no-untyped-def]
    paper_id, file_id = secret
    client = browser() if who is None else browser().login(who)
    page = client.get(f"/vorlagen/{paper_id}")
    assert page.status_code == (200 if SEES[who] else 404)  # 404, never 403: it does not exist
    index = client.get("/").get_data(as_text=True)
    assert ("2024/099" in index) is SEES[who]
    assert "2024/063" in index  # the public seed Vorlage for everyone
    download = client.get(f"/dateien/{file_id}")
    assert download.status_code == 404  # no content stored; but never 403 or 500
    who_ = actor(who) if who else None
    with database.unit_of_work() as s:
        paper = s.get(Paper, paper_id)
        assert can_see_paper(s, who_, paper, NOW.date()) is SEES[who]
        listed = s.exec(select(Paper.id).where(visible_papers_clause(who_, NOW.date()))).all()
        assert (paper_id in listed) is SEES[who]


def test_a_former_member_no_longer_sees_it(database, browser, actor, secret):  # type: ignore[no-untyped-def]
    from engine.accounts import Account
    from engine.council import Membership

    paper_id, _ = secret
    with database.unit_of_work() as s:
        becker = s.exec(select(Account).where(Account.username == "becker")).one()
        for m in s.exec(select(Membership).where(Membership.person_id == becker.person_id)):
            m.end_date = NOW.date().replace(year=NOW.year - 1)
            s.add(m)
    assert browser().login("becker").get(f"/vorlagen/{paper_id}").status_code == 404


@pytest.mark.parametrize(("who", "status"), [
    ("zierstedt", 302), ("lenz", 404), ("hoffmann", 403), ("krueger", 403), ("becker", 403)])
def test_only_the_lead_departments_clerk_starts_a_non_public_one(browser, secret, who, status):  # type: ignore[no-untyped-def]
    paper_id, _ = secret
    client = browser().login(who)
    assert client.post(f"/vorlagen/{paper_id}/starten", {}).status_code == status


# A draft is not public yet (issue 20): another department's clerk does not learn it exists.
@pytest.mark.parametrize(("who", "status"), [("zierstedt", 302), ("lenz", 404), ("hoffmann", 403)])
def test_only_the_lead_departments_clerk_starts_a_public_one(browser, draft, others, who, status):  # type: ignore[no-untyped-def]
    paper_id = draft("2024/098", "Öffentlich")
    client = browser().login(who)
    page = client.get(f"/vorlagen/{paper_id}").get_data(as_text=True)
    assert ("Ohne Mitzeichnung: Beratungsfolge starten" in page) is (status == 302)
    assert client.post(f"/vorlagen/{paper_id}/starten", {}).status_code == status


def test_a_clerk_creates_vorlagen_of_her_own_department_only(database, browser, others):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        orgs = {o.short_name or o.name: o.id for o in s.exec(select(Organization))}
    lenz = browser().login("lenz")
    form = lenz.get("/vorlagen/neu").get_data(as_text=True)
    assert "Mobilität und Digitalisierung</option>" in form and "Wirtschaft und Raum</option>" not in form
    refused = lenz.post("/vorlagen/neu", {
        "reference": "2024/097", "name": "Fremder Bereich", "paper_type": "Beschlussvorlage",
        "under_direction_of_id": orgs["Wirtschaft und Raum"], "save": "1",
        "consultations-0-organization_id": orgs["AWSG"], "consultations-0-role": "Vorberatung"})
    assert refused.status_code == 422
    assert "Vorlagen legt die Sachbearbeitung des eigenen Bereichs an." in refused.get_data(as_text=True)


def test_members_see_the_non_public_agenda_items_of_their_own_gremien_only(  # type: ignore[no-untyped-def]
        database, actor, draft, browser, others):
    from engine.council import Meeting

    from .conftest import on_agenda

    on_agenda(database, actor, draft, "2024/096", "Personalangelegenheit", public=False)
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
    url = f"/sitzungen/{meeting.id}"
    for who, sees in [(None, False), ("becker", True), ("hoffmann", True), ("krause", False),
                      ("schmitz", False), ("krueger", True), ("admin", True)]:
        client = browser() if who is None else browser().login(who)
        page = client.get(url)
        assert page.status_code == 200
        assert ("Personalangelegenheit" in page.get_data(as_text=True)) is sees, who
