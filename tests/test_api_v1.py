"""The JSON API v1: each route, paging, errors as JSON, bearer tokens with scopes and expiry,
CSRF on cookie writes, the ``ratsflow token`` commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from engine.audit import AuditEvent
from engine.council import Meeting, Organization, Paper
from engine.identity import tokens
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import NOW, on_agenda

ALL = list(tokens.SCOPES)
NOTED = {"ergebnis": "zur_kenntnis_genommen"}


@pytest.fixture
def token(database, actor):  # type: ignore[no-untyped-def]
    """Factory: a plain token for ``username`` with ``scopes`` (all by default)."""
    def make(username: str, *scopes: str, days: int | None = 90) -> str:
        who = actor(username)
        with database.unit_of_work() as s:
            expires = NOW + timedelta(days=days) if days else None
            return tokens.create(s, who, who.account_id, "Test", scopes or ALL, expires, now=NOW).plain
    return make


def call(app, method: str, url: str, bearer: str | None = None, **kw):  # type: ignore[no-untyped-def]
    """One request; the answer's status, JSON and headers (the response is closed)."""
    headers = dict(kw.pop("headers", {}))
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    with app.test_client() as client:
        response = client.open(url, method=method, headers=headers, **kw)
        try:
            return response.status_code, response.get_json(silent=True), response.headers
        finally:
            response.close()


def seed_task(database) -> HumanTask:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(HumanTask).where(HumanTask.status == TASK_READY,
                                              col(HumanTask.paper_id).is_not(None))).one()


def assert_error(status: int, body, expected: int) -> None:  # type: ignore[no-untyped-def]
    assert status == expected, body
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    assert isinstance(body["errors"], dict)


# ----------------------------------------------------------------------------- the routes

def test_papers_with_beratungsfolge_and_detail(app, demo, token):  # type: ignore[no-untyped-def]
    t = token("zierstedt", "papers:read")
    status, body, _ = call(app, "GET", "/api/v1/papers", t)
    assert status == 200 and body["next"] is None
    seed = next(p for p in body["papers"] if p["id"] == demo.paper_id)
    assert seed["reference"] == "2024/063"
    folge = seed["consultations"]
    assert [c["position"] for c in folge] == [1, 2]
    assert folge[0]["organization"]["name"] and folge[0]["role"]
    assert folge[0]["agenda_items"][0]["meeting"]["reference"] == "SI/2024/131"
    status, detail, _ = call(app, "GET", f"/api/v1/papers/{demo.paper_id}", t)
    assert status == 200 and detail["facts"] and detail["consultations"] == folge
    assert_error(*call(app, "GET", "/api/v1/papers/999999", t)[:2], 404)


def test_non_public_papers_only_for_those_of_its_beratungsfolge(app, demo, database, actor, draft, token, others):  # type: ignore[no-untyped-def]
    """The pages' rule (engine.visibility): the Gremien of its Beratungsfolge (Sekretariat and
    members), the lead department, Revision, admin; another Gremium's Sekretariat: 404."""
    secret = draft("2024/099", "Vertraulich")
    with database.unit_of_work() as s:
        paper = s.get(Paper, secret)
        paper.public = False
        s.add(paper)
    for username in ("hoffmann", "becker", "krueger", "admin"):
        ids = {p["id"] for p in call(app, "GET", "/api/v1/papers?limit=200", token(username))[1]["papers"]}
        assert secret in ids, username
    stranger = token("krause")
    ids = {p["id"] for p in call(app, "GET", "/api/v1/papers?limit=200", stranger)[1]["papers"]}
    assert secret not in ids and demo.paper_id in ids
    assert call(app, "GET", f"/api/v1/papers/{secret}", stranger)[0] == 404


