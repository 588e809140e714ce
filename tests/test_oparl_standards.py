"""OParl 1.1, point by point (issue 20): tombstones with ``created`` (§2.8), the parents of an
object that left the public modified with it, every id from ``RATSFLOW_BASE_URL`` whatever the
``Host`` (301 to the canonical URL, for other hosts and for non-canonical ids), gzip on
``Accept-Encoding`` (§2.10), ``license`` on System and Body, one ``Date`` under ``ratsflow serve``."""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select

from engine.calendar import agenda
from engine.council import AgendaItem, Consultation, Meeting, Paper
from engine.oparl import server as oparl_out
from engine.settings import SettingsError, load_settings
from engine.types import table_of

from .conftest import NOW, on_agenda
from .oparl_schema import errors_of
from .test_operator_console import _free_port, _serve, _stop

API = "/oparl/v1.1"
CANONICAL = "https://ratsinfo.example.org"


def _since(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.isoformat().replace("+", "%2B")


def _top_on_agenda(database, actor, draft) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A public Vorlage's TOP in the committee's session SI/2024/140: (item, meeting, consultation)."""
    paper_id = on_agenda(database, actor, draft, "2024/901", "Radwegekonzept", meeting_ref="SI/2024/140")
    with database.unit_of_work() as s:
        item = s.exec(select(AgendaItem).join(Consultation, Consultation.id == AgendaItem.consultation_id)
                      .where(Consultation.paper_id == paper_id)).one()
        return item.id, item.meeting_id, item.consultation_id  # type: ignore[return-value]


# ----------------------------------------------------------------------------------- §2.8

def test_a_top_that_leaves_the_public_is_a_tombstone_with_created_and_its_meeting_is_modified(  # type: ignore[no-untyped-def]
        demo, app, database, actor, draft):
    item_id, meeting_id, consultation_id = _top_on_agenda(database, actor, draft)
    client = app.test_client()
    item = client.get(f"{API}/agendaitem/{item_id}").get_json()
    meeting_before = client.get(f"{API}/meeting/{meeting_id}").get_json()
    assert any(i["id"] == item["id"] for i in meeting_before["agendaItem"])
    left = NOW + timedelta(minutes=5)
    with database.unit_of_work() as s:  # everything else last changed long ago
        for model in (Paper, Meeting, Consultation, AgendaItem):
            s.execute(update(table_of(model)).values(modified=datetime(2024, 1, 1, tzinfo=UTC)))
    with database.unit_of_work() as s:
        agenda.set_part(s, actor("hoffmann"), meeting_id, item_id, False, {"reason": "Personalangelegenheit"},
                        now=left)
    bodies = client.get(f"{API}/body").get_json()["data"]
    body = bodies[0]["id"].removeprefix("http://localhost")

    # The tombstone: id, type, created (the TOP's own), modified (when it left), deleted.
    stone = client.get(f"{API}/agendaitem/{item_id}").get_json()
    assert stone == {"id": item["id"], "type": item["type"], "created": item["created"],
                     "modified": left.astimezone(oparl_out.TIMEZONE).isoformat(), "deleted": True}
    listed = client.get(f"{body}/agendaItem?modified_since={_since(left)}").get_json()["data"]
    assert stone in listed

    # A mirror that reads the Sitzungen changed since then gets this one, without the TOP …
    meetings = client.get(f"{body}/meeting?modified_since={_since(left)}").get_json()["data"]
    changed = [m for m in meetings if m["id"] == meeting_before["id"]]
    assert len(changed) == 1 and changed[0]["modified"] == left.astimezone(oparl_out.TIMEZONE).isoformat()
    assert all(i["id"] != item["id"] for i in changed[0].get("agendaItem", []))
    # … and the Beratung, whose agendaItem link went with it (and the Vorlage embedding it).
    consultations = client.get(f"{body}/consultation?modified_since={_since(left)}").get_json()["data"]
    mine = [c for c in consultations if c["id"].endswith(f"/consultation/{consultation_id}")]
    assert len(mine) == 1 and "agendaItem" not in mine[0]
    papers = client.get(f"{body}/paper?modified_since={_since(left)}").get_json()["data"]
    references = [p["reference"] for p in papers]
    assert references == ["2024/901"]

    # Back in the public part: the Sitzung is modified again, with the TOP.
    back = left + timedelta(minutes=5)
    with database.unit_of_work() as s:
        agenda.set_part(s, actor("hoffmann"), meeting_id, item_id, True, {"reason": "doch öffentlich"}, now=back)
    again = client.get(f"{body}/meeting?modified_since={_since(back)}").get_json()["data"]
    modified_again = [m["id"] for m in again]
    assert modified_again == [meeting_before["id"]]
    assert any(i["id"] == item["id"] for i in again[0]["agendaItem"])


def test_a_new_order_of_the_agenda_modifies_its_meeting(demo, app, database, actor, draft):  # type: ignore[no-untyped-def]
    """The Sitzung embeds its TOPs with their numbers: renumbering changes it."""
    item_id, meeting_id, _c = _top_on_agenda(database, actor, draft)
    later = NOW + timedelta(hours=2)
    with database.unit_of_work() as s:
        agenda.renumber(s, actor("hoffmann"), meeting_id, {"reason": "neu"}, now=later)
        assert s.get(Meeting, meeting_id).modified == later


def test_tombstones_of_a_paper_keep_each_objects_created(demo, app, database):  # type: ignore[no-untyped-def]
    client = app.test_client()
    paper = client.get(f"{API}/paper/{demo.paper_id}").get_json()
    parts = [paper, *paper["consultation"], *paper.get("auxiliaryFile", [])]
    with database.unit_of_work() as s:
        oparl_out.set_paper_public(s, s.get(Paper, demo.paper_id), False, NOW + timedelta(hours=1))
    for part in parts:
        stone = client.get(part["id"].removeprefix("http://localhost")).get_json()
        assert stone["deleted"] is True and stone["created"] == part["created"], part["id"]
        assert set(stone) == {"id", "type", "created", "modified", "deleted"}


# ----------------------------------------------------------------------------- canonical ids

@pytest.fixture
def canonical_app(settings, database, clock):  # type: ignore[no-untyped-def]
    from web import create_app

    application = create_app(dataclasses.replace(settings, base_url=CANONICAL), upgrade=False)
    application.config.update(TESTING=True)
    application.extensions["ratsflow.clock"] = clock
    yield application
    application.extensions["ratsflow.db"].dispose()


@pytest.mark.sqlite_only
def test_ids_come_from_the_base_url_and_other_hosts_are_sent_there(demo, canonical_app):  # type: ignore[no-untyped-def]
    client = canonical_app.test_client()
    system = client.get(f"{API}/system", base_url=CANONICAL)
    assert system.status_code == 200
    assert system.get_json()["id"] == f"{CANONICAL}{API}/system"
    listed = client.get(f"{API}/body/1/paper?limit=1", base_url=CANONICAL).get_json()
    assert listed["links"]["first"] == f"{CANONICAL}{API}/body/1/paper?limit=1"
    paper = listed["data"][0]
    urls = [paper["id"], paper["body"], paper["web"], *[c["id"] for c in paper["consultation"]],
            *[u for f in paper.get("auxiliaryFile", []) for u in (f["id"], f["accessUrl"], f["downloadUrl"])]]
    assert all(u.startswith(CANONICAL + "/") for u in urls), urls

    # Another Host header: no id of that host, a 301 to the canonical URL (query kept).
    for host in ("evil.example.org", "127.0.0.1:5000", "ratsinfo.example.org:8443"):
        moved = client.get(f"{API}/body/1/paper?limit=1&modified_since=2024-01-01T00:00:00%2B01:00",
                           base_url=f"http://{host}")
        assert moved.status_code == 301, host
        assert moved.headers["Location"] == \
            f"{CANONICAL}{API}/body/1/paper?limit=1&modified_since=2024-01-01T00:00:00%2B01:00"
        assert moved.headers["Access-Control-Allow-Origin"] == "*"  # a browser's fetch follows it
        assert b"evil" not in moved.get_data()
    # A preflight is answered where it is asked (browsers do not follow its redirects).
    preflight = client.options(f"{API}/system", base_url="http://evil.example.org",
                               headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("asked", "canonical"), [
    ("/paper/0{paper}", "/paper/{paper}"), ("/paper/000{paper}", "/paper/{paper}"),
    ("/body/01/paper", "/body/1/paper"),
    ("/organization/02/meeting?limit=3", "/organization/2/meeting?limit=3"),
])
def test_a_non_canonical_id_answers_301_to_the_canonical_one(demo, app, asked, canonical):  # type: ignore[no-untyped-def]
    moved = app.test_client().get(API + asked.format(paper=demo.paper_id))
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"http://localhost{API}{canonical.format(paper=demo.paper_id)}"
    assert app.test_client().get(moved.headers["Location"]).status_code == 200


# ----------------------------------------------------------------------------------- §2.10

@pytest.mark.sqlite_only
def test_gzip_when_the_client_accepts_it_with_an_etag_of_its_own(demo, app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    url = f"{API}/paper/{demo.paper_id}"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    assert packed.headers["Content-Type"] == "application/json; charset=utf-8"
    assert gzip.decompress(packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) < len(plain.get_data()) / 2
    assert packed.headers["ETag"] != plain.headers["ETag"]
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.get_data() == plain.get_data()
    whole = client.get(f"{API}/body/1/paper", headers={"Accept-Encoding": "gzip"})
    assert json.loads(gzip.decompress(whole.get_data()))["data"]


# ----------------------------------------------------------------------------------- license

@pytest.mark.sqlite_only
def test_system_and_body_name_the_licence_which_is_configurable(demo, app, settings):  # type: ignore[no-untyped-def]
    client = app.test_client()
    system = client.get(f"{API}/system").get_json()
    body = client.get(f"{API}/body").get_json()["data"][0]
    assert system["license"] == body["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert errors_of(system) == [] and errors_of(body) == []
    own = load_settings(env={"RATSFLOW_OPARL_LICENSE": "https://www.govdata.de/dl-de/by-2-0"})
    assert own.oparl_license == "https://www.govdata.de/dl-de/by-2-0"
    app.extensions["ratsflow.settings"] = dataclasses.replace(settings, oparl_license=own.oparl_license)
    assert client.get(f"{API}/system").get_json()["license"] == "https://www.govdata.de/dl-de/by-2-0"
    with pytest.raises(SettingsError):
        load_settings(env={"RATSFLOW_OPARL_LICENSE": "CC BY 4.0"})


# ------------------------------------------------------------------------ under ratsflow serve

def _get(port: int, path: str, host: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host} if host else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.sqlite_only
def test_ratsflow_serve_sends_one_date_and_canonical_ids(tmp_path: Path) -> None:
    port = _free_port()
    process, _printed = _serve(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        for path in (f"{API}/system", f"{API}/body", "/static/ratsflow.css", "/"):
            response = _get(port, path)
            assert response.status == 200, path
            dates = response.msg.get_all("Date") or []
            assert len(dates) == 1, (path, dates)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"{API}/body", headers={"Host": "evil.example.org"})
        moved = conn.getresponse()
        moved.read()
        conn.close()
        assert moved.status == 301 and moved.getheader("Location") == f"{base}{API}/body"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"{API}/body")
        bodies = json.loads(conn.getresponse().read())
        conn.close()
        assert bodies["data"] and all(b["id"].startswith(f"{base}{API}/body/") for b in bodies["data"])
    finally:
        _stop(process)


# ----------------------------------------------------------------------------------- migration

def test_migration_0018_gives_old_tombstones_their_objects_created(tmp_path, database_url):  # type: ignore[no-untyped-def]
    """A tombstone written before 0018 gets its object's ``created`` where the object is still
    there (a Vorlage made non-public), else the moment it was withdrawn (one deleted)."""
    from sqlalchemy import text

    from engine.db import upgrade_schema

    from .conftest import database_at

    made, gone = datetime(2023, 5, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with database_at(database_url, tmp_path, "0016") as engine:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Rat', :m, :m)"),
                         {"m": made})
            conn.execute(text(
                "INSERT INTO paper (id, body_id, reference, name, paper_type, public, status, facts, "
                "proposal_heading, proposal, financial_impact, personnel_impact, created, modified) VALUES "
                "(7, 1, '2023/001', 'Alt', 'Standardvorlage', false, 'Entwurf', '', 'Beschlussvorschlag', "
                "'', '', '', :m, :m)"), {"m": made})
            for object_id in (7, 8):  # 8: deleted long ago
                conn.execute(text("INSERT INTO oparl_tombstone (object_type, object_id, deleted_at) "
                                  "VALUES ('paper', :i, :g)"), {"i": object_id, "g": gone})
        upgrade_schema(engine, "head")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT object_id, created FROM oparl_tombstone ORDER BY object_id")).all()
        created = {object_id: (value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
                   for object_id, value in rows}
        assert {k: v.replace(tzinfo=UTC) if v.tzinfo is None else v for k, v in created.items()} == \
            {7: made, 8: gone}
