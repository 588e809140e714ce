"""iCalendar feeds of Sitzungen (``icalendar``): public, per Gremium, and per member.

Each Sitzung is one VEVENT with a stable UID; a move raises its SEQUENCE (the Meeting's
``sequence``), a cancellation keeps the event with ``STATUS:CANCELLED`` so calendars remove
it. DTSTART/DTEND carry the Europe/Berlin time zone (with its VTIMEZONE). A member's feed
adds a VALARM per lead time of their reminders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event, Timezone

from engine.calendar.meetings import AgendaEntry
from engine.council import Meeting, Organization
from engine.settings import TIMEZONE

PRODID = "-//ratsflow//Sitzungsdienst//DE"
DEFAULT_LENGTH = timedelta(hours=3)


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", TIMEZONE.key)
    cal.add_component(Timezone.from_tzinfo(TIMEZONE))
    return cal


def event(meeting: Meeting, organization: Organization, base_url: str, domain: str,
          agenda: Iterable[AgendaEntry] = (), alarms: Iterable[int] = (),
          stamp: datetime | None = None) -> Event:
    ev = Event()
    ev.add("uid", f"sitzung-{meeting.id}@{domain}")
    ev.add("sequence", meeting.sequence)
    ev.add("dtstamp", stamp or meeting.modified or meeting.start)
    ev.add("dtstart", meeting.start.astimezone(TIMEZONE))
    ev.add("dtend", (meeting.end or meeting.start + DEFAULT_LENGTH).astimezone(TIMEZONE))
    ev.add("summary", f"{organization.name}: {meeting.name}" if organization.name not in meeting.name
           else meeting.name)
    if meeting.location:
        ev.add("location", meeting.location)
    ev.add("url", f"{base_url}/sitzungen/{meeting.id}")
    lines = [f"TOP {e.number or '–'} {e.name}" + (f" (Vorlage {e.reference})" if e.reference else "")
             for e in agenda]
    ev.add("description", "\n".join(["Tagesordnung:", *lines]) if lines else meeting.name)
    ev.add("categories", [organization.short_name or organization.name])
    if meeting.cancelled:
        ev.add("status", "CANCELLED")
    else:
        ev.add("status", "CONFIRMED")
        for minutes in alarms:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"Sitzung {organization.short_name or organization.name}")
            alarm.add("trigger", -timedelta(minutes=minutes))
            ev.add_component(alarm)
    return ev


def feed(name: str, items: Iterable[tuple[Meeting, Organization, list[AgendaEntry]]], base_url: str,
         domain: str, alarms: Iterable[int] = ()) -> bytes:
    cal = _calendar(name)
    leads = list(alarms)
    for meeting, organization, agenda in items:
        cal.add_component(event(meeting, organization, base_url, domain, agenda, leads))
    return cal.to_ical()  # type: ignore[no-any-return]


def single(meeting: Meeting, organization: Organization, base_url: str, domain: str,
           agenda: Iterable[AgendaEntry] = ()) -> str:
    """One session as an attachment of its invitation."""
    cal = _calendar(organization.name)
    cal.add_component(event(meeting, organization, base_url, domain, agenda))
    return cal.to_ical().decode()  # type: ignore[no-any-return]
