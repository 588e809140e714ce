"""A Sitzung's page (invite, move, cancel), the member's sessions and reminders, the calendars."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlmodel import Session, col, select

from engine import allowance, attendance, mappe, minutes
from engine import implementation as implementations
from engine.accounts import Actor
from engine.calendar import agenda, deadlines, meetings, reminders
from engine.council import ROLE_SECRETARIAT, Account, AgendaItem, Meeting, Organization, Paper, Person
from engine.errors import EngineError, Forbidden, Invalid
from engine.process import sessions
from engine.schemas import MAX_ID
from engine.settings import TIMEZONE, Settings
from engine.tasks import HumanTask
from engine.types import ascii_int
from engine.visibility import is_published, sees_closed_part
from engine.workflow.models import WorkflowTimer
from notifications import calendar

from . import files_response
from .auth import csrf_exempt, current_actor, login_required
from .i18n import gettext as _
from .views import form_values, request_now, request_session, request_today, rollback_request

bp = Blueprint("meetings", __name__)


@bp.app_template_global()
def reminder_kind(kind: str) -> str:
    """A reminder's kind in words of the page's language ("Ladungsfrist versäumt"), never its code."""
    return _(reminders.KIND_NAMES.get(kind, "Erinnerung"))


@bp.app_template_global()
def lead_words(minutes: int) -> str:
    """A reminder's lead time in the page's language: "7 Tage", "1 Tag", "3 Stunden"."""
    if minutes % reminders.DAY == 0:
        days = minutes // reminders.DAY
        return _("1 Tag") if days == 1 else _("%(n)s Tage", n=days)
    hours = round(minutes / 60)
    return _("1 Stunde") if hours == 1 else _("%(n)s Stunden", n=hours)

@bp.app_template_global()
def vote_word(code: str) -> str:
    """A roll-call vote's word as the catalogue has it ("Ja", "Nein", "Enthaltung"); translated by ``_``."""
    return attendance.VOTES.get(code, code)


ICS = "text/calendar; charset=utf-8"
#: How far back a feed reaches (calendars keep what they had; a feed need not carry years).
FEED_DAYS_BACK = 180


def _settings() -> Settings:
    settings: Settings = current_app.extensions["ratsflow.settings"]
    return settings


def _person_of(s: Session, actor: Actor | None) -> Person | None:
    if actor is None:
        return None
    account = s.get(Account, actor.account_id)
    return s.get(Person, account.person_id) if account and account.person_id else None


# ----------------------------------------------------------------------------- a Sitzung

#: The page's forms: a refused one shows its errors and what was typed on its own fields only.
_FORMS = ("agenda", "invite", "move", "cancel", "attendance", "bias", "rollcall", "repeat", "minutes")