def test_paging_is_stable_with_an_opaque_cursor(app, demo, draft, token):  # type: ignore[no-untyped-def]
    for i in range(5):
        draft(f"2024/1{i:02d}")
    t = token("zierstedt")
    seen, cursor, pages = [], "", 0
    while True:
        status, body, _ = call(app, "GET", f"/api/v1/papers?limit=2{cursor}", t)
        assert status == 200 and len(body["papers"]) <= 2
        seen += [p["id"] for p in body["papers"]]
        pages += 1
        if body["next"] is None:
            break
        cursor = f"&cursor={body['next']}"
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 6 and pages == 3
    status, body, _ = call(app, "GET", "/api/v1/papers?cursor=kaputt", t)
    assert_error(status, body, 422)
    assert "cursor" in body["errors"]
    first = call(app, "GET", "/api/v1/papers?limit=1", t)[1]["next"]
    assert call(app, "GET", f"/api/v1/meetings?cursor={first}", t)[0] == 422  # another list's cursor
    status, body, _ = call(app, "GET", "/api/v1/papers?limit=0", t)
    assert_error(status, body, 422)
    assert "limit" in body["errors"]


def test_meetings_with_agenda_and_closed_part(app, demo, database, actor, draft, token):  # type: ignore[no-untyped-def]
    on_agenda(database, actor, draft, "2024/091", "Nichtöffentlich", public=False)
    committee = demo.committee_meeting.id
    status, body, _ = call(app, "GET", "/api/v1/meetings?limit=1", token("becker"))
    assert status == 200 and len(body["meetings"]) == 1 and body["next"]
    following = call(app, "GET", f"/api/v1/meetings?limit=50&cursor={body['next']}", token("becker"))[1]
    starts = [m["start"] for m in [*body["meetings"], *following["meetings"]]]
    assert starts == sorted(starts)
    secretary = call(app, "GET", f"/api/v1/meetings/{committee}", token("hoffmann"))[1]
    assert any(not e["public"] for e in secretary["agenda"])
    other = call(app, "GET", f"/api/v1/meetings/{committee}", token("schmitz"))[1]
    assert other["agenda"] and all(e["public"] for e in other["agenda"])
    assert {e["name"] for e in other["agenda"]} < {e["name"] for e in secretary["agenda"]}
    with database.unit_of_work() as s:
        org = s.get(Meeting, committee).organization_id
    only = call(app, "GET", f"/api/v1/meetings?organization={org}", token("becker"))[1]["meetings"]
    assert only and {m["organization"]["id"] for m in only} == {org}
    status, errs, _ = call(app, "GET", "/api/v1/meetings?from=2026-12-01&to=2026-11-01", token("becker"))
    assert_error(status, errs, 422)


def test_organizations_persons_memberships(app, demo, database, token):  # type: ignore[no-untyped-def]
    t = token("becker", "meetings:read")
    orgs = call(app, "GET", "/api/v1/organizations?type=Gremium", t)[1]["organizations"]
    assert orgs and {o["organization_type"] for o in orgs} == {"Gremium"}
    with database.unit_of_work() as s:
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one().id
    detail = call(app, "GET", f"/api/v1/organizations/{committee}", t)[1]
    assert detail["memberships"] and all(m["organization"]["id"] == committee for m in detail["memberships"])
    persons = call(app, "GET", "/api/v1/persons", t)[1]["persons"]
    assert persons and all(p["email"] is None for p in persons)  # a member sees no addresses
    assert any(p["email"] for p in call(app, "GET", "/api/v1/persons", token("admin"))[1]["persons"])
    person = detail["memberships"][0]["person"]["id"]
    one = call(app, "GET", f"/api/v1/persons/{person}", t)[1]
    assert one["name"] and any(m["organization"]["id"] == committee for m in one["memberships"])
    ms = call(app, "GET", f"/api/v1/memberships?organization={committee}&on=2026-11-24", t)[1]
    assert ms["memberships"] and ms["next"] is None
    assert call(app, "GET", "/api/v1/organizations/999999", t)[0] == 404
    assert call(app, "GET", "/api/v1/persons/999999", t)[0] == 404


