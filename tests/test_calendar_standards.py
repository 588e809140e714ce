"""iCalendar and e-mail, point by point (issue 20): the VTIMEZONE as RRULEs that ical.js reads
right (a July session at its hour), ORGANIZER with ``METHOD:PUBLISH`` (RFC 5546 §3.2.1), a
cancelled session's ``STATUS:CANCELLED`` as the attachment of its mail, the .ics part's
``charset=utf-8``, and ``List-Unsubscribe`` with one-click ``List-Unsubscribe-Post`` (RFC 2369,
8058) on the reminders a member can switch off: a signed link, a confirmation page on GET (a mail
scanner changes nothing), the reminder kind off on POST without login, audited.

ical.js is Mozilla's iCalendar library, as calendar web apps use it (npm, ``tests/ical``: the
README's test command installs it); node runs it on what the app serves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar
from sqlmodel import col, select

from engine.audit import AuditEvent
from engine.calendar import reminders
from engine.council import Account, Meeting, Organization
from engine.outbox import OutboxMessage
from engine.process import sessions
from engine.settings import TIMEZONE
from notifications import calendar
from notifications.delivery import SmtpTransport, build_email, encode
from notifications.sweep import run_once

from .conftest import NOW, PROJECT

ICAL = PROJECT / "tests" / "ical"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _ical_js(text: str) -> dict[str, Any]:
    """What ical.js reads in an iCalendar text: METHOD and each VEVENT (start and end in UTC)."""
    node = shutil.which("node")
    if node is None:
        _missing("node is missing (Debian: apt-get install nodejs)")
    if not (ICAL / "node_modules" / "ical.js").is_dir():
        _missing("ical.js is missing: npm --prefix tests/ical ci")
    done = subprocess.run([str(node), str(ICAL / "read.mjs")], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- the time zone

def test_the_vtimezone_is_two_rrules_that_agree_with_the_tz_database() -> None:
    zone = calendar.berlin()
    text = zone.to_ical().decode()
    assert "RDATE" not in text and text.count("RRULE:") == 2
    utc = ZoneInfo("UTC")
    for part, offset_after in (("DAYLIGHT", timedelta(hours=2)), ("STANDARD", timedelta(hours=1))):
        [sub] = zone.walk(part)
        offset_before = sub["tzoffsetfrom"].td
        assert sub["tzoffsetto"].td == offset_after
        rule = rrulestr(sub["rrule"].to_ical().decode(), dtstart=sub.decoded("dtstart"))
        changes = list(rule.between(datetime(1996, 1, 1), datetime(2100, 12, 31), inc=True))
        assert len(changes) == 105  # every year, 1996 to 2100
        for local in changes:  # the wall-clock moment of the change, in the offset before it
            moment = (local - offset_before).replace(tzinfo=utc)
            assert (moment - timedelta(seconds=1)).astimezone(TIMEZONE).utcoffset() == offset_before, local
            assert moment.astimezone(TIMEZONE).utcoffset() == offset_after, local


@pytest.mark.sqlite_only
def test_ical_js_reads_a_summer_session_at_its_hour_with_its_organizer(demo, app, database):  # type: ignore[no-untyped-def]
    """The issue's case: a session at 17:00 in July is 15:00 UTC (summer time), in January 16:00."""
    with database.unit_of_work() as s:
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
        july = Meeting(organization_id=committee.id, name="Sommersitzung", reference="SI/2027/070",
                       start=datetime(2027, 7, 8, 17, 0, tzinfo=TIMEZONE))
        january = Meeting(organization_id=committee.id, name="Wintersitzung", reference="SI/2027/010",
                          start=datetime(2027, 1, 14, 17, 0, tzinfo=TIMEZONE))
        s.add_all([july, january])
        s.flush()
        ids = {july.id: "2027-07-08T15:00:00.000Z", january.id: "2027-01-14T16:00:00.000Z"}
    for url in ("/kalender.ics", f"/kalender/{committee.id}.ics"):
        feed = app.test_client().get(url)
        assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
        read = _ical_js(feed.get_data(as_text=True))
        assert read["method"] == "PUBLISH"
        starts = {int(e["uid"].split("-")[1].split("@")[0]): e["start"] for e in read["events"]}
        assert {i: starts[i] for i in ids} == ids
        assert all(e["organizer"] == "mailto:sitzungsdienst@ratsflow.invalid"
                   and e["organizerName"] == "Sitzungsdienst" for e in read["events"])
        assert all(e["zone"] == "Europe/Berlin" for e in read["events"])


