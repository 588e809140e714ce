"""The OParl server's rules one by one: keyset paging, the four filters, tombstones, CORS, content
type, ETag and conditional GET, files, refused parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from engine.calendar import agenda
from engine.council import AgendaItem, Consultation, File, Meeting, Paper
from engine.demo import load_demo
from engine.files import FileStore
from engine.oparl import server as oparl_out
from engine.types import table_of

from .conftest import NOW, PASSWORD, on_agenda
from .oparl_schema import errors_of

API = "/oparl/v1.1"
JSON = "application/json; charset=utf-8"


@pytest.fixture
def seeded(database, settings):  # type: ignore[no-untyped-def]
    """The seed Vorlage with its Anlagen stored, seven more public Vorlagen and a non-public one."""
    with database.unit_of_work() as s:
        demo = load_demo(s, PASSWORD, now=NOW, files=FileStore(settings.files_path), week=False)
        seed = s.get(Paper, demo.paper_id)
        first = s.exec(select(Consultation).where(Consultation.paper_id == seed.id)).first()
        ids = [seed.id]
        for n in range(8):
            paper = Paper(body_id=seed.body_id, reference=f"2025/{n:03d}", name=f"Vorlage {n}", public=n != 4,
                          released=NOW)
            s.add(paper)
            s.flush()
            s.add(Consultation(paper_id=paper.id, position=1, organization_id=first.organization_id))
            ids.append(paper.id)
    return {"body": seed.body_id, "papers": ids, "hidden": ids[5], "seed": demo.paper_id}


def _walk(client: Any, url: str) -> list[dict[str, Any]]:
    pages = []
    while url:
        response = client.get(url.removeprefix("http://localhost"))
        assert response.status_code == 200, response.get_data(as_text=True)
        pages.append(response.get_json())
        url = pages[-1]["links"].get("next")
    return pages


def _ids(pages: list[dict[str, Any]]) -> list[int]:
    return [int(o["id"].rsplit("/", 1)[1]) for page in pages for o in page["data"]]


def test_paging_by_two_gives_every_public_paper_once_in_id_order(seeded, app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    url = f"{API}/body/{seeded['body']}/paper?limit=2"
    pages = _walk(client, url)
    public = [i for i in seeded["papers"] if i != seeded["hidden"]]
    assert _ids(pages) == sorted(public)
    assert len(pages) == 4 and all(len(p["data"]) == 2 for p in pages)
    assert all("next" in p["links"] for p in pages[:-1]) and "next" not in pages[-1]["links"]
    assert all(p["links"]["first"] == f"http://localhost{url}" for p in pages)
    assert pages[1]["links"]["self"] == pages[0]["links"]["next"]
    assert _walk(client, url) == pages  # stable
    assert _ids(_walk(client, f"{API}/body/{seeded['body']}/paper")) == sorted(public)
    # A cursor past the end: an empty last page.
    empty = client.get(f"{API}/body/{seeded['body']}/paper?after={max(public)}").get_json()
    assert empty["data"] == [] and "next" not in empty["links"]
    # The limit is a hint with a maximum.
    assert client.get(f"{API}/body/{seeded['body']}/paper?limit=5000").get_json()[
        "pagination"]["elementsPerPage"] == oparl_out.MAX_LIMIT


def test_the_four_filters_and_they_are_carried_in_the_links(seeded, app, database):  # type: ignore[no-untyped-def]
    ids = [i for i in seeded["papers"] if i != seeded["hidden"]]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    with database.unit_of_work() as s:
        for n, paper_id in enumerate(ids):  # created on day n, modified on day 10 + n
            s.execute(update(table_of(Paper)).where(table_of(Paper).c.id == paper_id).values(
                created=base + timedelta(days=n), modified=base + timedelta(days=10 + n)))
    client = app.test_client()
    url = f"{API}/body/{seeded['body']}/paper"

    def listed(**params: str) -> list[int]:
        query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in params.items())
        pages = _walk(client, f"{url}?limit=1&{query}")
        for page in pages:
            for k in params:
                assert f"{k}=" in page["links"]["first"] and (
                    "next" not in page["links"] or f"{k}=" in page["links"]["next"])
        return _ids(pages)

    day = lambda n: (base + timedelta(days=n)).isoformat()  # noqa: E731
    assert listed(created_since=day(3)) == ids[3:]
    assert listed(created_until=day(2)) == ids[:3]
    assert listed(modified_since=day(12)) == ids[2:]
    assert listed(modified_until=day(11)) == ids[:2]
    assert listed(created_since=day(1), modified_until=day(13)) == ids[1:4]
    # Without an offset the time is read in Europe/Berlin (one hour ahead of UTC in January).
    assert listed(created_since="2024-01-04T01:00:00") == ids[3:]
    assert listed(created_since="2024-01-04T01:00:01") == ids[4:]
    paper = client.get(f"{API}/paper/{ids[0]}").get_json()
    assert paper["created"] == "2024-01-01T01:00:00+01:00" and paper["modified"] == "2024-01-11T01:00:00+01:00"


def test_a_paper_made_non_public_is_listed_deleted_only_with_modified_since(seeded, app, database):  # type: ignore[no-untyped-def]
    client = app.test_client()
    paper_id = seeded["seed"]
    before = client.get(f"{API}/paper/{paper_id}").get_json()
    file_ids = [f["id"] for f in before["auxiliaryFile"]]
    consultation_ids = [c["id"] for c in before["consultation"]]
    assert file_ids and consultation_ids
    gone = NOW + timedelta(hours=1)
    with database.unit_of_work() as s:  # the others were last changed long ago
        s.execute(update(table_of(Paper)).values(modified=datetime(2024, 1, 1, tzinfo=UTC)))
        oparl_out.set_paper_public(s, s.get(Paper, paper_id), False, gone)
    since = (NOW.isoformat()).replace("+", "%2B")
    body = f"{API}/body/{seeded['body']}"
    # OParl §2.8: id, type, created (the object's own), modified (when it left), deleted.
    stone = {"id": f"http://localhost{API}/paper/{paper_id}", "type": "https://schema.oparl.org/1.1/Paper",
             "created": before["created"], "modified": gone.astimezone(oparl_out.TIMEZONE).isoformat(),
             "deleted": True}
    plain = client.get(f"{body}/paper").get_json()["data"]
    assert all(o["id"] != stone["id"] for o in plain)
    mirrored = client.get(f"{body}/paper?modified_since={since}").get_json()["data"]
    assert mirrored == [stone] and errors_of(stone) == []
    later = (gone + timedelta(seconds=1)).isoformat().replace("+", "%2B")
    assert client.get(f"{body}/paper?modified_since={later}").get_json()["data"] == []
    assert client.get(f"{API}/paper/{paper_id}").get_json() == stone
    deleted = {o["id"] for kind in ("consultation", "file", "agendaItem")
               for o in client.get(f"{body}/{kind}?modified_since={since}").get_json()["data"]
               if o.get("deleted")}
    assert set(file_ids) | set(consultation_ids) <= deleted
    # Public again: listed as it is, no tombstone left.
    with database.unit_of_work() as s:
        oparl_out.set_paper_public(s, s.get(Paper, paper_id), True, gone + timedelta(hours=1))
    again = client.get(f"{body}/paper?modified_since={since}").get_json()["data"]
    assert [o["id"] for o in again] == [stone["id"]] and "deleted" not in again[0]
    assert client.get(f"{API}/file/{file_ids[0].rsplit('/', 1)[1]}").status_code == 200


def test_a_top_moved_into_the_non_public_part_is_listed_deleted(demo, app, database, actor, draft):  # type: ignore[no-untyped-def]
    paper_id = on_agenda(database, actor, draft, "2024/901", "Grundstücksangelegenheit", meeting_ref="SI/2024/140")
    with database.unit_of_work() as s:
        item = s.exec(select(AgendaItem).join(Consultation, Consultation.id == AgendaItem.consultation_id)
                      .where(Consultation.paper_id == paper_id)).one()
        item_id, meeting_id = item.id, item.meeting_id
    client = app.test_client()
    assert client.get(f"{API}/agendaitem/{item_id}").status_code == 200
    with database.unit_of_work() as s:
        agenda.set_part(s, actor("hoffmann"), meeting_id, item_id, False, {"reason": "Personalangelegenheit"},
                        now=NOW)
    assert client.get(f"{API}/agendaitem/{item_id}").get_json()["deleted"] is True
    meeting = client.get(f"{API}/meeting/{meeting_id}").get_json()
    assert all(not i["id"].endswith(f"/agendaitem/{item_id}") for i in meeting.get("agendaItem", []))
    with database.unit_of_work() as s:
        agenda.set_part(s, actor("hoffmann"), meeting_id, item_id, True, {"reason": "doch öffentlich"}, now=NOW)
    assert "deleted" not in client.get(f"{API}/agendaitem/{item_id}").get_json()


def test_cors_content_type_and_json_errors(seeded, app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    for url, status in ((f"{API}/system", 200), (f"{API}/paper/{seeded['hidden']}", 404),
                        (f"{API}/paper/{2**31}", 404), (f"{API}/paper/99999", 404), (f"{API}/nothing", 404),
                        (f"{API}/body/{seeded['body']}/paper?limit=x", 400), (f"{API}/body/77/paper", 404),
                        (f"{API}/legislativeterm/1", 404)):
        response = client.get(url)
        assert response.status_code == status, url
        assert response.headers["Content-Type"] == JSON, url
        assert response.headers["Access-Control-Allow-Origin"] == "*", url
        if status != 200:
            assert response.get_json()["error"], url
    preflight = client.options(f"{API}/body/{seeded['body']}/paper", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Content-Type"] == JSON
    # The legislative terms: none kept, an empty list.
    terms = client.get(f"{API}/body/{seeded['body']}/legislativeTermList").get_json()
    assert terms["data"] == [] and "next" not in terms["links"]


@pytest.mark.parametrize("query", [
    "created_since=gestern", "modified_until=2024-13-01T00:00:00", "limit=0", "limit=-3", "limit=zehn",
    "after=-1", f"after={2**31}", "after=1e3", "omit_internal=vielleicht", "modified_since=",
])
def test_bad_parameters_answer_400_with_a_message(seeded, app, query):  # type: ignore[no-untyped-def]
    response = app.test_client().get(f"{API}/body/{seeded['body']}/paper?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == JSON
    assert query.split("=")[0] in response.get_json()["error"]


def test_etag_and_conditional_get_on_objects_lists_and_files(seeded, app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    for url in (f"{API}/paper/{seeded['seed']}", f"{API}/body/{seeded['body']}/paper?limit=2"):
        first = client.get(url)
        etag = first.headers["ETag"]
        assert etag and client.get(url).headers["ETag"] == etag
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.get_data() == b""
        assert again.headers["Access-Control-Allow-Origin"] == "*"
    paper = client.get(f"{API}/paper/{seeded['seed']}").get_json()
    f = paper["auxiliaryFile"][0]
    assert {"accessUrl", "downloadUrl", "size", "mimeType", "sha512Checksum", "fileName"} <= set(f)
    access = client.get(f["accessUrl"])
    download = client.get(f["downloadUrl"])
    try:
        import hashlib
        assert access.status_code == 200 and download.status_code == 200
        assert hashlib.sha512(access.get_data()).hexdigest() == f["sha512Checksum"]
        assert len(access.get_data()) == f["size"]
        assert access.headers["Content-Type"] == f["mimeType"]
        assert access.headers["Content-Disposition"].startswith("inline")
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert access.headers["Access-Control-Allow-Origin"] == "*"
        not_again = client.get(f["accessUrl"], headers={"If-None-Match": access.headers["ETag"]})
        assert not_again.status_code == 304
        not_again.close()
    finally:
        access.close()
        download.close()


def test_files_of_a_non_public_paper_are_not_served(seeded, app, database, settings):  # type: ignore[no-untyped-def]
    store = FileStore(settings.files_path)
    with database.unit_of_work() as s:
        digest = store.put(s, b"%PDF-1.4 vertraulich")
        hidden = File(paper_id=seeded["hidden"], name="Vertraulich", file_name="v.pdf",
                      mime_type="application/pdf", size=20, sha_512_checksum=digest)
        s.add(hidden)
        s.flush()
        file_id = hidden.id
    client = app.test_client()
    for url in (f"{API}/file/{file_id}", f"{API}/file/{file_id}/access", f"{API}/file/{file_id}/download"):
        assert client.get(url).status_code == 404
    listed = client.get(f"{API}/body/{seeded['body']}/file").get_json()["data"]
    assert all(not o["id"].endswith(f"/file/{file_id}") for o in listed)


def test_logged_in_or_not_the_same_answers_and_omit_internal(seeded, app, browser):  # type: ignore[no-untyped-def]
    anonymous = app.test_client().get(f"{API}/body/{seeded['body']}/paper").get_json()
    admin = browser().login("admin").get(f"{API}/body/{seeded['body']}/paper").get_json()
    assert admin == anonymous
    lean = app.test_client().get(f"{API}/body/{seeded['body']}/paper?omit_internal=true").get_json()
    seed = next(o for o in lean["data"] if o["reference"] == "2024/063")
    assert all(isinstance(c, str) for c in seed["consultation"] + seed["auxiliaryFile"])
    assert "omit_internal=true" in lean["links"]["first"]
    person = app.test_client().get(f"{API}/body/{seeded['body']}/person?omit_internal=1").get_json()["data"][0]
    assert all(isinstance(m, str) for m in person["membership"]) and "email" not in person


def test_the_start_page_links_the_oparl_system(seeded, app):  # type: ignore[no-untyped-def]
    page = app.test_client().get("/").get_data(as_text=True)
    assert f'href="{API}/system"' in page


def test_ids_are_stable_urls_of_their_objects(seeded, app, database):  # type: ignore[no-untyped-def]
    client = app.test_client()
    pages = _walk(client, f"{API}/body/{seeded['body']}/meeting")
    for meeting in (o for p in pages for o in p["data"]):
        own = client.get(meeting["id"].removeprefix("http://localhost")).get_json()
        assert own == meeting
    with database.unit_of_work() as s:
        assert s.exec(select(Meeting)).first() is not None
