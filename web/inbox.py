"""The secretaries' inbox: views, filters and paging; the task page with holder, comments and form."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlmodel import Session, col, select

from engine import attendance, standins, tasks
from engine.accounts import Account, Actor
from engine.calendar import meetings
from engine.council import PAPER_TYPES, Grant, Meeting, Paper
from engine.errors import EngineError, Invalid
from engine.inbox import (
    VIEWS,
    InboxPage,
    InboxQuery,
    InboxRow,
    MeetingLine,
    TaskLine,
    holder_names,
    list_tasks,
    page_choices,
    task_row,
)
from engine.process import procedures
from engine.tasks import (
    DELEGATION_PENDING,
    TASK_READY,
    HumanTask,
    SavedFilter,
    comments_of,
)
from engine.types import ascii_int
from engine.workflow.models import ProcessModel

from .auth import COMPLETES_A_TASK, current_actor, login_required
from .i18n import N_, current_language, format_date
from .i18n import gettext as _
from .inputs import parse_id
from .views import (
    beratungsfolge,
    paper_header,
    record_refusal,
    request_now,
    request_session,
    request_today,
    rollback_request,
)

bp = Blueprint("inbox", __name__, url_prefix="/aufgaben")

VIEW_LABELS = {"mine": N_("Meine Aufgaben"), "group": N_("Gruppe"), "gremium": N_("Gremium"),
               "done": N_("Erledigt")}
#: What a bulk Kenntnisnahme records on each selected result task.
NOTED = {"ergebnis": "zur_kenntnis_genommen"}


@bp.app_template_global()
def task_title(task: HumanTask | TaskLine) -> str:
    """The step's title in the page's language (the model names it in German and English)."""
    return str(task.context.get("title_en", task.title)) if current_language() == "en" else task.title


@bp.app_template_filter("isodate")
def isodate(value: str) -> str:
    """An ISO date kept in task data, shown as 08.11.2024."""
    try:
        return date.fromisoformat(value).strftime("%d.%m.%Y")
    except (TypeError, ValueError):
        return str(value)


def _actor() -> Actor:
    actor = current_actor()
    assert actor is not None  # login_required
    return actor


#: A deployed model version's steps, by its spec hash: (form key, German title, English title or
#: None). A version's forms never change once it is deployed (``procedures._SPEC_CACHE`` keeps
#: its parsed forms by the same key), so each is read once per process.
_STEP_TITLES: dict[str, list[tuple[str, str, str | None]]] = {}


def _step_names(s: Session, models: list[str]) -> dict[str, str]:
    """Form key → step title in the page's language, from the deployed models' forms (the
    first version, by id, that names a key gives its title)."""
    missing = [spec_hash for spec_hash in models if spec_hash not in _STEP_TITLES]
    if missing:
        for spec_hash, forms in s.exec(select(ProcessModel.spec_hash, ProcessModel.forms)
                                       .where(col(ProcessModel.spec_hash).in_(missing))):
            _STEP_TITLES[spec_hash] = [(key, definition.get("title", key), definition.get("x-title-en"))
                                       for key, definition in forms.items()]
    english = current_language() == "en"
    names: dict[str, str] = {}
    for spec_hash in models:
        for key, title, title_en in _STEP_TITLES.get(spec_hash, ()):
            names.setdefault(key, (title_en if english else None) or title)
    return names


def _colleagues(s: Session, task: HumanTask) -> list[Account]:
    """Accounts of the task's candidate group (for assign and delegate)."""
    if task.lane is None:
        return []
    query = select(Account).join(Grant, col(Grant.account_id) == Account.id).where(
        Grant.role == task.lane, Account.active == True)  # noqa: E712
    if task.organization_id is not None:
        query = query.where(Grant.organization_id == task.organization_id)
    return list(s.exec(query.order_by(col(Account.display_name))).unique())


def _query_args() -> dict[str, str]:
    """The query string, with the page's one "Fälligkeit" select spread onto its two flags."""
    args = {k: v for k, v in request.args.items() if k != "due_filter"}
    if request.args.get("due_filter") in {"overdue", "due_soon"}:
        args[request.args["due_filter"]] = "true"
    return args


def _bulk_notable(row: InboxRow, now: datetime, actor: Actor) -> bool:
    """A Kenntnisnahme result step whose session has begun: bulk "zur Kenntnis genommen"."""
    t = row.task
    return (t.status == TASK_READY and t.context.get("completable_from") is not None
            and (t.context.get("beratung") or {}).get("role") == "Kenntnisnahme"
            and row.meeting is not None and row.meeting.start <= now
            and t.assignee in (None, actor.username))