@pytest.mark.sqlite_only
def test_a_members_alarm_says_which_session_in_words_and_ical_js_reads_it(demo, app, database):  # type: ignore[no-untyped-def]
    """The VALARM of a member's calendar names the Gremium in the genitive and the session's date
    and time in Europe/Berlin, never its short code ("Sitzung AWSG"); nor does anything else in
    the feed. A July session at 17:00 is 17:00 in the text (summer time), not 15:00 UTC."""
    with database.unit_of_work() as s:
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
        july = Meeting(organization_id=committee.id, name="Sommersitzung", reference="SI/2027/070",
                       start=datetime(2027, 7, 8, 17, 0, tzinfo=TIMEZONE))
        s.add(july)
        becker = s.exec(select(Account).where(Account.username == "becker")).one().person_id
        token = reminders.new_calendar_token(s, becker, NOW)
        s.flush()
        uid = f"sitzung-{july.id}@"
    feed = app.test_client().get(f"/kalender/persoenlich/{token}.ics")
    assert feed.status_code == 200
    text = feed.get_data(as_text=True)
    assert "AWSG" not in text.replace("\r\n ", "")
    [event] = [e for e in _ical_js(text)["events"] if e["uid"].startswith(uid)]
    expected = ("Sitzung des Ausschusses für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit "
                "am 08.07.2027 um 17:00 Uhr")
    alarms = sorted((a["trigger"], a["action"], a["description"]) for a in event["alarms"])
    assert alarms == [("-P1D", "DISPLAY", expected), ("-P7D", "DISPLAY", expected)]
    categories = event["categories"]
    assert categories == [committee.name]
    # A Gremium whose genitive the Verwaltung corrected is named so.
    with database.unit_of_work() as s:
        s.get(Organization, committee.id).name_genitive = "des Wirtschaftsausschusses"
    read = _ical_js(app.test_client().get(f"/kalender/persoenlich/{token}.ics").get_data(as_text=True))
    [event] = [e for e in read["events"] if e["uid"].startswith(uid)]
    texts = {a["description"] for a in event["alarms"]}
    assert texts == {"Sitzung des Wirtschaftsausschusses am 08.07.2027 um 17:00 Uhr"}


# ------------------------------------------------------------------------ the cancellation mail

def _calendar_part(message):  # type: ignore[no-untyped-def]
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return part