def _meeting_page(meeting_id: int, status: int = 200, errors: dict[str, list[str]] | None = None,
                  problem: str | None = None, values: dict[str, Any] | None = None,
                  sent: str | None = None) -> ResponseReturnValue:
    """The Sitzung's page; after a refused form, ``sent`` names that form (agenda, invite,
    move, cancel): its fields show the errors and keep what was typed, the others stay clean
    (the invitation's and the agenda's "reason" are different fields)."""
    s = request_session()
    meeting = s.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    org = s.get(Organization, meeting.organization_id)
    assert org is not None
    actor = current_actor()
    closed = sees_closed_part(s, actor, meeting, request_today())
    secretary = actor is not None and actor.has_role(ROLE_SECRETARIAT, meeting.organization_id)
    planned = list(s.exec(select(reminders.Reminder).where(reminders.Reminder.meeting_id == meeting_id)
                          .order_by(col(reminders.Reminder.due_at)))) if secretary else []
    process = sessions.process_of(s, meeting_id, running=False) if secretary or (actor and actor.is_admin) \
        else None
    steps = list(s.exec(select(WorkflowTimer).where(WorkflowTimer.process_instance_id == process.id)
                        .order_by(col(WorkflowTimer.due_at), col(WorkflowTimer.id)))) if process else []
    tasks = list(s.exec(select(HumanTask).where(HumanTask.process_instance_id == process.id)
                        .order_by(col(HumanTask.created)))) if process else []
    agenda_rows = meetings.agenda(s, meeting_id, public_only=not closed)
    papers = {p.id: p for p in s.exec(select(Paper).where(
        col(Paper.id).in_({e.paper_id for e in agenda_rows if e.paper_id})))} if agenda_rows else {}
    # The attendance: the Sekretariat records it, the Gremium's members, Revision and the
    # administration read it (the public learns it with the Niederschrift).
    sheet = attendance.read_sheet(s, meeting) if closed and not meeting.cancelled else None
    in_force = minutes.published(s, meeting_id) if meeting.minutes_released else None  # sizes, no bytes
    document = meetings.MinutesDocument(_("Niederschrift, öffentlicher Teil (PDF)"), in_force.version,
                                        in_force.public_size) \
        if in_force is not None and in_force.public_size else None
    return render_template(
        "meeting.html", meeting=meeting, org=org, agenda=agenda_rows,
        # What the Sekretariat works with (deadlines, warnings, the process) is not the public's:
        # the Gremium's members and Sekretariat, Revision and the administration see it.
        internal=closed, documents=meetings.documents_of(s, papers),
        published={i for i, p in papers.items() if is_published(p)}, results=_results(s, agenda_rows),
        minutes=meetings.minutes_of(meeting, document),
        # The Niederschrift as it is being written, signed and corrected (members, Sekretariat …).
        drafts=minutes.versions(s, meeting_id) if closed else [],
        minutes_nonpublic=in_force is not None and bool(in_force.nonpublic_size) and closed,
        items=meetings.agenda_items(s, meeting_id) if secretary else [],
        marks=deadlines.deadlines_for_meeting(s, meeting), secretary=secretary, planned=planned,
        process=process, timer_rows=steps, process_tasks=tasks,
        now=request_now(), errors=errors or {}, problem=problem, values=values or {}, sent=sent,
        form_errors={form: (errors or {}) if form == sent else {} for form in _FORMS},
        form_values={form: (values or {}) if form == sent else {} for form in _FORMS},
        members=reminders.members_of(s, meeting.organization_id, meeting.start.astimezone(TIMEZONE).date())
        if secretary else [],
        sheet=sheet, session_day=meeting.start.astimezone(TIMEZONE).date() <= request_today(),
        states={t.item_id: sheet.at_top(t.item_id) for t in sheet.tops} if sheet and sheet.recorded else {},
        ordered_tops=sheet.ordered_tops() if sheet else [],
    ), status


def _results(s: Session, entries: list[meetings.AgendaEntry]) -> dict[int, AgendaItem]:
    """The TOPs of the agenda with a result (shown once recorded; a non-public one's result
    only once released: the template asks ``result_cell``'s rule)."""
    ids = [e.item_id for e in entries if e.item_id is not None and e.result]
    return {i.id: i for i in s.exec(select(AgendaItem).where(col(AgendaItem.id).in_(ids)))
            if i.id is not None} if ids else {}


@bp.get("/sitzungen/<int:meeting_id>")
def meeting(meeting_id: int) -> ResponseReturnValue:
    return _meeting_page(meeting_id)


def _act(meeting_id: int, verb: Any, message: str, form: str,
         anchor: str | None = None) -> ResponseReturnValue:
    actor = current_actor()
    assert actor is not None
    values = form_values()
    try:
        verb(request_session(), actor, meeting_id, values, now=request_now())
    except EngineError as exc:
        rollback_request()
        if exc.status == 404:
            abort(404)
        return _meeting_page(meeting_id, exc.status, exc.errors, exc.message, values, sent=form)
    flash(message, "success")
    return redirect(url_for("meetings.meeting", meeting_id=meeting_id, _anchor=anchor))


@bp.post("/sitzungen/<int:meeting_id>/einladen")
@login_required
def invite(meeting_id: int) -> ResponseReturnValue:
    return _act(meeting_id, sessions.send_invitation, _("Die Einladung geht an alle Mitglieder."), "invite")


@bp.post("/sitzungen/<int:meeting_id>/verlegen")
@login_required
def move(meeting_id: int) -> ResponseReturnValue:
    return _act(meeting_id, sessions.move,
                _("Die Sitzung wurde verlegt; Erinnerungen und Fristen sind angepasst, die Mitglieder "
                  "werden benachrichtigt."), "move")


@bp.post("/sitzungen/<int:meeting_id>/absagen")
@login_required
def cancel(meeting_id: int) -> ResponseReturnValue:
    return _act(meeting_id, sessions.cancel,
                _("Die Sitzung wurde abgesagt; die Mitglieder werden benachrichtigt."), "cancel")