def test_tasks_with_a_token_claim_comment_complete(app, demo, database, token):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    t = token("hoffmann", "tasks:read", "tasks:write")
    status, body, _ = call(app, "GET", "/api/v1/tasks?view=gremium", t)
    assert status == 200 and task.id in [x["id"] for x in body["tasks"]]
    assert set(body["tasks"][0]) >= {"id", "title", "form", "step", "holder", "version", "paper", "meeting"}
    status, claimed, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/claim", t)
    assert status == 200 and claimed["holder"] == "hoffmann"
    status, commented, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/comments", t, json={"text": "Gelesen."})
    assert status == 201
    detail = call(app, "GET", f"/api/v1/tasks/{task.id}", t)[1]
    assert detail["comments"][0]["text"] == "Gelesen." and "ergebnis" in detail["schema"]["properties"]
    status, follow, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/follow-up", t, json={"follow_up": "2026-11-30"})
    assert status == 200 and follow["follow_up"] == "2026-11-30"
    stale = call(app, "POST", f"/api/v1/tasks/{task.id}/complete", t,
                 json={"data": NOTED, "expected_version": detail["version"] + 5})
    assert_error(*stale[:2], 409)
    status, done, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/complete", t,
                           json={"data": NOTED, "expected_version": detail["version"]})
    assert status == 200 and done["task"]["status"] != TASK_READY and done["version"] > detail["version"]


def test_a_completion_reads_its_token_with_the_task(app, demo, database, token):  # type: ignore[no-untyped-def]
    """One statement brings the token, its account's grants and the task with everything
    completing it needs (procedures.load_task_with_token); a revoked token, a token without
    ``tasks:write`` and an unknown task are refused as before and change nothing."""
    from engine.db import count_statements

    task = seed_task(database)
    t = token("hoffmann", "tasks:read", "tasks:write")
    version = call(app, "GET", f"/api/v1/tasks/{task.id}", t)[1]["version"]
    assert call(app, "POST", "/api/v1/tasks/999999/complete", t,
                json={"data": NOTED, "expected_version": version})[0] == 404
    assert call(app, "POST", f"/api/v1/tasks/{task.id}/complete", token("hoffmann", "tasks:read"),
                json={"data": NOTED, "expected_version": version})[0] == 403
    revoked = token("hoffmann", "tasks:write")
    with database.unit_of_work() as s:
        row = tokens.find(s, revoked)
        assert row is not None
        row.revoked = NOW
        s.add(row)
    assert call(app, "POST", f"/api/v1/tasks/{task.id}/complete", revoked,
                json={"data": NOTED, "expected_version": version})[0] == 401
    with count_statements(app.extensions["ratsflow.db"].engine) as seen:
        status, done, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/complete", t,
                               json={"data": NOTED, "expected_version": version})
    assert status == 200 and done["task"]["completed_by"] == "hoffmann"
    reads = [q for q in seen if q.lstrip().upper().startswith("SELECT") and "api_token" in q]
    assert len(reads) == 1 and "human_task" in reads[0] and "process_instance" in reads[0]


def test_process_instance_and_its_history(app, demo, database, token):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    instance = task.process_instance_id
    status, body, _ = call(app, "GET", f"/api/v1/process-instances/{instance}", token("hoffmann"))
    assert status == 200 and body["process_id"] and [t["id"] for t in body["open_tasks"]] == [task.id]
    assert call(app, "GET", f"/api/v1/process-instances/{instance}", token("becker"))[0] == 403
    status, history, _ = call(app, "GET", f"/api/v1/process-instances/{instance}/history?limit=2",
                              token("krueger", "audit:read"))
    assert status == 200 and len(history["events"]) == 2
    assert history["events"][0]["seq"] < history["events"][1]["seq"]
    assert history["events"][0]["action"] == "procedure.started"
    with database.unit_of_work() as s:
        total = len(s.exec(select(AuditEvent).where(AuditEvent.process_instance_id == instance)).all())
    seqs, cursor = [], ""
    while True:
        page = call(app, "GET", f"/api/v1/process-instances/{instance}/history?limit=1{cursor}",
                    token("krueger", "audit:read"))[1]
        seqs += [e["seq"] for e in page["events"]]
        if not page["next"]:
            break
        cursor = f"&cursor={page['next']}"
    assert len(seqs) == total > 1 and seqs == sorted(seqs)
    # The secretary has the scope but not the role.
    assert_error(*call(app, "GET", f"/api/v1/process-instances/{instance}/history", token("hoffmann"))[:2], 403)
    assert call(app, "GET", "/api/v1/process-instances/999999", token("admin"))[0] == 404


