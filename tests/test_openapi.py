"""The OpenAPI document: valid OpenAPI 3.1, complete, and true — schemathesis generates
requests from it for every operation with a token of each role and checks that no answer is
a server error and every answer matches what the document says (status, content type,
schema, headers)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlmodel import col, select

from engine.council import Meeting, Organization, Person
from engine.identity import tokens
from engine.tasks import TASK_READY, HumanTask

from .conftest import NOW

ROLES = ["admin", "hoffmann", "becker", "zierstedt", "krueger"]
#: Examples per operation (and per real id): bounded, derandomized, so a run is repeatable.
EXAMPLES = 3


def _document(app):  # type: ignore[no-untyped-def]
    with app.test_client() as client:
        response = client.get("/api/v1/openapi.json")
        try:
            assert response.status_code == 200
            return response.get_json()
        finally:
            response.close()


def test_document_is_valid_openapi_31(app):  # type: ignore[no-untyped-def]
    doc = _document(app)
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    from web.api import ROUTES

    assert len(ROUTES) >= 22
    for route in ROUTES:
        path = "/api/v1" + route.rule.replace("<int:", "{").replace(">", "}")
        operation = doc["paths"][path][route.method.lower()]
        assert operation["security"][0] == {"bearer": [route.scope]}
        assert "401" in operation["responses"] and "403" in operation["responses"]
        assert route.scope in tokens.SCOPES
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "errors"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.sqlite_only
def test_the_cookie_scheme_names_the_login_cookie(demo, app, settings, browser):  # type: ignore[no-untyped-def]
    """Issue 20: the scheme said ``session``; the login cookie is ``ratsflow`` (over HTTPS
    ``__Host-ratsflow``), as a browser's login sets it."""
    import dataclasses

    from web import create_app

    cookie = _document(app)["components"]["securitySchemes"]["cookie"]
    assert (cookie["in"], cookie["name"]) == ("cookie", "ratsflow")
    client = browser().login("hoffmann").client
    assert client.get_cookie("ratsflow") is not None and client.get_cookie("session") is None
    secure = create_app(dataclasses.replace(settings, base_url="https://rat.example.org"), upgrade=False)
    try:
        assert _document(secure)["components"]["securitySchemes"]["cookie"]["name"] == "__Host-ratsflow"
    finally:
        secure.extensions["ratsflow.db"].dispose()


@pytest.mark.sqlite_only
def test_the_docs_page_is_our_own_german_html_with_every_operation_and_schema(app):  # type: ignore[no-untyped-def]
    """No Swagger UI (its 1 critical and 85 serious axe findings, its English): a page of our
    own, read from the document, without script (tests/test_browser.py runs axe on it)."""
    doc = _document(app)
    with app.test_client() as client:
        page = client.get("/api/v1/docs", headers={"Accept-Language": "de"})
        html = page.get_data(as_text=True)
        page.close()
    assert page.status_code == 200 and "<script" not in html and "https://" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<html lang="de">' in html and "<h1>API-Dokumentation</h1>" in html
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            anchor = f'id="op-{operation["operationId"]}"'
            assert anchor in html and f"<code>{method.upper()} {path}</code>" in html, (method, path)
            assert f"<code>{operation['x-scope']}</code>" in html
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in html and f'href="#schema-{name}"' in html, name
    assert "<code>ratsflow</code>" in html and "<code>X-CSRF-Token</code>" in html
    for words in ("Parameter", "Antworten", "Pflicht", "Ganzzahl", "Liste von", "Bereich des Tokens"):
        assert words in html, words
    assert "Swagger" not in html and client.get("/vendor/swagger-ui/swagger-ui.css").status_code == 404


def _real_ids(database) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        ready = s.exec(select(HumanTask).where(HumanTask.status == TASK_READY).order_by(col(HumanTask.id))).all()
        return {
            "task_id": [t.id for t in ready][:1],
            "instance_id": sorted({t.process_instance_id for t in ready})[:1],
            "paper_id": sorted({t.paper_id for t in ready if t.paper_id})[:1],
            "meeting_id": [m.id for m in s.exec(select(Meeting).order_by(col(Meeting.id)).limit(1))],
            "organization_id": [o.id for o in s.exec(select(Organization).order_by(col(Organization.id)).limit(1))],
            "person_id": [p.id for p in s.exec(select(Person).order_by(col(Person.id)).limit(1))],
        }


@pytest.mark.parametrize("username", ROLES)
def test_schemathesis_with_a_token_of_each_role(app, demo, database, actor, username):  # type: ignore[no-untyped-def]
    who = actor(username)
    with database.unit_of_work() as s:
        plain = tokens.create(s, who, who.account_id, "schemathesis", list(tokens.SCOPES),
                              NOW + timedelta(days=1), now=NOW).plain
    headers = {"Authorization": f"Bearer {plain}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    ids = _real_ids(database)
    calls = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        variants: list[dict[str, int]] = [{}]
        variants += [{name: value} for name in names for value in ids.get(name, [])]
        for fixed in variants:
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            @given(case=operation.as_strategy(path_parameters=fixed or None))
            def check(case) -> None:  # type: ignore[no-untyped-def]
                nonlocal calls
                calls += 1
                # A schema-valid request may still be refused with the documented 422: a cursor
                # is opaque (any string fits its schema, only the API's own ones are accepted),
                # and a task's form data is checked against that task's form at run time.
                response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
                assert response.status_code < 500, (case.method, case.formatted_path, response.text)

            check()
    assert calls > 60
