"""Least privilege, proven: every route of the app, as every role, answers as this table says.

The table has a row for every (endpoint, method) of ``app.url_map``; a route without one
fails :func:`test_every_route_has_a_row` (a new route cannot ship without saying who may use
it). A row's URL is filled from :func:`_ids` (the seed Vorlage 2024/063, its open task, its
Sitzung …). POSTs send an empty or harmless form: what counts is 403/404 for a role that may
not and another answer (302, 200, 409, 422) for one that may.

To add a route: add a ``Row(endpoint, method, url, anonymous, member, secretary,
other_secretary, clerk, auditor, admin)`` (each role's status). Several rows for one route are
fine (e.g. a public and a non-public Vorlage).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from engine import standins
from engine.accounts import Account, create_account
from engine.calendar import reminders
from engine.council import (
    ROLE_AUDITOR,
    AgendaItem,
    Body,
    Consultation,
    File,
    Grant,
    Meeting,
    Membership,
    Organization,
    Paper,
)
from engine.files import FileStore
from engine.outbox import FAILED, OutboxMessage
from engine.tasks import TASK_READY, HumanTask, SavedFilter
from engine.types import utcnow
from engine.workflow.models import ProcessInstance

from .conftest import NOW

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = pytest.mark.sqlite_only

#: The roles, in the order of a row's statuses.
ROLES = ("anonymous", "becker", "hoffmann", "krause", "zierstedt", "krueger", "admin")
LOGIN = 302  # what a page behind the login answers the anonymous visitor (to /anmelden)


@dataclass(frozen=True)
class Row:
    endpoint: str
    method: str
    url: str
    statuses: tuple[int, ...]  # one per role of ROLES
    data: dict[str, Any] = field(default_factory=dict)
    json: Any = None

    def __init__(self, endpoint: str, method: str, url: str, *statuses: int, data: dict[str, Any] | None = None,
                 json: Any = None) -> None:
        assert len(statuses) == len(ROLES), f"{endpoint} {method}: {len(statuses)} statuses"
        object.__setattr__(self, "endpoint", endpoint)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "data", data or {})
        object.__setattr__(self, "json", json)


#       endpoint, method, URL                       anon  becker hoffm. krause zierst. krueger admin
TABLE: list[Row] = [
    # --- public pages, calendars, assets
    Row("public.index", "GET", "/", 200, 200, 200, 200, 200, 200, 200),
    Row("public.paper", "GET", "/vorlagen/{paper}", 200, 200, 200, 200, 200, 200, 200),
    Row("public.paper", "GET", "/vorlagen/{secret}", 404, 200, 200, 404, 200, 200, 200),
    Row("public.download", "GET", "/dateien/{file}", 200, 200, 200, 200, 200, 200, 200),
    Row("public.download", "GET", "/dateien/{secret_file}", 404, 200, 200, 404, 200, 200, 200),
    Row("healthz", "GET", "/healthz", 200, 200, 200, 200, 200, 200, 200),
    Row("static", "GET", "/static/ratsflow.css", 200, 200, 200, 200, 200, 200, 200),
    Row("vendor_css", "GET", "/vendor/pico.min.css", 200, 200, 200, 200, 200, 200, 200),
    Row("vendor_bpmn", "GET", "/vendor/bpmn-js/bpmn-js.css", 200, 200, 200, 200, 200, 200, 200),
    Row("vendor_panel", "GET", "/vendor/properties-panel/properties-panel.css", 200, 200, 200, 200, 200, 200, 200),
    Row("vendor_bpmn_font", "GET", "/vendor/bpmn-font/css/bpmn.css", 200, 200, 200, 200, 200, 200, 200),
    Row("meetings.public_calendar", "GET", "/kalender.ics", 200, 200, 200, 200, 200, 200, 200),
    Row("meetings.gremium_calendar", "GET", "/kalender/{committee}.ics", 200, 200, 200, 200, 200, 200, 200),
    Row("meetings.personal_calendar", "GET", "/kalender/persoenlich/{token}.ics",
        200, 200, 200, 200, 200, 200, 200),
    Row("meetings.meeting", "GET", "/sitzungen/{meeting}", 200, 200, 200, 200, 200, 200, 200),
    # --- login
    Row("auth.login", "GET", "/anmelden", 200, 200, 200, 200, 200, 200, 200),
    Row("auth.login", "POST", "/anmelden", 401, 401, 401, 401, 401, 401, 401),
    Row("auth.logout", "POST", "/abmelden", 302, 302, 302, 302, 302, 302, 302),
    Row("auth.logout_everywhere", "POST", "/abmelden/ueberall", 302, 302, 302, 302, 302, 302, 302),
    # No OpenID provider is configured here: both answer 404 (tests/test_oidc.py has the flow).
    Row("oidc.start", "GET", "/anmelden/oidc/keycloak", 404, 404, 404, 404, 404, 404, 404),
    Row("oidc.callback", "GET", "/anmelden/oidc/keycloak/callback", 404, 404, 404, 404, 404, 404, 404),
    # --- one's own account
    Row("account.index", "GET", "/konto", LOGIN, 200, 200, 200, 200, 200, 200),
    Row("account.password", "POST", "/konto/passwort", LOGIN, 422, 422, 422, 422, 422, 422),
    # Vertretung: one's own (an empty form: 422); a period ends by those in it or the Administration.
    Row("account.stand_in", "POST", "/konto/vertretung", LOGIN, 422, 422, 422, 422, 422, 422),
    Row("account.end_stand_in", "POST", "/konto/vertretung/{stand_in}/beenden", LOGIN, 403, 302, 403, 403, 403, 302),
    # --- the inbox and a task (the seed's open result step, the AWSG Sekretariat's)
    Row("inbox.index", "GET", "/aufgaben/", LOGIN, 200, 200, 200, 200, 200, 200),
    Row("inbox.list_fragment", "GET", "/aufgaben/liste", LOGIN, 200, 200, 200, 200, 200, 200),
    Row("inbox.task", "GET", "/aufgaben/{task}", LOGIN, 403, 200, 403, 403, 403, 200),
    Row("inbox.task", "POST", "/aufgaben/{task}", LOGIN, 403, 422, 403, 403, 403, 422,
        data={"version": "{version}"}),
    Row("inbox.claim", "POST", "/aufgaben/{task}/uebernehmen", LOGIN, 403, 302, 403, 403, 403, 302),
    Row("inbox.unclaim", "POST", "/aufgaben/{task}/zurueckgeben", LOGIN, 403, 302, 403, 403, 403, 302),
    Row("inbox.assign", "POST", "/aufgaben/{task}/zuweisen", LOGIN, 403, 422, 403, 403, 403, 422),
    Row("inbox.delegate", "POST", "/aufgaben/{task}/delegieren", LOGIN, 403, 422, 403, 403, 403, 422),
    Row("inbox.resolve", "POST", "/aufgaben/{task}/erledigt-zurueck", LOGIN, 403, 409, 403, 403, 403, 409),
    Row("inbox.follow_up", "POST", "/aufgaben/{task}/wiedervorlage", LOGIN, 403, 409, 403, 403, 403, 409),
    Row("inbox.comment", "POST", "/aufgaben/{task}/kommentare", LOGIN, 403, 422, 403, 403, 403, 422),
    Row("inbox.save_filter", "POST", "/aufgaben/filter", LOGIN, 422, 422, 422, 422, 422, 422),
    Row("inbox.delete_filter", "POST", "/aufgaben/filter/{filter}/loeschen", LOGIN, 404, 302, 404, 404, 404, 404),
    Row("inbox.bulk_noted", "POST", "/aufgaben/kenntnisnahme", LOGIN, 302, 302, 302, 302, 302, 302),
    Row("inbox.release_result", "POST", "/aufgaben/top/{item}/freigeben", LOGIN, 403, 409, 403, 403, 403, 409),
    # --- the JSON API (the same task)
    Row("api.task_list", "GET", "/api/v1/tasks", 401, 200, 200, 200, 200, 200, 200),
    Row("api.task_detail", "GET", "/api/v1/tasks/{task}", 401, 403, 200, 403, 403, 403, 200),
    Row("api.claim", "POST", "/api/v1/tasks/{task}/claim", 401, 403, 200, 403, 403, 403, 200),
    Row("api.unclaim", "POST", "/api/v1/tasks/{task}/unclaim", 401, 403, 200, 403, 403, 403, 200),
    Row("api.assign", "POST", "/api/v1/tasks/{task}/assign", 401, 403, 422, 403, 403, 403, 422, json={}),
    Row("api.delegate", "POST", "/api/v1/tasks/{task}/delegate", 401, 403, 422, 403, 403, 403, 422, json={}),
    Row("api.resolve", "POST", "/api/v1/tasks/{task}/resolve", 401, 403, 409, 403, 403, 403, 409),
    Row("api.follow_up", "POST", "/api/v1/tasks/{task}/follow-up", 401, 403, 422, 403, 403, 403, 422, json={}),
    Row("api.comment", "POST", "/api/v1/tasks/{task}/comments", 401, 403, 422, 403, 403, 403, 422, json={}),
    Row("api.complete", "POST", "/api/v1/tasks/{task}/complete", 401, 403, 422, 403, 403, 403, 422, json={}),
    Row("api.start_lifecycle", "POST", "/api/v1/papers/{paper}/lifecycle", 401, 403, 403, 403, 409, 403, 409,
        json={}),
    Row("api.models_check", "POST", "/api/v1/models/check", 401, 403, 403, 403, 403, 403, 422, json={}),
    Row("api.models_deploy", "POST", "/api/v1/models", 401, 403, 403, 403, 403, 403, 422, json={}),
    # --- the JSON API's reading routes (cookie here; tests/test_api_v1.py has tokens and scopes)
    Row("api.openapi", "GET", "/api/v1/openapi.json", 200, 200, 200, 200, 200, 200, 200),
    Row("api.docs", "GET", "/api/v1/docs", 200, 200, 200, 200, 200, 200, 200),
    Row("api.paper_list", "GET", "/api/v1/papers", 401, 200, 200, 200, 200, 200, 200),
    Row("api.paper_detail", "GET", "/api/v1/papers/{paper}", 401, 200, 200, 200, 200, 200, 200),
    Row("api.paper_detail", "GET", "/api/v1/papers/{secret}", 401, 200, 200, 404, 200, 200, 200),
    Row("api.meeting_list", "GET", "/api/v1/meetings", 401, 200, 200, 200, 200, 200, 200),
    Row("api.meeting_detail", "GET", "/api/v1/meetings/{meeting}", 401, 200, 200, 200, 200, 200, 200),
    Row("api.organization_list", "GET", "/api/v1/organizations", 401, 200, 200, 200, 200, 200, 200),
    Row("api.organization_detail", "GET", "/api/v1/organizations/{committee}",
        401, 200, 200, 200, 200, 200, 200),
    Row("api.person_list", "GET", "/api/v1/persons", 401, 200, 200, 200, 200, 200, 200),
    Row("api.person_detail", "GET", "/api/v1/persons/{person}", 401, 200, 200, 200, 200, 200, 200),
    Row("api.membership_list", "GET", "/api/v1/memberships", 401, 200, 200, 200, 200, 200, 200),
    Row("api.process_instance", "GET", "/api/v1/process-instances/{instance}",
        401, 403, 200, 403, 403, 200, 200),
    Row("api.process_history", "GET", "/api/v1/process-instances/{instance}/history",
        401, 403, 403, 403, 403, 200, 200),
    Row("api.my_reminders", "GET", "/api/v1/me/reminders", 401, 200, 200, 200, 200, 200, 200),
    Row("tokens.index", "GET", "/konto/tokens", LOGIN, 200, 200, 200, 200, 200, 200),
    Row("tokens.index", "POST", "/konto/tokens", LOGIN, 422, 422, 422, 422, 422, 422),
    # --- Vorlagen (clerks) and Sitzungen (secretaries)
    Row("papers.new_paper", "GET", "/vorlagen/neu", LOGIN, 403, 403, 403, 200, 403, 200),
    Row("papers.new_paper", "POST", "/vorlagen/neu", LOGIN, 403, 403, 403, 422, 403, 422),
    Row("papers.start", "POST", "/vorlagen/{paper}/starten", LOGIN, 403, 403, 403, 409, 403, 409),
    Row("papers.start", "POST", "/vorlagen/{secret}/starten", LOGIN, 403, 403, 404, 302, 403, 302),
    Row("papers.start_lifecycle", "POST", "/vorlagen/{paper}/lebenslauf", LOGIN, 403, 403, 403, 409, 403, 409),
    # (the row above has started its Beratungsfolge: the clerk and the admin may, and are told it runs)
    Row("papers.start_lifecycle", "POST", "/vorlagen/{secret}/lebenslauf", LOGIN, 403, 403, 404, 409, 403,
        409),
    Row("papers.resolution_excerpt", "GET", "/vorlagen/{paper}/beschlussauszug.pdf", LOGIN, 403, 403, 403, 409, 409,
        409),  # no result recorded yet (the seed's result step is open)
    Row("papers.resolution_excerpt", "GET", "/vorlagen/{secret}/beschlussauszug.pdf", LOGIN, 403, 403, 404, 409,
        409, 409),
    Row("meetings.implementation", "GET", "/beschlusskontrolle", LOGIN, 403, 200, 200, 403, 403, 403),
    # the seed is not on the committee's implementation list: its Sekretariat (and admin) are told so (404)
    Row("meetings.implementation_report", "POST", "/beschlusskontrolle/bericht", LOGIN, 403, 404, 403, 403, 403,
        404, data={"meeting_id": "{later}", "paper_id": "{paper}"}),
    Row("papers.meetings", "GET", "/sitzungen", 200, 200, 200, 200, 200, 200, 200),  # the public calendar
    Row("papers.new_meeting", "GET", "/sitzungen/neu", LOGIN, 403, 200, 200, 403, 403, 200),
    Row("papers.new_meeting", "POST", "/sitzungen/neu", LOGIN, 403, 422, 422, 403, 403, 422),
    Row("meetings.invite", "POST", "/sitzungen/{meeting}/einladen", LOGIN, 403, 409, 403, 403, 403, 409),
    Row("meetings.move", "POST", "/sitzungen/{later}/verlegen", LOGIN, 403, 422, 403, 403, 403, 422),
    Row("meetings.cancel", "POST", "/sitzungen/{later}/absagen", LOGIN, 403, 422, 403, 403, 403, 422),
    Row("meetings.agenda_change", "POST", "/sitzungen/{later}/tagesordnung",
        LOGIN, 403, 422, 403, 403, 403, 422),
    Row("meetings.mine", "GET", "/meine-sitzungen", LOGIN, 200, 200, 200, 200, 200, 200),
    Row("meetings.mine", "POST", "/meine-sitzungen", LOGIN, 400, 400, 200, 400, 400, 200),  # no action: 400
    # Issue 19: attendance, Befangenheit, roll call, § 49 Abs. 2 (the Sekretariat, in its past session) …
    Row("meetings.record_attendance", "POST", "/sitzungen/{meeting}/anwesenheit",
        LOGIN, 403, 422, 403, 403, 403, 422),
    Row("meetings.bias", "POST", "/sitzungen/{meeting}/tops/{item}/befangenheit",
        LOGIN, 403, 422, 403, 403, 403, 422),
    Row("meetings.roll_call", "POST", "/sitzungen/{meeting}/tops/{item}/namentlich",
        LOGIN, 403, 409, 403, 403, 403, 409),  # 409: attendance not recorded yet
    Row("meetings.repeat_call", "POST", "/sitzungen/{meeting}/tops/{item}/erneute-einberufung",
        LOGIN, 403, 422, 403, 403, 403, 422),
    Row("meetings.bias", "POST", "/sitzungen/{meeting}/tops/999999/befangenheit",
        LOGIN, 404, 404, 404, 404, 404, 404),
    # The Niederschrift (issue 19, point 4): the Sekretariat writes it; the draft for the Gremium's
    # members and staff; released, the public part for everyone, the non-public part for those who
    # see the closed part (nothing released yet here: 404; tests/test_minutes.py has the 200s).
    Row("meetings.minutes_edit", "POST", "/sitzungen/{meeting}/niederschrift",
        LOGIN, 403, 302, 403, 403, 403, 302),
    Row("meetings.minutes_draft_pdf", "GET", "/sitzungen/{meeting}/niederschrift-entwurf.pdf",
        LOGIN, 200, 200, 403, 403, 200, 200),
    Row("meetings.minutes_pdf", "GET", "/sitzungen/{meeting}/niederschrift.pdf", 404, 404, 404, 404, 404, 404, 404),
    Row("meetings.minutes_closed_pdf", "GET", "/sitzungen/{meeting}/niederschrift-nichtoeffentlich.pdf",
        LOGIN, 404, 404, 403, 403, 404, 404),
    # … and the member's own apology (a session ahead) and Befangenheit (a session begun: 409).
    Row("meetings.apology", "POST", "/meine-sitzungen/{later}/entschuldigung", LOGIN, 302, 403, 403, 403, 403, 403),
    Row("meetings.my_bias", "POST", "/meine-sitzungen/tops/{item}/befangenheit",
        LOGIN, 409, 403, 403, 403, 403, 403),
    # The Sitzungsmappe: for everyone logged in, with what each may see (the non-public part only
    # for the Gremium's members, Sekretariat, Revision and the administration: tests/test_mappe.py
    # checks the contents per role); no Mappe of a Sitzung that is not there.
    Row("meetings.sitzungsmappe", "GET", "/meine-sitzungen/{later}/sitzungsmappe.pdf",
        LOGIN, 200, 200, 200, 200, 200, 200),
    Row("meetings.sitzungsmappe", "GET", "/meine-sitzungen/{later}/sitzungsmappe.zip",
        LOGIN, 200, 200, 200, 200, 200, 200),
    Row("meetings.sitzungsmappe", "GET", "/meine-sitzungen/999999/sitzungsmappe.zip",
        LOGIN, 404, 404, 404, 404, 404, 404),
    # Sitzungsgeld: the Sekretariat of a Gremium (krause: his own) and the administration.
    Row("meetings.allowances", "GET", "/sitzungsgeld", LOGIN, 403, 200, 200, 403, 403, 200),
    Row("meetings.allowances", "GET", "/sitzungsgeld?gremium={committee}", LOGIN, 403, 200, 403, 403, 403, 200),
    Row("meetings.allowance_export", "POST", "/sitzungsgeld/export", LOGIN, 403, 422, 422, 403, 403, 422),
    Row("meetings.allowance_export", "POST", "/sitzungsgeld/export?gremium={committee}&monat=11.2026",
        LOGIN, 403, 200, 403, 403, 403, 200),
    # The reminder's unsubscribe link (RFC 8058): the signed link is the permission, no login,
    # no CSRF token (a mail client's one-click POST has none); a link not signed here is 404.
    Row("meetings.unsubscribe", "GET", "/erinnerungen/abbestellen/{unsubscribe}", 200, 200, 200, 200, 200, 200, 200),
    Row("meetings.unsubscribe", "GET", "/erinnerungen/abbestellen/{unsubscribe}x", 404, 404, 404, 404, 404, 404, 404),
    Row("meetings.unsubscribe", "POST", "/erinnerungen/abbestellen/{unsubscribe}", 200, 200, 200, 200, 200, 200, 200),
    # --- Revision
    Row("audit.index", "GET", "/revision/", LOGIN, 403, 403, 403, 403, 200, 200),
    Row("audit.export", "GET", "/revision/export.csv", LOGIN, 403, 403, 403, 403, 200, 200),
    Row("audit.timeline", "GET", "/revision/vorlagen/{paper}", LOGIN, 403, 403, 403, 403, 200, 200),
    Row("audit.diagram", "GET", "/revision/vorgaenge/{instance}/diagramm", LOGIN, 403, 403, 403, 403, 200, 200),
    Row("audit.diagram_model", "GET", "/revision/vorgaenge/{instance}/modell.bpmn",
        LOGIN, 403, 403, 403, 403, 200, 200),
    Row("audit.diagram_json", "GET", "/revision/vorgaenge/{instance}/stand.json",
        LOGIN, 403, 403, 403, 403, 200, 200),
    # --- Verwaltung (administration only)
    Row("admin.gremien", "GET", "/verwaltung/gremien", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("admin.rules", "GET", "/verwaltung/gremien/{committee}/fristen", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("modeler.index", "GET", "/verwaltung/modeler/", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("modeler.edit", "GET", "/verwaltung/modeler/{model}", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("modeler.model_xml", "GET", "/verwaltung/modeler/{model}/modell.bpmn", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("modeler.bundle", "GET", "/verwaltung/modeler/modeler.js", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("admin.rules", "POST", "/verwaltung/gremien/{committee}/fristen", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("admin.body_state", "POST", "/verwaltung/koerperschaften/{body}/land",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("people.organizations", "GET", "/verwaltung/gremien/verzeichnis", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("people.organizations", "POST", "/verwaltung/gremien/verzeichnis",
        LOGIN, 403, 403, 403, 403, 403, 422),
    Row("people.organization", "GET", "/verwaltung/gremien/{committee}", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("people.organization", "POST", "/verwaltung/gremien/{committee}", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("people.add_membership", "POST", "/verwaltung/gremien/{committee}/mitglieder",
        LOGIN, 403, 403, 403, 403, 403, 422),
    Row("people.reminder_rules", "POST", "/verwaltung/gremien/{committee}/erinnerungen",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("people.allowance_rate", "POST", "/verwaltung/gremien/{committee}/sitzungsgeld",
        LOGIN, 403, 403, 403, 403, 403, 422),
    Row("people.end_membership", "POST", "/verwaltung/mitgliedschaften/{membership}/ende",
        LOGIN, 403, 403, 403, 403, 403, 303),
    Row("people.persons", "GET", "/verwaltung/personen", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("people.persons", "POST", "/verwaltung/personen", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("people.person", "GET", "/verwaltung/personen/{person}", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("people.person", "POST", "/verwaltung/personen/{person}", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("people.outbox_page", "GET", "/verwaltung/postausgang", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("people.retry_message", "POST", "/verwaltung/postausgang/{message}/erneut",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("people.resume", "POST", "/verwaltung/stoerungen/{instance}/fortsetzen",
        LOGIN, 403, 403, 403, 403, 403, 303),
    Row("accounts.index", "GET", "/verwaltung/konten", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("accounts.index", "POST", "/verwaltung/konten", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("accounts.account", "GET", "/verwaltung/konten/{account}", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("accounts.account", "POST", "/verwaltung/konten/{account}", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("accounts.add_grant", "POST", "/verwaltung/konten/{account}/rollen", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("accounts.remove_grant", "POST", "/verwaltung/konten/{account}/rollen/{grant}/entfernen",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("accounts.disable", "POST", "/verwaltung/konten/{account}/deaktivieren",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("accounts.enable", "POST", "/verwaltung/konten/{account}/aktivieren",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("accounts.set_password", "POST", "/verwaltung/konten/{account}/passwort",
        LOGIN, 403, 403, 403, 403, 403, 422),
    Row("accounts.stand_in", "POST", "/verwaltung/konten/{account}/vertretung",
        LOGIN, 403, 403, 403, 403, 403, 422),
    Row("accounts.end_stand_in", "POST", "/verwaltung/konten/vertretung/{stand_in}/beenden",
        LOGIN, 403, 403, 403, 403, 403, 302),
    Row("models.index", "GET", "/verwaltung/prozessmodelle", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("models.upload", "POST", "/verwaltung/prozessmodelle", LOGIN, 403, 403, 403, 403, 403, 422),
    Row("models.version", "GET", "/verwaltung/prozessmodelle/{model}", LOGIN, 403, 403, 403, 403, 403, 200),
    Row("models.download", "GET", "/verwaltung/prozessmodelle/{model}/beratungsfolge-version-1.bpmn",
        LOGIN, 403, 403, 403, 403, 403, 200),
    Row("models.compare", "GET", "/verwaltung/prozessmodelle/vergleich?von={model}&zu={model}",
        LOGIN, 403, 403, 403, 403, 403, 200),
    # --- OParl 1.1: public data only, the same for everyone (logged in or not)
    Row("oparl.system", "GET", "/oparl/v1.1/system", 200, 200, 200, 200, 200, 200, 200),
    Row("oparl.bodies", "GET", "/oparl/v1.1/body", 200, 200, 200, 200, 200, 200, 200),
    Row("oparl.one", "GET", "/oparl/v1.1/paper/{paper}", 200, 200, 200, 200, 200, 200, 200),
    Row("oparl.one", "GET", "/oparl/v1.1/paper/{secret}", 404, 404, 404, 404, 404, 404, 404),
    Row("oparl.body_list", "GET", "/oparl/v1.1/body/{body}/paper", 200, 200, 200, 200, 200, 200, 200),
    Row("oparl.organization_meetings", "GET", "/oparl/v1.1/organization/{committee}/meeting",
        200, 200, 200, 200, 200, 200, 200),
    Row("oparl.meeting_minutes", "GET", "/oparl/v1.1/meeting/{meeting}/resultsProtocol",
        404, 404, 404, 404, 404, 404, 404),  # nothing released (tests/test_minutes.py: the 200)
    Row("oparl.file_access", "GET", "/oparl/v1.1/file/{file}/access", 200, 200, 200, 200, 200, 200, 200),
    Row("oparl.file_download", "GET", "/oparl/v1.1/file/{secret_file}/download",
        404, 404, 404, 404, 404, 404, 404),
]

#: Rows whose request changes what later rows see run last (logging out ends the session).
LAST = {"auth.logout", "auth.logout_everywhere"}


def _ids(database: Any, demo: Any) -> dict[str, Any]:
    """The ids the table's URLs name, from the seed (and a few rows made for the table)."""
    with database.unit_of_work() as s:
        paper = s.get(Paper, demo.paper_id)
        assert paper is not None
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper.id,
                                              HumanTask.status == TASK_READY)).one()
        instance = s.get(ProcessInstance, task.process_instance_id)
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()  # past
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()  # ahead
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
        item = s.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id)).first()
        becker = s.exec(select(Account).where(Account.username == "becker")).one()
        hoffmann = s.exec(select(Account).where(Account.username == "hoffmann")).one()
        membership = s.exec(select(Membership).where(Membership.person_id == becker.person_id)).first()
        saved = SavedFilter(account_id=hoffmann.id, name="Überfällig", query="overdue=true")
        secret = Paper(body_id=paper.body_id, reference="2024/099", name="Grundstücksangelegenheit",
                       public=False, under_direction_of_id=paper.under_direction_of_id)
        message = OutboxMessage(message_id="<matrix@example.org>", to_address="x@example.org", subject="x",
                                body_text="x", cause="test", status=FAILED, next_attempt_at=utcnow())
        s.add_all([saved, secret, message])
        s.flush()
        s.add(Consultation(paper_id=secret.id, position=1, organization_id=committee.id))
        store = FileStore(database.settings.files_path)
        digest = store.put(s, b"%PDF-1.4 matrix")
        public_file = File(paper_id=paper.id, position=9, name="Anlage", file_name="a.pdf", size=15,
                           sha_512_checksum=digest, mime_type="application/pdf")
        secret_file = File(paper_id=secret.id, name="Gutachten", file_name="g.pdf", size=15,
                           sha_512_checksum=digest, mime_type="application/pdf")
        s.add_all([public_file, secret_file])
        s.flush()
        assert becker.person_id is not None
        token = reminders.new_calendar_token(s, becker.person_id, NOW)
        unsubscribe = reminders.unsubscribe_token(database.settings.signing_key(), becker.person_id, 7 * 24 * 60)
        body = s.exec(select(Body)).first()
        # An account of its own for the admin's verbs (disable, remove a grant …).
        other = create_account(s, "matrix", "matrix-passwort", "Matrix", [(ROLE_AUDITOR, None)])
        grant = s.exec(select(Grant).where(Grant.account_id == other.id)).one()
        # The matrix account away, hoffmann its stand-in (it lends no task rights: Revision has no lane).
        stand_in = standins.StandIn(absent_id=other.id, substitute_id=hoffmann.id, starts=NOW.date(),
                                    ends=NOW.date() + timedelta(days=5), created=NOW, created_by="admin")
        s.add(stand_in)
        s.flush()
        return {"paper": paper.id, "secret": secret.id, "file": public_file.id, "secret_file": secret_file.id,
                "task": task.id, "version": instance.version if instance else 0, "instance": task.process_instance_id,
                "model": instance.model_id if instance else 0,
                "meeting": meeting.id, "later": later.id, "committee": committee.id, "item": item.id if item else 0,
                "filter": saved.id, "membership": membership.id if membership else 0,
                "person": becker.person_id, "message": message.id, "body": body.id if body else 0,
                "token": token, "account": other.id, "grant": grant.id, "unsubscribe": unsubscribe,
                "stand_in": stand_in.id}


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    return value.format(**ids) if isinstance(value, str) else value