def test_my_reminders(app, demo, database, token):  # type: ignore[no-untyped-def]
    status, body, _ = call(app, "GET", "/api/v1/me/reminders?limit=3", token("becker", "reminders:read"))
    assert status == 200 and body["reminders"]
    dues = [r["due_at"] for r in body["reminders"]]
    assert dues == sorted(dues, reverse=True)
    assert all(r["meeting"]["id"] for r in body["reminders"])
    assert call(app, "GET", "/api/v1/me/reminders", token("admin", "reminders:read"))[1]["reminders"] == []


# ----------------------------------------------------------------------------- authentication

def test_no_credentials_is_401_json_with_a_bearer_challenge(app, demo):  # type: ignore[no-untyped-def]
    for method, url in [("GET", "/api/v1/papers"), ("GET", "/api/v1/tasks"), ("POST", "/api/v1/tasks/1/claim"),
                        ("GET", "/api/v1/me/reminders")]:
        status, body, headers = call(app, method, url)
        assert_error(status, body, 401)
        assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, headers = call(app, "GET", "/api/v1/papers", headers={"Authorization": "Basic eDp5"})
    assert_error(status, body, 401)


def test_scopes_and_roles(app, demo, database, token):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    reader = token("hoffmann", "tasks:read")
    assert call(app, "GET", "/api/v1/tasks", reader)[0] == 200
    status, body, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/claim", reader)
    assert_error(status, body, 403)
    assert body["errors"] == {"scope": ["tasks:write"]}
    assert call(app, "GET", "/api/v1/papers", reader)[0] == 403
    # A token never does more than its account: the other committee's Sekretariat.
    other = token("schmitz", "tasks:write")
    assert_error(*call(app, "POST", f"/api/v1/tasks/{task.id}/claim", other)[:2], 403)


def test_expired_and_revoked_tokens_are_401(app, demo, database, actor, token, clock):  # type: ignore[no-untyped-def]
    t = token("hoffmann", "tasks:read", days=90)
    assert call(app, "GET", "/api/v1/tasks", t)[0] == 200
    with database.unit_of_work() as s:
        row = tokens.find(s, t)
        assert row.last_used == NOW
    clock.move(days=91)
    status, body, headers = call(app, "GET", "/api/v1/tasks", t)
    assert_error(status, body, 401)
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    fresh = token("hoffmann", "tasks:read", days=None)
    assert call(app, "GET", "/api/v1/tasks", fresh)[0] == 200
    hoffmann = actor("hoffmann")
    with database.unit_of_work() as s:
        tokens.revoke(s, hoffmann, tokens.find(s, fresh).id, now=clock.now)
    assert_error(*call(app, "GET", "/api/v1/tasks", fresh)[:2], 401)
    assert_error(*call(app, "GET", "/api/v1/tasks", "rf_nie-ausgegeben")[:2], 401)
    with database.unit_of_work() as s:
        actions = [e.action for e in s.exec(select(AuditEvent).where(col(AuditEvent.action).like("api_token.%"))
                                            .order_by(col(AuditEvent.seq)))]
    assert actions == ["api_token.created", "api_token.created", "api_token.revoked"]