@bp.post("/sitzungen/<int:meeting_id>/tagesordnung")
@login_required
def agenda_change(meeting_id: int) -> ResponseReturnValue:
    """One change of the agenda: ``action`` is up:ID, down:ID, public:ID, private:ID, sub:ID,
    top:ID, renumber or order (``order``: the item ids in their new order, from dragging)."""
    action, _sep, raw_id = request.form.get("action", "").partition(":")
    item_id = ascii_int(raw_id) or 0
    item_id = item_id if item_id <= MAX_ID else 0

    def change(session: Session, actor: Actor, meeting_id: int, values: dict[str, Any],
               now: Any) -> list[str]:
        if action in (agenda.UP, agenda.DOWN):
            return agenda.move(session, actor, meeting_id, item_id, action, values, now)
        if action in ("public", "private"):
            return agenda.set_part(session, actor, meeting_id, item_id, action == "public", values, now)
        if action in ("sub", "top"):
            return agenda.indent(session, actor, meeting_id, item_id, action == "sub", values, now)
        if action == "renumber":
            return agenda.renumber(session, actor, meeting_id, values, now)
        if action == "order":
            parts = [ascii_int(i.strip()) for i in values.get("order", "").split(",") if i.strip()]
            order = [i for i in parts if i is not None]
            if len(order) != len(parts):  # "²", "١", 5,000 digits: no item id
                raise Invalid("Eingaben bitte prüfen.", {"order": ["Ungültige Reihenfolge."]})
            return agenda.set_order(session, actor, meeting_id, order, values, now)
        agenda.may_change(session, actor, meeting_id, values, now)
        raise Invalid("Eingaben bitte prüfen.", {"action": ["Unbekannte Änderung der Tagesordnung."]})

    return _act(meeting_id, change, _("Die Tagesordnung wurde geändert."), "agenda")


# ----------------------------------------------------------------------------- in the session

def _item_of(meeting_id: int, item_id: int) -> int:
    """A TOP of this Sitzung (else 404)."""
    item = request_session().get(AgendaItem, item_id) if 0 < item_id <= MAX_ID else None
    if item is None or item.meeting_id != meeting_id:
        abort(404)
    return item_id


@bp.post("/sitzungen/<int:meeting_id>/anwesenheit")
@login_required
def record_attendance(meeting_id: int) -> ResponseReturnValue:
    """The Sekretariat records who was there and when (and the TOPs' times)."""
    return _act(meeting_id, attendance.record, _("Die Anwesenheit wurde gespeichert."), "attendance",
                "anwesenheit")


@bp.post("/sitzungen/<int:meeting_id>/tops/<int:item_id>/befangenheit")
@login_required
def bias(meeting_id: int, item_id: int) -> ResponseReturnValue:
    """The Sekretariat notes (or withdraws) a member's Befangenheit for a TOP in the session."""
    _item_of(meeting_id, item_id)

    def verb(session: Session, actor: Actor, _meeting_id: int, values: dict[str, Any], now: Any) -> None:
        person = ascii_int(values.get("person_id") or "")
        held = session.get(Meeting, meeting_id)
        if held is None or not actor.has_role(ROLE_SECRETARIAT, held.organization_id):
            raise Forbidden("Befangenheit in der Sitzung vermerkt das Sekretariat.")
        if person is None:
            raise Invalid("Eingaben bitte prüfen.", {"person_id": ["Bitte ein Mitglied wählen."]})
        attendance.declare_bias(session, actor, item_id, person, values.get("note"),
                                withdraw=values.get("action") == "withdraw", now=now)

    return _act(meeting_id, verb, _("Die Befangenheit wurde vermerkt."), "bias", f"top-{item_id}")


@bp.post("/sitzungen/<int:meeting_id>/tops/<int:item_id>/namentlich")
@login_required
def roll_call(meeting_id: int, item_id: int) -> ResponseReturnValue:
    """A namentliche Abstimmung on a TOP."""
    _item_of(meeting_id, item_id)

    def verb(session: Session, actor: Actor, _meeting_id: int, values: dict[str, Any], now: Any) -> None:
        attendance.record_roll_call(session, actor, item_id, values, now=now)

    return _act(meeting_id, verb, _("Die namentliche Abstimmung wurde gespeichert."), "rollcall",
                f"top-{item_id}")