def _list_context(s: Session, actor: Actor) -> dict[str, Any]:
    """The list's page and what its rows need, but the holders' names (see :func:`_holders`)."""
    try:
        query = InboxQuery.load(_query_args())
        errors: dict[str, list[str]] = {}
    except Invalid as exc:
        query, errors = InboxQuery(), exc.errors
    page = list_tasks(s, actor, query, request_today())
    now = request_now()
    return {"query": query, "page": page, "filter_errors": errors,
            "bulk": {r.task.id for r in page.rows if _bulk_notable(r, now, actor)},
            "view_labels": VIEW_LABELS}


def _holders(page: InboxPage) -> set[str | None]:
    return {r.task.assignee for r in page.rows} | {r.task.owner for r in page.rows}


#: How far back the Sitzung filter offers sessions (older ones stay reachable by ``?meeting=``).
MEETING_CHOICES_BACK = timedelta(days=365)


def _meeting_labels(meetings: list[MeetingLine]) -> list[tuple[int, str]]:
    """The Sitzung filter's options, (id, "08.11.2024 SI/2024/131 Sitzung …"): made here in
    one pass, not by the template piece by piece (an admin's filter offers some 800)."""
    return [(m.id, f"{format_date(m.start)} {m.reference or ''} {m.name}") for m in meetings]


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The list with its filter form and saved filters: besides the list's statement, one more
    (``engine.inbox.page_choices``) for everything around it and the holders' names."""
    s = request_session()
    actor = _actor()
    context = _list_context(s, actor)
    # The Sitzung filter: my Gremien's sessions of the last year and ahead, and the chosen one,
    # so that years of sessions do not make every inbox page longer.
    choices = page_choices(s, actor, _holders(context["page"]), request_now() - MEETING_CHOICES_BACK,
                           context["query"].meeting)
    status = 422 if context["filter_errors"] else 200
    return render_template(
        "inbox.html", views=VIEWS, orgs=choices.organizations, meetings=_meeting_labels(choices.meetings),
        paper_types=PAPER_TYPES, steps=_step_names(s, choices.models), saved=choices.saved,
        colleagues=choices.colleagues, names=choices.names, **context), status


@bp.get("/liste")
@login_required
def list_fragment() -> ResponseReturnValue:
    """The list alone, for the page's polling script (new tasks without a full reload)."""
    s = request_session()
    context = _list_context(s, _actor())
    return render_template("inbox_list.html", names=holder_names(s, _holders(context["page"])), **context), \
        422 if context["filter_errors"] else 200


@bp.post("/filter")
@login_required
def save_filter() -> ResponseReturnValue:
    actor = _actor()
    s = request_session()
    name = request.form.get("name", "").strip()
    query = InboxQuery.load({k: v for k, v in request.form.items() if k not in {"csrf_token", "name"}})
    if not name or len(name) > 80 or "\x00" in name:
        raise Invalid(_("Eingaben bitte prüfen."), {"name": [_("Bitte einen Namen (höchstens 80 Zeichen).")]})
    params = urlencode(query.params(cursor=None))
    existing = s.exec(select(SavedFilter).where(SavedFilter.account_id == actor.account_id,
                                                SavedFilter.name == name)).first()
    if existing is None:
        s.add(SavedFilter(account_id=actor.account_id, name=name, query=params))
    else:
        existing.query = params
        s.add(existing)
    flash(_("Filter gespeichert."), "success")
    return redirect(url_for("inbox.index") + ("?" + params if params else ""))


