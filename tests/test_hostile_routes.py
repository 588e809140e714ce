"""Hostile values into every route, as every role: never a 5xx.

Hypothesis throws ids beyond the databases' integers, negative numbers, NUL and other
control characters, very long strings, unicode, ``../`` into each route's URL parameters,
query string and form fields (a JSON body for the API). Derandomized, so CI sees the same
requests each run.

Then, for every route, each of the cases of issue 21 once (no sampling can miss them): a
JSON body nested 100,000 deep (400 with the German message, whoever sends it), ids in
other digits than ASCII (``/vorlagen/١``: 404), every field at once with ``²``, ``١``, 5,000
digits or a line break for a redirect, and crafted list cursors.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.inputs import BoundedIntConverter

from .test_access_matrix import ROLES
from .test_hostile_input import CURSORS, DEEP, FIVE_THOUSAND

HOSTILE = [str(2**31), str(2**31 - 1), str(2**63), str(2**64), "-1", "0", "00", "1e309", "NaN", " 7 ", "１２",
           "²", "1²", "١٢", "\x00", "a\x00b", "\x1b[31m", "\x7f", "line\nbreak", "\t", "x" * 5000, "ü€𝄞",
           "../../etc/passwd", "..\\..\\boot.ini", "%00", "%2e%2e%2f", "' OR 1=1 --", "<script>", "",
           "true", "2024-02-30", "31.02.2024", "up:99999999999", "order", "public:-1", "lead-1", "{}", "[]",
           FIVE_THOUSAND, "١", "٣٤", "up:١", "/aufgaben\r\nX-Evil: 1", "/aufgaben/\n", *CURSORS[::5]]
#: What every field of every route gets at once (the issue 21 cases), as the one who may most.
EVERY_FIELD = ["²", "١", "１２", FIVE_THOUSAND, "1e400", "/aufgaben\r\nX-Evil: 1"]
#: The names list pages read their page from.
PAGING = ["cursor", "vor", "after", "nach", "page", "seite", "limit"]

FIELDS = ["action", "anchor", "audience", "back", "bis", "body_id", "classification", "clerk_id",
          "count_session_day", "date", "days", "due_filter", "end_date", "end_time", "ereignis", "follow_up",
          "form", "gremium", "holder", "location", "meeting", "name", "order", "organization",
          "organization_id", "paper_type", "password", "person", "person_id", "public", "q", "reason",
          "role", "save", "sitzung", "sort", "start", "start_date", "start_time", "state", "task", "text",
          "under_direction_of_id", "user", "username", "version", "view", "von", "vorlage", "voting_right",
          "working_days", "next", "limit", "cursor", "overdue", "due_soon", "vor", "reference", "expected_version",
          "data", "invitation_days", "agenda_days_before", "result_working_days", "family_name", "given_name",
          "email", "consultations-0-organization_id", "consultations-0-meeting_id", "consultations-0-role",
          "version-1", "lead-1", "meeting_id", "oeffentlich", "ergebnis", "top_nummer", "short_name"]

values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
fields = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)
_PART = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _url(rule: Any, args: list[str]) -> str:
    """The rule's path with hostile values in its parameters (``any(…)`` gets one of its own)."""
    supply = iter(args)

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "any":
            return "csv"
        return quote(next(supply, "1"), safe="")

    return _PART.sub(one, rule.rule)


def test_no_route_answers_5xx_to_hostile_input(app, demo, others, browser) -> None:  # type: ignore[no-untyped-def]
    clients = {role: browser() if role == "anonymous" else browser().login(role) for role in ROLES}
    for client in clients.values():
        client.csrf()
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    failures: list[str] = []

    def attempts(rule: Any) -> Any:
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})

        @settings(max_examples=6, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(role=st.sampled_from(ROLES), method=st.sampled_from(methods),
               args=st.lists(values, min_size=3, max_size=3), query=fields, form=fields,
               as_json=st.booleans())
        def attempt(role: str, method: str, args: list[str], query: dict[str, str], form: dict[str, str],
                    as_json: bool) -> None:
            client = browser() if rule.endpoint == "auth.logout" else clients[role]  # keep the logins
            url = _url(rule, args)
            if method == "GET":
                response = client.client.get(url, query_string=query)
            elif url.startswith("/api/") and as_json:
                response = client.client.post(url, query_string=query, json=form)
            else:
                response = client.post(url, form, query_string=query)
            status = response.status_code
            response.close()
            if status >= 500:
                failures.append(f"{method} {url!r} as {role} query={query!r} form={form!r}: {status}")

        return attempt

    for rule in rules:  # first each URL parameter at the edges, as the one who may most
        if rule.arguments - {"format"}:
            for edge in (str(2**31), str(2**63), "²", "a\x00b", "١", "１", FIVE_THOUSAND):
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    url = _url(rule, [edge] * 3)
                    response = clients["admin"].client.open(url, method=method)
                    if response.status_code >= 500:
                        failures.append(f"{method} {url!r} as admin: {response.status_code}")
                    response.close()
    for rule in rules:
        _issue_21_cases(rule, clients, browser, failures)
    for rule in rules:
        attempts(rule)()
    assert failures == []


def _value(converter: Any, digit: str) -> str:
    """``digit`` for an id, a value the route takes for any other parameter."""
    if isinstance(converter, BoundedIntConverter):
        return digit
    return sorted(getattr(converter, "items", None) or ["1"])[0]  # any(…): one of its words


def _issue_21_cases(rule: Any, clients: dict[str, Any], browser: Any, failures: list[str]) -> None:
    """Each case of issue 21 once on ``rule``: deep JSON, Unicode digits in its ids, hostile
    numbers and redirects in every field, crafted cursors."""
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
    url = _PART.sub(lambda m: _value(rule._converters.get(m.group(2)), "1"), rule.rule)  # a URL it matches
    admin = browser().login("admin") if rule.endpoint == "auth.logout" else clients["admin"]  # keep the login
    for method in methods:
        for who in ("anonymous", "admin"):
            for body in DEEP:
                response = clients[who].client.open(url, method=method, data=body, content_type="application/json")
                text = response.get_data(as_text=True)
                response.close()
                if response.status_code != 400 or "zu tief verschachtelt" not in text:
                    failures.append(f"{method} {url} deep JSON as {who}: {response.status_code}")
        for value in EVERY_FIELD:
            form = {name: value for name in FIELDS}
            if method == "GET":
                response = admin.client.get(url, query_string=form)
            else:
                response = admin.post(url, form, query_string=form)
            if response.status_code >= 500 or "X-Evil" in response.headers:
                failures.append(f"{method} {url} every field {value[:20]!r}: {response.status_code}")
            response.close()
    if "GET" in methods:
        for cursor in CURSORS:
            response = admin.client.get(url, query_string={name: cursor for name in PAGING})
            if response.status_code >= 500:
                failures.append(f"GET {url} cursor {cursor[:30]!r}: {response.status_code}")
            response.close()
    if any(isinstance(c, BoundedIntConverter) for c in rule._converters.values()):
        for digit in ("١", "１", "²"):  # never the object of id 1 (or 2)
            other = _PART.sub(lambda m, d=digit: _value(rule._converters.get(m.group(2)), d), rule.rule)
            for method in methods:
                response = admin.client.open(other, method=method)
                if response.status_code != 404:
                    failures.append(f"{method} {other} (Unicode digit id): {response.status_code}")
                response.close()