@bp.post("/sitzungen/<int:meeting_id>/tops/<int:item_id>/erneute-einberufung")
@login_required
def repeat_call(meeting_id: int, item_id: int) -> ResponseReturnValue:
    """GO NRW § 49 Abs. 2 for a TOP: called again, quorate regardless (or taken back)."""
    _item_of(meeting_id, item_id)

    def verb(session: Session, actor: Actor, _meeting_id: int, values: dict[str, Any], now: Any) -> None:
        attendance.record_repeat_call(session, actor, item_id, values.get("repeat_call"),
                                      clear=values.get("action") == "clear", now=now)

    return _act(meeting_id, verb, _("Die erneute Einberufung wurde vermerkt."), "repeat", f"top-{item_id}")


# ----------------------------------------------------------------------------- Sitzungsgeld

@bp.post("/sitzungen/<int:meeting_id>/niederschrift")
@login_required
def minutes_edit(meeting_id: int) -> ResponseReturnValue:
    """The Sekretariat edits the Niederschrift's free parts (after the release: a correction
    with a reason, a new version)."""
    return _act(meeting_id, minutes.edit, _("Die Niederschrift wurde gespeichert."), "minutes",
                "niederschrift")


def _pdf(content: bytes, name: str) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _file_name(meeting: Meeting, part: str, version: int) -> str:
    label = (meeting.reference or f"Sitzung-{meeting.id}").replace("/", "-")
    return f"Niederschrift-{label}-{part}-v{version}.pdf"


