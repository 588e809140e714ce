"""The modeler in the browser (issue 17, point 5; administration only): bpmn-js Modeler with
its properties panel from npm, bundled with ratsflow's own panel group (``web/modeler/``, built
by esbuild at set-up into ``web/build/``). Two moddle descriptors: Camunda's (what
``engine/workflow/camunda.py`` reads from models drawn in Camunda Modeler: conditions, timers)
and ratsflow's (``spiffworkflow:properties``, which the engine reads: form, candidate Gremium,
due rule, completable from, effect, role, end state; and Python scripts), each offered as a
choice of what this server knows (:func:`vocabulary`). Checked and deployed through the same API
as any client (``POST /api/v1/models/check`` and ``/api/v1/models``, with the session's CSRF
token), so the browser hears the same findings as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, render_template, send_from_directory
from flask.typing import ResponseReturnValue
from sqlmodel import Session, col, select

from engine.council import Organization
from engine.process import procedures, rules
from engine.process.effects import EFFECTS
from engine.workflow.models import ProcessModel

from .admin import require_admin
from .auth import login_required
from .i18n import gettext as _
from .views import request_session

#: Where ``npm --prefix web ci`` leaves the bundled modeler (``npm run build``).
BUILD_DIR = Path(__file__).resolve().parent / "build"
#: The inline style attributes the properties panel writes on its two containers
#: (@bpmn-io/properties-panel), allowed by hash in this page's Content-Security-Policy.
PANEL_STYLE_ATTRIBUTES = ("height: 100%", "flex: none; height: auto")

bp = Blueprint("modeler", __name__, url_prefix="/verwaltung/modeler")


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Which model to change: the newest version of each process."""
    require_admin()
    rows = request_session().exec(select(ProcessModel).order_by(col(ProcessModel.process_id),
                                                                 col(ProcessModel.version).desc())).all()
    newest: dict[str, ProcessModel] = {}
    for row in rows:
        newest.setdefault(row.process_id, row)
    return render_template("modeler_index.html", models=list(newest.values()))


def _model(model_id: int) -> ProcessModel:
    """The version asked for, for an administrator (403 for others, 404 if unknown)."""
    require_admin()
    model = request_session().get(ProcessModel, model_id)
    if model is None:
        abort(404)
    return model


@bp.get("/<int:model_id>")
@login_required
def edit(model_id: int) -> ResponseReturnValue:
    model = _model(model_id)
    g.style_attributes = PANEL_STYLE_ATTRIBUTES
    return render_template("modeler.html", model=model, built=(BUILD_DIR / "modeler.js").is_file(),
                           vocabulary=vocabulary(request_session()))


@bp.get("/modeler.js")
@login_required
def bundle() -> ResponseReturnValue:
    """The bundled modeler (built at set-up; administration only, as the page)."""
    require_admin()
    return send_from_directory(BUILD_DIR, "modeler.js", mimetype="text/javascript", max_age=3600)


def declared_names() -> dict[str, dict[str, str]]:
    """Each name a model may declare (``effects.DECLARABLE``), in words, per property."""
    return {
        rules.EFFECT_PROPERTY: {
            "putOnAgenda": _("Auf die Tagesordnung setzen"), "recordResult": _("Ergebnis erfassen"),
            "recordUrgentDecision": _("Dringlichkeitsentscheidung erfassen (§ 60 Abs. 1 GO NRW)"),
            "recordApproval": _("Genehmigung der Dringlichkeitsentscheidung erfassen"),
            "closeAgenda": _("Tagesordnung schließen"), "sendInvitation": _("Einladung versenden"),
            "flagLateInvitation": _("Ladungsfrist als versäumt vermerken"),
            "meetingHeld": _("Sitzung als begonnen vermerken"),
            "releaseMinutes": _("Niederschrift freigeben"),
            "returnNeedsReason": _("Rückgabe und Anmerkung brauchen ihren Text"),
            "releasePaper": _("Vorlage freigeben (erst dann öffentlich)"),
            "endConsultation": _("Beratungsfolge als beendet vermerken"),
            "submitMinutes": _("Niederschrift zur Zeichnung vorlegen"),
            "signMinutesAsSecretary": _("Niederschrift zeichnen (Schriftführung)"),
            "signMinutesAsChair": _("Niederschrift zeichnen (Vorsitz)")},
        rules.DUE_PROPERTY: {
            "agendaClosing": _("Tagesordnungsschluss der Sitzung"),
            "afterSession": _("Frist nach der Sitzung (Regel des Gremiums)"),
            "invitationDeadline": _("Ladungsfrist der Sitzung"),
            "fiveWorkingDays": _("fünf Arbeitstage nach der Anfrage"),
            "dayChosen": _("der bei der Ausfertigung gewählte Tag")},
        rules.GUARD_PROPERTY: {
            "sessionStart": _("die Sitzung begonnen hat"),
            "agendaResultsRecorded": _("jeder TOP der Sitzung ein Ergebnis hat")},
        rules.ROLE_PROPERTY: {
            "invitation": _("Einladung der Sitzung (Benutzeraufgabe)"),
            "agendaClosing": _("Tagesordnungsschluss der Sitzung (Zeitereignis)"),
            "implementation": _("Beschlusskontrolle (Benutzeraufgabe)")},
        rules.DOCUMENT_PROPERTY: {"beschlussauszug": _("Beschlussauszug (PDF)")},
        rules.END_STATE_PROPERTY: {"withdrawn": _("Vorlage zurückgezogen"),
                                   "done": _("Vorlage abgeschlossen")},
    }


