"""iCalendar feeds of Sitzungen (``icalendar``): public, per Gremium, and per member.

Each Sitzung is one VEVENT with a stable UID; a move raises its SEQUENCE (the Meeting's
``sequence``), a cancellation keeps the event with ``STATUS:CANCELLED`` so calendars remove
it (in the feeds and as the attachment of the cancellation's mail). ``METHOD:PUBLISH`` with
the ORGANIZER RFC 5546 §3.2.1 asks for: the Sitzungsdienst, as ``RATSFLOW_MAIL_FROM`` names
it. DTSTART/DTEND carry the Europe/Berlin time zone, whose VTIMEZONE is written with the two
RRULEs of its summer time (:func:`berlin`), not as a list of dates: ical.js (and the clients
built on it) read such a list as winter time all year. A member's feed adds a VALARM per lead
time of their reminders. Every text in them is in words a member understands, never the
Gremium's short code: the alarm says "Sitzung des Ausschusses für … am 04.12.2026 um 15:00 Uhr"
(:func:`alarm_text`: the Gremium in the genitive, ``Organization.genitive``; date and time in
Europe/Berlin), CATEGORIES carries the Gremium's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import cache

from icalendar import Alarm, Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress

from engine.calendar.meetings import AgendaEntry
from engine.council import Meeting, Organization
from engine.settings import TIMEZONE

PRODID = "-//ratsflow//Sitzungsdienst//DE"
DEFAULT_LENGTH = timedelta(hours=3)


@cache
def berlin() -> Timezone:
    """Europe/Berlin as the EU's summer time has been since 1996: from the last Sunday of March,
    02:00 CET, to the last Sunday of October, 03:00 CEST (``tests/test_calendar_standards.py``
    holds it against the tz database for every year to 2100, and reads it with ical.js)."""
    assert TIMEZONE.key == "Europe/Berlin", TIMEZONE.key  # the rules below are this zone's
    zone = Timezone()
    zone.add("tzid", TIMEZONE.key)
    zone.add("x-lic-location", TIMEZONE.key)
    for part, name, offsets, start, month in (
            (TimezoneDaylight(), "CEST", (1, 2), datetime(1996, 3, 31, 2, 0), 3),
            (TimezoneStandard(), "CET", (2, 1), datetime(1996, 10, 27, 3, 0), 10)):
        part.add("tzname", name)
        part.add("tzoffsetfrom", timedelta(hours=offsets[0]))
        part.add("tzoffsetto", timedelta(hours=offsets[1]))
        part.add("dtstart", start)
        part.add("rrule", {"freq": "yearly", "bymonth": month, "byday": "-1su"})
        zone.add_component(part)
    return zone


def organizer(mail_from: str) -> vCalAddress:
    """The Sitzungsdienst that sends the invitations (``RATSFLOW_MAIL_FROM``) as ORGANIZER."""
    name, address = parseaddr(mail_from)
    value = vCalAddress(f"mailto:{address}")
    value.params["cn"] = name or "Sitzungsdienst"
    return value


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", TIMEZONE.key)
    cal.add_component(berlin())
    return cal


def alarm_text(meeting: Meeting, organization: Organization) -> str:
    """What a member's calendar shows when an alarm goes off: "Sitzung des Ausschusses für …
    am 04.12.2026 um 15:00 Uhr" (the session's date and time in Europe/Berlin)."""
    start = meeting.start.astimezone(TIMEZONE)
    return f"Sitzung {organization.genitive} am {start:%d.%m.%Y} um {start:%H:%M} Uhr"


def event(meeting: Meeting, organization: Organization, base_url: str, mail_from: str, domain: str,
          agenda: Iterable[AgendaEntry] = (), alarms: Iterable[int] = (),
          stamp: datetime | None = None) -> Event:
    ev = Event()
    ev.add("uid", f"sitzung-{meeting.id}@{domain}")
    ev.add("sequence", meeting.sequence)
    ev.add("organizer", organizer(mail_from))
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
    ev.add("categories", [organization.name])
    if meeting.cancelled:
        ev.add("status", "CANCELLED")
    else:
        ev.add("status", "CONFIRMED")
        for minutes in alarms:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", alarm_text(meeting, organization))
            alarm.add("trigger", -timedelta(minutes=minutes))
            ev.add_component(alarm)
    return ev


def feed(name: str, items: Iterable[tuple[Meeting, Organization, list[AgendaEntry]]], base_url: str,
         mail_from: str, domain: str, alarms: Iterable[int] = ()) -> bytes:
    cal = _calendar(name)
    leads = list(alarms)
    for meeting, organization, agenda in items:
        cal.add_component(event(meeting, organization, base_url, mail_from, domain, agenda, leads))
    return cal.to_ical()  # type: ignore[no-any-return]


def single(meeting: Meeting, organization: Organization, base_url: str, mail_from: str, domain: str,
           agenda: Iterable[AgendaEntry] = ()) -> str:
    """One session as the attachment of its invitation, its move or its cancellation."""
    cal = _calendar(organization.name)
    cal.add_component(event(meeting, organization, base_url, mail_from, domain, agenda))
    return cal.to_ical().decode()  # type: ignore[no-any-return]