def _routes(app: Any) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_a_row_and_every_row_a_route(app) -> None:  # type: ignore[no-untyped-def]
    routes = _routes(app)
    rows = {(r.endpoint, r.method) for r in TABLE}
    assert sorted(routes - rows) == [], "routes without a row in tests/test_access_matrix.py TABLE"
    assert sorted(rows - routes) == [], "rows of routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_each_route_answers_each_role_as_the_table_says(app, database, demo, others, browser, role):  # type: ignore[no-untyped-def]
    ids = _ids(database, demo)
    index = ROLES.index(role)
    client = browser() if role == "anonymous" else browser().login(role)
    client.csrf()  # a session with a CSRF token, so a refused POST is refused for its role
    if role != "anonymous":
        client.login(role)
    wrong = []
    for row in sorted(TABLE, key=lambda r: r.endpoint in LAST):
        url = _fill(row.url, ids)
        if row.endpoint in LAST:
            client.csrf()  # the one before may have ended the session, and its token with it
        kwargs: dict[str, Any] = {}
        if row.json is not None:
            kwargs["json"] = row.json
        if row.method == "POST" and row.json is None and not url.startswith("/api/"):
            response = client.post(url, {k: _fill(v, ids) for k, v in row.data.items()})
        else:
            response = client.client.open(url, method=row.method, **kwargs)
        got = response.status_code
        response.close()
        if os.environ.get("RATSFLOW_MATRIX_PRINT"):
            print(f"MATRIX {row.endpoint} {row.method} {row.url} {role} {got}")
        if got != row.statuses[index]:
            wrong.append(f"{row.method} {url} ({row.endpoint}) as {role}: {got}, table says {row.statuses[index]}")
    assert wrong == []