def vocabulary(session: Session) -> dict[str, Any]:
    """What the panel's group "Im Rat" offers: the names the deploy accepts, in words."""
    names = declared_names()

    def options(prop: str, known: set[str] | list[str]) -> list[dict[str, str]]:
        return [{"value": name, "label": names[prop].get(name, name)} for name in sorted(known)]

    bodies = session.exec(select(Organization.short_name, Organization.name)
                          .order_by(col(Organization.name))).all()
    return {
        "labels": {
            "group": _("Im Rat"), "none": _("– nichts –"), "unknown": _("{value} (hier unbekannt)"),
            "notDuration": _("Bitte eine Dauer in Tagen oder Wochen, z. B. P3D (3 Tage) oder "
                             "P2W (2 Wochen)."),
            "form": _("Formular"), "candidate": _("Zuständiges Gremium"), "due": _("Frist"),
            "dueDuration": _("Frist als Dauer ab dem Tag der Aufgabe (z. B. P3D)"),
            "duration": _("eine Dauer ab dem Tag der Aufgabe"),
            "followUp": _("Wiedervorlage nach (Dauer, z. B. P1D)"), "guard": _("Erst zu erledigen, wenn"),
            "script": _("Skript (Python)"), "effect": _("Wirkung"), "role": _("Rolle im Ablauf"),
            "endState": _("Ausgang der Vorlage"), "titleEn": _("Titel auf Englisch"),
            "checked": _("In Ordnung: das Modell lässt sich bereitstellen."),
            "deployed": _("Bereitgestellt als Version {version}."),
            "unchanged": _("Unverändert (Version {version})."),
            "refused": _("Das Modell wurde nicht bereitgestellt:"),
            "broken": _("Der Modeler konnte nicht geladen werden:"),
            "unknownContent": _("Dieses Modell enthält, was der Modeler nicht kennt; beim Speichern "
                                "ginge es verloren. Bereitstellen ist hier deshalb gesperrt (das Modell "
                                "bitte als Datei ändern und hochladen):"),
        },
        "forms": [{"value": name, "label": f"{title} ({name})"}
                  for name, title in procedures.known_forms(session).items()],
        "candidates": [{"value": "beratung['organization_id']", "label": _("Gremium der Beratung")},
                       {"value": "sitzung['organization_id']", "label": _("Gremium der Sitzung")}],
        "bodies": [{"value": short or name, "label": f"{name} ({short})" if short else name}
                   for short, name in bodies],
        "effects": options(rules.EFFECT_PROPERTY, set(EFFECTS)),
        "dueRules": options(rules.DUE_PROPERTY, set(rules.DUE_RULES)),
        "guards": options(rules.GUARD_PROPERTY, set(rules.GUARDS)),
        "roles": options(rules.ROLE_PROPERTY, set(rules.ROLE_KINDS)),
        "endStates": options(rules.END_STATE_PROPERTY, set(rules.END_STATES)),
    }


@bp.get("/<int:model_id>/modell.bpmn")
@login_required
def model_xml(model_id: int) -> ResponseReturnValue:
    return Response(_model(model_id).bpmn_xml, mimetype="application/xml")