def test_a_cancelled_session_sends_its_cancelled_event_in_utf_8(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@ratsflow.invalid>")
    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        committee = s.get(Organization, later.organization_id)
        assert "ü" in committee.name  # "Ausschuss für (eu)regionale Wirtschaft …"
    who = actor("hoffmann")
    with database.unit_of_work() as s:
        sessions.cancel(s, who, later.id, {"reason": "Keine beratungsreifen Vorlagen"}, now=NOW)
    run_once(database, NOW + timedelta(minutes=1), transport)
    cancelled = [m for m in smtp.inbox.messages if m["Subject"].startswith("Sitzung abgesagt")]
    assert cancelled
    for message in cancelled:
        part = _calendar_part(message)
        assert part.get_content_charset() == "utf-8" and part.get_param("method") == "PUBLISH"
        text = part.get_content()
        assert "\ufffd" not in text and committee.name in text.replace("\r\n ", "")
        assert committee.short_name not in text.replace("\r\n ", "")  # words, not the code
        [event] = Calendar.from_ical(text).walk("VEVENT")
        assert (str(event["status"]), int(event["sequence"])) == ("CANCELLED", 1)
        assert str(event["organizer"]) == "mailto:sitzungsdienst@ratsflow.invalid"
    read = _ical_js(_calendar_part(cancelled[0]).get_content())
    [event] = read["events"]
    assert (read["method"], event["status"], event["sequence"]) == ("PUBLISH", "CANCELLED", 1)


# ----------------------------------------------------------------------------- unsubscribing

def _seven_day_reminders(database, smtp):  # type: ignore[no-untyped-def]
    """The assembly's 7-day reminders, sent through a real SMTP server."""
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@ratsflow.invalid>")
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
    run_once(database, assembly.start - timedelta(days=7) + timedelta(seconds=30), transport)
    return [m for m in smtp.inbox.messages if m["Subject"].startswith("Erinnerung: VV in 7 Tagen")]


def test_a_reminder_carries_a_one_click_unsubscribe_that_turns_that_kind_off(  # type: ignore[no-untyped-def]
        demo, database, smtp, app, settings):
    sent = _seven_day_reminders(database, smtp)
    becker = [m for m in sent if "martina.becker@example.org" in str(m["To"])][0]
    header = str(becker["List-Unsubscribe"])
    assert header.startswith(f"<{settings.base_url}/erinnerungen/abbestellen/") and header.endswith(">")
    assert str(becker["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert len({str(m["List-Unsubscribe"]) for m in sent}) == len(sent)  # each member's own link
    path = urlsplit(header[1:-1]).path
    week, day = 7 * 24 * 60, 24 * 60
    with database.unit_of_work() as s:
        person_id = s.exec(select(Account).where(Account.username == "becker")).one().person_id
        assert reminders.wants_email(s, person_id, week) and reminders.wants_email(s, person_id, day)

    # GET (a scanner, or the member's click): a German page that asks, nothing changed.
    client = app.test_client()
    asked = client.get(path)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "7 Tage" in page and ">Abbestellen</button>" in page
    assert 'method="post"' in page and asked.headers["Cache-Control"] == "no-store"
    with database.unit_of_work() as s:
        assert reminders.wants_email(s, person_id, week)

    # The mail client's one-click POST (RFC 8058): no login, no cookie, no CSRF token.
    done = app.test_client().post(path, data="List-Unsubscribe=One-Click",
                                  content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "Erinnerung abbestellt" in done.get_data(as_text=True)
    with database.unit_of_work() as s:
        assert not reminders.wants_email(s, person_id, week)
        assert reminders.wants_email(s, person_id, day)  # exactly that kind
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "reminders.unsubscribed")).all()
        recorded = [(e.actor, e.details["lead_minutes"]) for e in events]
        assert recorded == [("becker", week)]
    again = app.test_client().post(path, data="List-Unsubscribe=One-Click",
                                   content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200
    with database.unit_of_work() as s:  # nothing changed twice, nothing audited twice
        count = len(s.exec(select(AuditEvent).where(AuditEvent.action == "reminders.unsubscribed")).all())
        assert count == 1
    assert "schon keine E-Mail" in app.test_client().get(path).get_data(as_text=True)


@pytest.mark.sqlite_only
def test_a_link_not_signed_here_changes_nothing(demo, database, app):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        person_id = s.exec(select(Account).where(Account.username == "becker")).one().person_id
    good = reminders.unsubscribe_token(app.secret_key, person_id, 10080)
    forged = [good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
              reminders.unsubscribe_token("ein-anderer-schluessel", person_id, 10080),
              good.split(".")[0], "x" * 300]
    for token in forged:
        for method in ("GET", "POST"):
            answer = app.test_client().open(f"/erinnerungen/abbestellen/{token}", method=method)
            assert answer.status_code == 404, (token, method)
            assert "Dieser Link ist ungültig" in answer.get_data(as_text=True)
    with database.unit_of_work() as s:
        assert reminders.wants_email(s, person_id, 10080)


def test_only_switchable_reminders_carry_the_header_and_a_rebuilt_message_keeps_it(  # type: ignore[no-untyped-def]
        demo, database, actor, smtp):
    who = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        sessions.send_invitation(s, who, assembly.id, {}, now=NOW)
    run_once(database, NOW + timedelta(minutes=1), SmtpTransport(smtp.url, "sitzungsdienst@ratsflow.invalid"))
    invitations = [m for m in smtp.inbox.messages if m["Subject"].startswith("Einladung")]
    assert invitations and all(m["List-Unsubscribe"] is None for m in invitations)
    smtp.inbox.clear()
    sent = _seven_day_reminders(database, smtp)
    assert sent and all(m["List-Unsubscribe"] is not None for m in sent)
    with database.unit_of_work() as s:  # the admin's "erneut senden" builds it from the row again
        row = s.exec(select(OutboxMessage).where(col(OutboxMessage.list_unsubscribe).is_not(None))
                     .order_by(col(OutboxMessage.id))).first()
        assert row is not None and row.list_unsubscribe
        row.raw = None
        rebuilt = message_from_bytes(encode(row, "sitzungsdienst@ratsflow.invalid"), policy=policy.default)
    assert str(rebuilt["List-Unsubscribe"]) == f"<{row.list_unsubscribe}>"
    assert str(rebuilt["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert build_email(row, None)["List-Unsubscribe"] is not None


@pytest.mark.sqlite_only
def test_the_unsubscribe_page_in_english(demo, database, app):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        person_id = s.exec(select(Account).where(Account.username == "becker")).one().person_id
    token = reminders.unsubscribe_token(app.secret_key, person_id, 10080)
    page = app.test_client().get(f"/erinnerungen/abbestellen/{token}", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Abbestellen" not in text and "Unsubscribe" in text