@bp.get("/sitzungen/<int:meeting_id>/niederschrift.pdf")
def minutes_pdf(meeting_id: int) -> ResponseReturnValue:
    """The released Niederschrift's public part: for everyone."""
    s = request_session()
    meeting = s.get(Meeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    row = minutes.released(s, meeting_id) if meeting is not None else None
    if meeting is None or row is None or row.public_pdf is None:
        abort(404)
    return _pdf(row.public_pdf, _file_name(meeting, "oeffentlich", row.version))


@bp.get("/sitzungen/<int:meeting_id>/niederschrift-nichtoeffentlich.pdf")
@login_required
def minutes_closed_pdf(meeting_id: int) -> ResponseReturnValue:
    """The released Niederschrift's non-public part: the Gremium's members and Sekretariat,
    Revision and the administration only."""
    s = request_session()
    meeting = s.get(Meeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    if meeting is None:
        abort(404)
    if not sees_closed_part(s, current_actor(), meeting, request_today()):
        abort(403)
    row = minutes.released(s, meeting_id)
    if row is None or row.nonpublic_pdf is None:
        abort(404)
    return _pdf(row.nonpublic_pdf, _file_name(meeting, "nichtoeffentlich", row.version))


@bp.get("/sitzungen/<int:meeting_id>/niederschrift-entwurf.pdf")
@login_required
def minutes_draft_pdf(meeting_id: int) -> ResponseReturnValue:
    """The Niederschrift as it stands (drafted now from the records), both parts in one: for
    those who write and sign it (the Gremium's members and Sekretariat, Revision, admin)."""
    s = request_session()
    meeting = s.get(Meeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    if meeting is None or meeting.cancelled:
        abort(404)
    if not sees_closed_part(s, current_actor(), meeting, request_today()):
        abort(403)
    row = minutes.current(s, meeting_id)
    public = request.args.get("teil") != "nichtoeffentlich"
    doc = minutes.compose(s, meeting, row)
    return _pdf(minutes.render_pdf(doc, public),
                _file_name(meeting, "entwurf" if public else "entwurf-nichtoeffentlich", doc.version))


def _allowance_query() -> tuple[int | None, str]:
    organization_id = ascii_int(request.values.get("gremium") or "")
    return (organization_id if organization_id and organization_id <= MAX_ID else None,
            (request.values.get("monat") or "").strip())


@bp.get("/sitzungsgeld")
@login_required
def allowances() -> ResponseReturnValue:
    """The Sekretariat's (or the administration's) month of Sitzungsgeld: who attended which
    session how long, the sums per person; exported as CSV for the payroll office."""
    s = request_session()
    actor = current_actor()
    assert actor is not None
    gremien = allowance.months_gremien(s, actor)
    if not gremien:
        abort(403)
    organization_id, month_text = _allowance_query()
    month_text = month_text or f"{request_today():%m.%Y}"
    lines: list[allowance.Line] = []
    errors: dict[str, list[str]] = {}
    org = None
    try:
        month = allowance.parse_month(month_text)
        org, lines = allowance.report(s, actor, organization_id or gremien[0].id or 0, month)
    except Invalid as exc:
        errors = exc.errors
    except EngineError as exc:
        abort(exc.status)
    totals: dict[str, tuple[int, int, int]] = {}
    for li in lines:
        count, minutes, cents = totals.get(li.person, (0, 0, 0))
        totals[li.person] = (count + 1, minutes + (li.minutes or 0), cents + li.cents)
    return render_template("allowances.html", gremien=gremien, org=org, month_text=month_text, lines=lines,
                           totals=totals, errors=errors, euro=allowance.euro), 422 if errors else 200


@bp.get("/beschlusskontrolle")
@login_required
def implementation() -> ResponseReturnValue:
    """The Sekretariat's implementation list per Gremium (Beschlusskontrolle): open, overdue,
    done; each can go on a coming session's agenda as a report."""
    s = request_session()
    actor = current_actor()
    assert actor is not None
    gremien = list(s.exec(select(Organization).where(
        col(Organization.id).in_(sorted(actor.organizations_for(ROLE_SECRETARIAT))))
        .order_by(col(Organization.name))))
    if not gremien:
        abort(403)
    chosen = ascii_int(request.args.get("gremium", ""), 9) or gremien[0].id
    org = next((g for g in gremien if g.id == chosen), None)
    if org is None or org.id is None:
        abort(404)
    rows = implementations.implementation_list(s, actor, org.id, request_today())
    coming = list(s.exec(select(Meeting).where(
        Meeting.organization_id == org.id, Meeting.cancelled == False,  # noqa: E712
        col(Meeting.start) > request_now()).order_by(col(Meeting.start))))
    counts = {state: sum(1 for r in rows if r.state == state)
              for state in (implementations.OPEN, implementations.OVERDUE, implementations.DONE)}
    return render_template("implementation.html", gremien=gremien, org=org, rows=rows, coming=coming,
                           counts=counts, states=implementations)


@bp.post("/beschlusskontrolle/bericht")
@login_required
def implementation_report() -> ResponseReturnValue:
    """Put a report on a Vorlage's implementation on a coming session's agenda."""
    actor = current_actor()
    assert actor is not None
    meeting_id = ascii_int(request.form.get("meeting_id", ""), 9) or 0
    paper_id = ascii_int(request.form.get("paper_id", ""), 9) or 0
    s = request_session()
    try:
        item = implementations.put_report_on_agenda(s, actor, meeting_id, paper_id, form_values(),
                                                    request_now())
    except Invalid as exc:
        rollback_request()
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(url_for("meetings.implementation"))
    flash(_("Der Bericht steht als TOP %(number)s auf der Tagesordnung.", number=item.number), "success")
    return redirect(url_for("meetings.meeting", meeting_id=meeting_id))


@bp.post("/sitzungsgeld/export")
@login_required
def allowance_export() -> ResponseReturnValue:
    """The month as CSV (German Excel); the export is audited."""
    actor = current_actor()
    assert actor is not None
    if not allowance.months_gremien(request_session(), actor):
        abort(403)
    organization_id, month_text = _allowance_query()
    try:
        month = allowance.parse_month(month_text)
        text, name = allowance.export(request_session(), actor, organization_id or 0, month,
                                      now=request_now())
    except Invalid as exc:
        rollback_request()
        return Response(" ".join(m for ms in exc.errors.values() for m in ms), 422, mimetype="text/plain")
    except EngineError as exc:
        abort(exc.status)
    return Response(text.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


# ----------------------------------------------------------------------------- a member

@bp.route("/meine-sitzungen", methods=["GET", "POST"])
@login_required
def mine() -> ResponseReturnValue:
    return _mine_page()


def _mine_page(status: int = 200, problem: str | None = None) -> ResponseReturnValue:
    s = request_session()
    person = _person_of(s, current_actor())
    if person is None or person.id is None:
        return render_template("my_meetings.html", person=None, problem=problem), status
    gremien = reminders.gremien_of(s, person.id, request_today())
    leads = reminders.member_leads(s, [o.id for o in gremien if o.id is not None])
    token: str | None = None
    if request.method == "POST" and problem is None:
        action = request.form.get("action")
        if action == "preferences":
            reminders.set_preferences(s, person.id, {lead: request.form.get(f"lead-{lead}") == "on"
                                                     for lead in leads})
            flash(_("Ihre Einstellungen wurden gespeichert."), "success")
        elif action == "new-token":
            token = reminders.new_calendar_token(s, person.id, request_now())
            flash(_("Ihr persönlicher Kalender hat eine neue Adresse; die alte gilt nicht mehr."), "success")
        elif action == "revoke-token":
            reminders.revoke_calendar_tokens(s, person.id, request_now())
            flash(_("Die Adresse Ihres persönlichen Kalenders gilt nicht mehr."), "success")
        else:
            abort(400)
    upcoming = meetings.upcoming_for_person(s, person.id, request_now())
    orgs = {o.id: o for o in gremien}
    reminder_rows = reminders.of_person(s, person.id)
    waiting = (reminders.PENDING, reminders.PREPARED)  # rendered ahead is not sent yet
    sent = [r for r in reminder_rows if r.status not in waiting]
    planned = [r for r in reminder_rows if r.status in waiting]
    opted_out = reminders.opted_out(s, [person.id])
    titles = {m.id: m for m in s.exec(select(Meeting).where(col(Meeting.id).in_(
        {r.meeting_id for r in sent + planned})))} if sent or planned else {}
    sheets = {m.id: attendance.read_sheet(s, m) for m in upcoming if not m.cancelled and m.id is not None}
    return render_template(
        "my_meetings.html", person=person, gremien=gremien, upcoming=upcoming, orgs=orgs, sent=sent,
        sheets=sheets, agendas=meetings.agendas(s, list(sheets)) if sheets else {},
        planned=planned, titles=titles, leads=leads,
        wants={lead: (person.id, lead) not in opted_out for lead in leads},
        token=token,
        has_token=reminders.has_calendar_token(s, person.id), problem=problem), status


def _mine_act(verb: Any, message: str) -> ResponseReturnValue:
    """A member's own step (apology, Befangenheit); refused: back with the reason."""
    actor = current_actor()
    assert actor is not None
    try:
        verb(request_session(), actor)
    except EngineError as exc:
        rollback_request()
        if exc.status == 404:
            abort(404)
        return _mine_page(exc.status, " ".join([exc.message, *(m for ms in exc.errors.values() for m in ms)]))
    flash(message, "success")
    return redirect(url_for("meetings.mine"))


@bp.post("/meine-sitzungen/<int:meeting_id>/entschuldigung")
@login_required
def apology(meeting_id: int) -> ResponseReturnValue:
    """A member apologises in advance for a Sitzung (or withdraws the apology)."""
    withdraw = request.form.get("action") == "withdraw"
    return _mine_act(lambda s, actor: attendance.apologise(
        s, actor, meeting_id, request.form.get("note"), withdraw=withdraw, now=request_now()),
        _("Ihre Entschuldigung wurde zurückgenommen.") if withdraw else
        _("Sie sind für diese Sitzung entschuldigt; das Sekretariat sieht es."))


@bp.post("/meine-sitzungen/tops/<int:item_id>/befangenheit")
@login_required
def my_bias(item_id: int) -> ResponseReturnValue:
    """A member declares (or withdraws) their Befangenheit for a TOP ahead of the session."""
    withdraw = request.form.get("action") == "withdraw"
    return _mine_act(lambda s, actor: attendance.declare_bias(
        s, actor, item_id, None, request.form.get("note"), withdraw=withdraw, now=request_now()),
        _("Ihre Befangenheit wurde zurückgenommen.") if withdraw else
        _("Ihre Befangenheit ist vermerkt: Sie stimmen bei diesem Tagesordnungspunkt nicht mit ab."))


@bp.get("/meine-sitzungen/<int:meeting_id>/sitzungsmappe.<any(pdf, zip):kind>")
@login_required
def sitzungsmappe(meeting_id: int, kind: str) -> ResponseReturnValue:
    """A Sitzung's agenda with every Vorlage and Anlage the reader may see, as one PDF (a
    bookmark per TOP) or a ZIP (a folder per TOP); built from the current agenda. The
    non-public part only for whom ``engine.visibility`` lets in (``engine.mappe``)."""
    s = request_session()
    try:
        found = mappe.read(s, current_actor(), meeting_id, files_response.store(), request_today(),
                           request_now())
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        return _mine_page(exc.status, exc.message)
    # Built once per content (members of a Gremium share one file), then served from disk.
    path, _built = mappe.Cache(_settings().mappe_path).file(found, kind)
    name = f"{found.base_name}.{kind}"
    response = send_file(path, mimetype="application/pdf" if kind == "pdf" else "application/zip", max_age=0,
                         etag=path.stem[:40])
    response.headers["Content-Disposition"] = files_response.content_disposition("attachment", name)
    response.headers["Cache-Control"] = "private, no-store"  # the closed part stays off shared caches
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = files_response.FILE_CSP
    return response


@bp.route(f"{reminders.UNSUBSCRIBE_PATH}<token>", methods=["GET", "POST"])
@csrf_exempt
def unsubscribe(token: str) -> ResponseReturnValue:
    """The link of ``List-Unsubscribe`` (RFC 2369/8058), without login: a POST (one click in
    the mail client, or the button here) turns that reminder off; a GET only asks, so a mail
    scanner that follows every link changes nothing."""
    s = request_session()
    found = reminders.read_unsubscribe_token(current_app.secret_key or "", token)
    if found is None or s.get(Person, found[0]) is None:
        return render_template("unsubscribe.html", state="invalid"), 404
    person_id, lead = found
    if request.method == "POST":
        reminders.unsubscribe(s, person_id, lead, request_now())
        state = "done"
    else:
        state = "ask" if reminders.wants_email(s, person_id, lead) else "already"
    response = current_app.make_response(render_template(
        "unsubscribe.html", state=state, lead=lead))
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays in this page
    response.headers["Cache-Control"] = "no-store"
    return response


# ----------------------------------------------------------------------------- calendars

def _feed(name: str, rows: list[Meeting], public_only: bool, alarms: list[int]) -> Response:
    s = request_session()
    settings = _settings()
    orgs = {o.id: o for o in s.exec(select(Organization).where(
        col(Organization.id).in_({m.organization_id for m in rows})))} if rows else {}
    agendas = meetings.agendas(s, [m.id for m in rows if m.id is not None], public_only=public_only)
    items = [(m, orgs[m.organization_id], agendas[m.id]) for m in rows if m.id is not None]
    body = calendar.feed(name, items, settings.base_url, settings.mail_from, settings.mail_domain, alarms)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Type": ICS, "Cache-Control": "private, max-age=300",
        "Content-Disposition": 'inline; filename="sitzungen.ics"'})


def _recent_and_ahead(*conditions: Any) -> list[Meeting]:
    """Sitzungen from :data:`FEED_DAYS_BACK` ago on (a feed need not carry years)."""
    since = request_now() - timedelta(days=FEED_DAYS_BACK)
    return list(request_session().exec(select(Meeting).where(col(Meeting.start) >= since, *conditions)
                                       .order_by(col(Meeting.start))))


@bp.get("/kalender.ics")
def public_calendar() -> ResponseReturnValue:
    """All Gremien's sessions (public part of their agendas)."""
    return _feed(_("Sitzungen"), _recent_and_ahead(), True, [])


@bp.get("/kalender/<int:organization_id>.ics")
def gremium_calendar(organization_id: int) -> ResponseReturnValue:
    org = request_session().get(Organization, organization_id)
    if org is None or org.organization_type != "Gremium":
        abort(404)
    return _feed(org.name, _recent_and_ahead(Meeting.organization_id == organization_id), True, [])


@bp.get("/kalender/persoenlich/<token>.ics")
def personal_calendar(token: str) -> ResponseReturnValue:
    """A member's sessions with the alarms of their lead times; the token is the login."""
    s = request_session()
    person_id = reminders.person_of_token(s, token)
    if person_id is None:
        abort(404)
    gremien = [o.id for o in reminders.gremien_of(s, person_id, request_today()) if o.id is not None]
    rows = _recent_and_ahead(col(Meeting.organization_id).in_(gremien)) if gremien else []
    return _feed(_("Meine Sitzungen"), rows, False, reminders.member_leads(s, gremien))
