"""The messages members and secretaries receive: German Jinja templates, plain text and HTML.

One template set per reminder kind (``notifications/templates/<kind>.subject|.txt|.html``);
``render`` fills them from the Sitzung, its Gremium, its agenda and the recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import dates as babel_dates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.calendar.deadlines import MeetingDeadlines
from engine.calendar.meetings import AgendaEntry
from engine.council import Meeting, Organization
from engine.settings import TIMEZONE

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _date(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(TIMEZONE).date()
    return value.strftime("%d.%m.%Y")


def _weekday_date(value: datetime) -> str:
    return str(babel_dates.format_date(value.astimezone(TIMEZONE).date(), "EEEE, dd.MM.yyyy", locale="de"))


def _clock(value: datetime) -> str:
    return value.astimezone(TIMEZONE).strftime("%H:%M")


def days_until(today: date, moment: datetime) -> str:
    """How far the Sitzung is from the day a reminder goes out, as its subject says it:
    "heute", "morgen", "in 7 Tagen" (the 7-day and the 1-day reminder tell apart at once)."""
    days = (moment.astimezone(TIMEZONE).date() - today).days
    if days <= 0:
        return "heute"
    if days == 1:
        return "morgen"
    if days == 2:
        return "übermorgen"
    return f"in {days} Tagen"


def _environment(html: bool) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html"]) if html else False,
                      keep_trailing_newline=True, trim_blocks=False)
    env.filters.update(date=_date, weekday_date=_weekday_date, clock=_clock)
    env.globals.update(days_until=days_until)
    return env


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


def greeting(form_of_address: str | None, given_name: str | None, family_name: str | None) -> str:
    """"Sehr geehrte Frau Nowak," / "Sehr geehrter Herr Wagner," / "Guten Tag Kim Jansen,"."""
    address = (form_of_address or "").strip()
    if address.startswith("Frau"):
        return f"Sehr geehrte {address} {family_name},"
    if address.startswith("Herr"):
        return f"Sehr geehrter {address} {family_name},"
    name = " ".join(p for p in (given_name, family_name) if p)
    return f"Guten Tag {name}," if name else "Guten Tag,"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, *, meeting: Meeting, organization: Organization, agenda: list[AgendaEntry],
           deadlines: MeetingDeadlines, greeting_line: str, base_url: str, lead: str = "",
           note: str | None = None, preferences_url: str | None = None,
           today: date | None = None, task: Any = None) -> Rendered:
    context: dict[str, Any] = {
        "meeting": meeting, "organization": organization, "agenda": agenda, "deadlines": deadlines,
        "greeting": greeting_line, "base_url": base_url, "lead": lead, "note": note,
        "preferences_url": preferences_url, "today": today or datetime.now(TIMEZONE).date(),
        "task": task,
    }
    subject = " ".join(_TEXT.get_template(f"{kind}.subject").render(context).split())
    context["subject"] = subject
    return Rendered(subject, _TEXT.get_template(f"{kind}.txt").render(context),
                    _HTML.get_template(f"{kind}.html").render(context))