def test_cookie_writes_need_the_csrf_header(app, demo, database, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    hoffmann = browser().login("hoffmann")
    csrf = hoffmann.client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    assert hoffmann.client.get("/api/v1/tasks").status_code == 200  # reading needs none
    refused = hoffmann.client.post(f"/api/v1/tasks/{task.id}/claim")
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.get_json()["errors"]
    wrong = hoffmann.client.post(f"/api/v1/tasks/{task.id}/claim", headers={"X-CSRF-Token": "falsch"})
    assert wrong.status_code == 403
    ok = hoffmann.client.post(f"/api/v1/tasks/{task.id}/claim", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.get_json()["holder"] == "hoffmann"
    for r in (refused, wrong, ok):
        r.close()


def test_token_writes_need_no_csrf(app, demo, database, token):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    assert call(app, "POST", f"/api/v1/tasks/{task.id}/claim", token("hoffmann"))[0] == 200


# ----------------------------------------------------------------------------- errors

def test_errors_are_json(app, demo, database, token):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    t = token("hoffmann")
    status, body, headers = call(app, "DELETE", "/api/v1/papers", t)
    assert_error(status, body, 405)
    assert "GET" in headers["Allow"]
    assert_error(*call(app, "GET", "/api/v1/gibt-es-nicht", t)[:2], 404)
    assert_error(*call(app, "GET", "/api/v1/tasks/999999", t)[:2], 404)
    assert_error(*call(app, "GET", "/api/v1/tasks/99999999999", t)[:2], 404)  # beyond 2**31-1
    status, body, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/complete", t, data="x",
                           content_type="text/plain")
    assert_error(status, body, 415)
    assert_error(*call(app, "POST", f"/api/v1/tasks/{task.id}/assign", t, data="<user/>",
                       content_type="application/xml")[:2], 415)
    status, body, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/complete", t, json={"data": NOTED})
    assert_error(status, body, 422)
    assert "expected_version" in body["errors"]
    status, body, _ = call(app, "POST", f"/api/v1/tasks/{task.id}/complete", t, data="{kaputt",
                           content_type="application/json")
    assert status in (400, 422) and body["error"]
    status, body, _ = call(app, "GET", "/api/v1/tasks?view=nix", t)
    assert_error(status, body, 422)
    assert "view" in body["errors"]
    status, body, _ = call(app, "GET", "/api/v1/meetings?organization=99999999999", t)
    assert_error(status, body, 422)


# ----------------------------------------------------------------------------- the command line

def test_cli_token_create_list_revoke(app, demo, settings, monkeypatch):  # type: ignore[no-untyped-def]
    from web.cli import main

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    runner = CliRunner()
    created = runner.invoke(main, ["token", "create", "hoffmann", "--scope", "tasks:read", "--scope",
                                   "papers:read", "--name", "Fachverfahren", "--expires", "30d"])
    assert created.exit_code == 0, created.output
    plain = created.output.split()[-1]
    assert plain.startswith("rf_") and len(plain) > 40
    # The real clock: the token is valid for 30 days from today, the tests' clock lies before.
    status, body, _ = call(app, "GET", "/api/v1/tasks", plain)
    assert status == 200, body
    listed = runner.invoke(main, ["token", "list", "hoffmann"])
    assert listed.exit_code == 0 and "Fachverfahren" in listed.output and plain[:10] in listed.output
    assert plain not in listed.output
    token_id = listed.output.split("\t")[0]
    assert runner.invoke(main, ["token", "revoke", token_id]).exit_code == 0
    assert call(app, "GET", "/api/v1/tasks", plain)[0] == 401
    bad = runner.invoke(main, ["token", "create", "niemand", "--scope", "tasks:read"])
    assert bad.exit_code != 0 and "niemand" in bad.output
    assert runner.invoke(main, ["token", "create", "hoffmann", "--scope", "alles"]).exit_code != 0


def test_instance_versions_untouched_by_reads(app, demo, database, token):  # type: ignore[no-untyped-def]
    """Reading through the API writes nothing but the token's last use."""
    t = token("admin")
    with database.unit_of_work() as s:
        before = [(i.id, i.version) for i in s.exec(select(ProcessInstance))]
        events = len(s.exec(select(AuditEvent)).all())
    for url in ["/api/v1/papers", "/api/v1/meetings", "/api/v1/tasks", "/api/v1/organizations"]:
        assert call(app, "GET", url, t)[0] == 200
    with database.unit_of_work() as s:
        assert [(i.id, i.version) for i in s.exec(select(ProcessInstance))] == before
        assert len(s.exec(select(AuditEvent)).all()) == events


# ----------------------------------------------------------------------------- the page "API-Zugänge"

def test_api_tokens_page_create_shown_once_use_revoke(app, demo, database, browser):  # type: ignore[no-untyped-def]
    import re

    from .conftest import text_of

    hoffmann = browser().login("hoffmann")
    page = hoffmann.get("/konto/tokens")
    assert page.status_code == 200 and "API-Zugänge" in text_of(page.get_data(as_text=True))
    page.close()
    refused = hoffmann.client.post("/konto/tokens", data={"action": "create", "name": "x", "scopes": "tasks:read"})
    assert refused.status_code == 400  # no CSRF token in the form
    refused.close()
    made = hoffmann.post("/konto/tokens", {"action": "create", "name": "Fachverfahren", "expires": "30",
                                           "scopes": ["tasks:read", "tasks:write"]})
    html = made.get_data(as_text=True)
    made.close()
    assert made.status_code == 201
    plain = re.search(r"<code>(rf_[^<]+)</code>", html).group(1)
    assert call(app, "GET", "/api/v1/tasks", plain)[0] == 200
    again = hoffmann.get("/konto/tokens")
    listing = again.get_data(as_text=True)
    again.close()
    assert plain not in listing and plain[:10] in listing and "Fachverfahren" in listing
    with database.unit_of_work() as s:
        row = tokens.find(s, plain)
        assert row.scopes == "tasks:read tasks:write" and row.expires == NOW + timedelta(days=30)
    # Another account cannot revoke it; its owner can.
    schmitz = browser().login("schmitz")
    other = schmitz.post("/konto/tokens", {"action": "revoke", "token_id": str(row.id)})
    assert other.status_code == 403
    other.close()
    gone = hoffmann.post("/konto/tokens", {"action": "revoke", "token_id": str(row.id)})
    assert gone.status_code == 200 and "widerrufen" in text_of(gone.get_data(as_text=True))
    gone.close()
    assert call(app, "GET", "/api/v1/tasks", plain)[0] == 401
    bad = hoffmann.post("/konto/tokens", {"action": "create", "name": "", "scopes": []})
    assert bad.status_code == 422
    bad.close()


def test_admin_creates_a_token_for_a_service_account(app, demo, database, browser, actor):  # type: ignore[no-untyped-def]
    import re

    becker = actor("becker")
    admin = browser().login("admin")
    made = admin.post("/konto/tokens", {"action": "create", "name": "Ratsinfo-Export", "expires": "0",
                                        "account": str(becker.account_id), "scopes": ["meetings:read"]})
    html = made.get_data(as_text=True)
    made.close()
    assert made.status_code == 201
    plain = re.search(r"<code>(rf_[^<]+)</code>", html).group(1)
    with database.unit_of_work() as s:
        row = tokens.find(s, plain)
        assert row.account_id == becker.account_id and row.created_by == "admin" and row.expires is None
    assert call(app, "GET", "/api/v1/meetings", plain)[0] == 200
    assert call(app, "GET", "/api/v1/tasks", plain)[0] == 403
    page = admin.get("/konto/tokens")
    assert "Ratsinfo-Export" in page.get_data(as_text=True) and "becker" in page.get_data(as_text=True)
    page.close()
    # Not an admin: the account field is ignored, the token is one's own.
    hoffmann = browser().login("hoffmann")
    own = hoffmann.post("/konto/tokens", {"action": "create", "name": "Eigener", "scopes": ["tasks:read"],
                                          "account": str(becker.account_id)})
    own.close()
    with database.unit_of_work() as s:
        mine = tokens.list_for(s, actor("hoffmann").account_id)
        assert [t.name for t in mine] == ["Eigener"]