@bp.post("/filter/<int:filter_id>/loeschen")
@login_required
def delete_filter(filter_id: int) -> ResponseReturnValue:
    s = request_session()
    saved = s.get(SavedFilter, filter_id)
    if saved is None or saved.account_id != _actor().account_id:
        abort(404)
    s.delete(saved)
    flash(_("Filter gelöscht."), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/kenntnisnahme")
@login_required
def bulk_noted() -> ResponseReturnValue:
    """Record "zur Kenntnis genommen" for several result tasks: each its own unit of work."""
    actor = _actor()
    database = current_app.extensions["ratsflow.db"]
    ids = [i for i in map(ascii_int, request.form.getlist("task")) if i]
    if not ids:
        flash(_("Bitte mindestens eine Aufgabe auswählen."), "error")
        back = request.form.get("back")
        return redirect(back if _local(back) else url_for("inbox.index"))
    rollback_request()  # the request's own transaction holds no change; free the write lock
    done, failed = [], []
    for task_id in ids:
        version = request.form.get(f"version-{task_id}", "")
        try:
            with database.unit_of_work() as s:
                row = s.get(HumanTask, task_id)
                label = _task_label(s, row) if row else f"#{task_id}"
                procedures.complete_task(s, actor, task_id, dict(NOTED),
                                         ascii_int(version, 9) or -1,
                                         now=request_now())
            done.append(label)
        except EngineError as exc:
            failed.append(f"{label}: {exc.message} {_joined(exc.errors)}".strip())
            if exc.status != 404:
                record_refusal(actor, task_id, exc)
    if done:
        flash(_("Zur Kenntnis genommen: %(list)s", list=", ".join(done)), "success")
    for message in failed:
        flash(_("Nicht erledigt – %(reason)s", reason=message), "error")
    back = request.form.get("back")
    return redirect(back if _local(back) else url_for("inbox.index"))


def _joined(errors: dict[str, list[str]]) -> str:
    return " ".join(" ".join(m) for m in errors.values())


def _local(target: str | None) -> TypeGuard[str]:
    """A path of the inbox to go back to; one with a line break or another control character
    (a header injection, a 500 from the redirect) or a backslash is ignored."""
    return (target is not None and target.startswith("/aufgaben") and "//" not in target
            and "\\" not in target and target.isprintable())


def _task_label(s: Session, row: HumanTask) -> str:
    paper = s.get(Paper, row.paper_id) if row.paper_id else None
    return f"{paper.reference} ({row.title})" if paper else row.title


# ----------------------------------------------------------------------------- one task

def _task_page(task_id: int, status: int = 200, values: dict[str, Any] | None = None,
               errors: dict[str, list[str]] | None = None,
               problem: str | None = None) -> ResponseReturnValue:
    actor = _actor()
    s = request_session()
    row = s.get(HumanTask, task_id)
    if row is None:
        abort(404)
    own = tasks.may_work_on_in(s, actor, row)
    deputy_for = standins.acting_for(s, actor.account_id, row.lane, row.organization_id, row.assignee,
                                     request_now(), actor.username) \
        if not own or row.assignee not in (None, actor.username) else None
    if not own and deputy_for is None:
        abort(403)
    shown = task_row(s, task_id, request_today())
    assert shown is not None
    paper = s.get(Paper, row.paper_id) if row.paper_id else None  # None: a session process's task
    ready = row.status == TASK_READY
    form, initial = procedures.task_form(s, row, now=request_now()) if ready else (None, {})
    blocked = procedures.completion_blocked(s, row, request_now())
    holder_refusal = tasks.held_by_other(s, actor, row) \
        if ready and (deputy_for is None or deputy_for.username != row.assignee) else None
    return render_template(
        "task.html", **_in_session(s, row, ready), row=row, shown=shown, paper=paper, form=form,
        values=values if values is not None else initial, errors=errors or {}, problem=problem,
        deputy_for=deputy_for,
        folge=beratungsfolge(s, paper.id) if paper and paper.id else [], ready=ready, blocked=blocked,
        agenda=meetings.agenda(s, row.meeting_id) if paper is None and row.meeting_id else [],
        holder_refusal=holder_refusal.message if holder_refusal else None,
        delegated_to_me=row.delegation == DELEGATION_PENDING and row.assignee == actor.username,
        comments=comments_of(s, task_id), colleagues=_colleagues(s, row),
        names=holder_names(s, {row.assignee, row.owner, row.completed_by}),
        **(paper_header(s, paper) if paper else {}),
    ), status


def _in_session(s: Session, row: HumanTask, ready: bool) -> dict[str, Any]:
    """A Beratung's step in a Sitzung that has begun: who could vote at its TOP (what the
    result's votes are checked against), or that the attendance is not recorded yet."""
    meeting = s.get(Meeting, row.meeting_id) if ready and row.consultation_id and row.meeting_id else None
    if meeting is None or meeting.start > request_now():
        return {"session_meeting": None, "top_state": None}
    state = None
    if meeting.opened is not None:
        sheet = attendance.read_sheet(s, meeting, row.consultation_id)
        top = next((t for t in sheet.tops if t.consultation_id == row.consultation_id and t.result is None),
                   None)
        state = sheet.at_top(top.item_id) if top else None
    return {"session_meeting": meeting, "top_state": state}


@bp.route("/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> ResponseReturnValue:
    if request.method == "GET":
        return _task_page(task_id)
    values = {k: v for k, v in request.form.items() if k not in {"csrf_token", "version"}}
    try:
        version = parse_id(request.form.get("version"), "version", required=True)
    except Invalid as exc:
        return _task_page(task_id, 422, values, exc.errors, problem=exc.message)
    assert version is not None
    try:
        done = procedures.complete_task(request_session(), _actor(), task_id, values, version,
                                        now=request_now())
    except Invalid as exc:
        record_refusal(_actor(), task_id, exc)
        return _task_page(task_id, 422, values, exc.errors)
    except EngineError as exc:
        if exc.status != 404:
            record_refusal(_actor(), task_id, exc)
        raise
    flash(_("Die Aufgabe wurde erledigt."), "success")
    if done.finished:
        flash(_("Die Beratungsfolge ist abgeschlossen."), "success")
    return redirect(url_for("inbox.index"))


COMPLETES_A_TASK.add(f"{bp.name}.{task.__name__}")  # a POST completes it


def _act(task_id: int, verb: Any, *args: Any, message: str) -> ResponseReturnValue:
    """Run a holder verb; on refusal show the task page with the reason (status 403/409/422)."""
    try:
        verb(request_session(), _actor(), task_id, *args, now=request_now())
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        record_refusal(_actor(), task_id, exc)
        return _task_page(task_id, exc.status, errors=exc.errors,
                          problem=exc.message + (" " + _joined(exc.errors) if exc.errors else ""))
    flash(message, "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/<int:task_id>/uebernehmen")
@login_required
def claim(task_id: int) -> ResponseReturnValue:
    return _act(task_id, tasks.claim, message=_("Sie bearbeiten die Aufgabe jetzt."))


@bp.post("/<int:task_id>/zurueckgeben")
@login_required
def unclaim(task_id: int) -> ResponseReturnValue:
    return _act(task_id, tasks.unclaim, message=_("Die Aufgabe ist wieder für die Gruppe offen."))


@bp.post("/<int:task_id>/zuweisen")
@login_required
def assign(task_id: int) -> ResponseReturnValue:
    return _act(task_id, tasks.assign, request.form.get("user", ""),
                message=_("Die Aufgabe wurde zugewiesen."))


@bp.post("/<int:task_id>/delegieren")
@login_required
def delegate(task_id: int) -> ResponseReturnValue:
    return _act(task_id, tasks.delegate, request.form.get("user", ""),
                message=_("Die Aufgabe wurde delegiert."))


@bp.post("/<int:task_id>/erledigt-zurueck")
@login_required
def resolve(task_id: int) -> ResponseReturnValue:
    return _act(task_id, tasks.resolve, message=_("Die Aufgabe ging an Sie zurück."))


@bp.post("/<int:task_id>/wiedervorlage")
@login_required
def follow_up(task_id: int) -> ResponseReturnValue:
    raw = request.form.get("follow_up", "").strip()
    day: date | None = None
    if raw:
        try:
            day = date.fromisoformat(raw) if "-" in raw else _german_date(raw)
        except ValueError:
            return _task_page(task_id, 422, errors={"follow_up": [_("Datum bitte als TT.MM.JJJJ.")]},
                              problem=_("Eingaben bitte prüfen."))
    return _act(task_id, tasks.set_follow_up, day, message=_("Die Wiedervorlage wurde gespeichert."))


def _german_date(raw: str) -> date:
    day, month, year = (ascii_int(part.strip(), 4) for part in raw.split("."))
    if day is None or month is None or year is None:
        raise ValueError(raw)
    return date(year, month, day)


@bp.post("/<int:task_id>/kommentare")
@login_required
def comment(task_id: int) -> ResponseReturnValue:
    return _act(task_id, tasks.add_comment, request.form.get("text", ""),
                message=_("Der Kommentar wurde gespeichert."))


@bp.post("/top/<int:item_id>/freigeben")
@login_required
def release_result(item_id: int) -> ResponseReturnValue:
    """Publish the result of a non-public agenda item on the public pages."""
    item = procedures.release_result(request_session(), _actor(), item_id, now=request_now())
    flash(_("Das Ergebnis ist jetzt öffentlich."), "success")
    paper_id = procedures.paper_of_item(request_session(), item)
    return redirect(url_for("public.paper", paper_id=paper_id) if paper_id else url_for("inbox.index"))

