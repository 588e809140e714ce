"""The Sitzung page (invite, move, cancel), Meine Sitzungen, the iCalendar feeds, over HTTP."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar
from sqlmodel import select

from engine.calendar import reminders
from engine.council import Meeting, Person
from engine.settings import TIMEZONE

from .conftest import NOW, text_of


def _meeting(database, reference: str) -> Meeting:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Meeting).where(Meeting.reference == reference)).one()  # type: ignore[no-any-return]


def test_secretary_invites_moves_and_cancels_from_the_session_page(demo, database, browser):  # type: ignore[no-untyped-def]
    assembly = _meeting(database, "SI/2024/128")
    schmitz = browser().login("schmitz")
    page = schmitz.get(f"/sitzungen/{assembly.id}")
    assert page.status_code == 200
    text = text_of(page.get_data(as_text=True))
    assert "Einladung versenden" in text and "Ladungsfrist" in text and "Sitzung verlegen" in text

    # Moving without a reason: 422, the field named, nothing changed.
    day = (assembly.start + timedelta(days=7)).astimezone(TIMEZONE)
    refused = schmitz.post(f"/sitzungen/{assembly.id}/verlegen", {"date": f"{day:%d.%m.%Y}", "start_time": "15:00"})
    assert refused.status_code == 422 and "Pflichtfeld" in text_of(refused.get_data(as_text=True))
    assert _meeting(database, "SI/2024/128").start == assembly.start
    bad_date = schmitz.post(f"/sitzungen/{assembly.id}/verlegen", {"date": "31.02.2027", "start_time": "15:00",
                                                                   "reason": "x"})
    assert bad_date.status_code == 422 and "TT.MM.JJJJ" in bad_date.get_data(as_text=True)
    nul = schmitz.post(f"/sitzungen/{assembly.id}/absagen", {"reason": "a\x00b"})
    assert nul.status_code == 422

    # A colleague of another Gremium may not.
    hoffmann = browser().login("hoffmann")
    assert hoffmann.post(f"/sitzungen/{assembly.id}/einladen", {}).status_code == 403

    assert schmitz.post(f"/sitzungen/{assembly.id}/einladen", {}).status_code == 302
    assert _meeting(database, "SI/2024/128").meeting_state == "eingeladen"
    again = schmitz.post(f"/sitzungen/{assembly.id}/einladen", {})
    assert again.status_code == 409 and "schon am" in again.get_data(as_text=True)

    moved = schmitz.post(f"/sitzungen/{assembly.id}/verlegen", {
        "date": f"{day:%d.%m.%Y}", "start_time": "16:30", "reason": "Raum belegt"})
    assert moved.status_code == 302
    assert _meeting(database, "SI/2024/128").start.astimezone(TIMEZONE).strftime("%d.%m.%Y %H:%M") == \
        f"{day:%d.%m.%Y} 16:30"
    assert schmitz.post(f"/sitzungen/{assembly.id}/absagen", {"reason": "Beschlussunfähigkeit absehbar"}).status_code == 302
    text = text_of(schmitz.get(f"/sitzungen/{assembly.id}").get_data(as_text=True))
    assert "Abgesagt." in text
    assert browser().get(f"/sitzungen/{2**31}").status_code == 404


def test_public_feeds_and_the_members_personal_calendar(demo, database, browser, app):  # type: ignore[no-untyped-def]
    anonymous = app.test_client()
    index = anonymous.get("/").get_data(as_text=True)
    assert 'rel="alternate" type="text/calendar"' in index
    feed = anonymous.get("/kalender.ics")
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(feed.data)
    events = cal.walk("VEVENT")
    assembly = _meeting(database, "SI/2024/128")
    ours = [e for e in events if str(e["uid"]).startswith(f"sitzung-{assembly.id}@")]
    assert ours and ours[0].decoded("dtstart") == assembly.start
    assert ours[0]["dtstart"].params["TZID"] == "Europe/Berlin"
    assert "Verbandsversammlung" in str(ours[0]["summary"])
    assert not ours[0].walk("VALARM")  # public feeds carry no alarms
    assert anonymous.get(f"/kalender/{2**31}.ics").status_code == 404

    becker = browser().login("becker")
    page = becker.get("/meine-sitzungen")
    assert page.status_code == 200 and "Verbandsversammlung" in page.get_data(as_text=True)
    created = becker.post("/meine-sitzungen", {"action": "new-token"})
    assert created.status_code == 200
    url = next(word for word in text_of(created.get_data(as_text=True)).split() if "/kalender/persoenlich/" in word)
    path = url.split("localhost", 1)[-1]
    personal = anonymous.get(path)
    assert personal.status_code == 200
    mine = Calendar.from_ical(personal.data).walk("VEVENT")
    triggers = sorted({str(a.decoded("trigger")) for e in mine for a in e.walk("VALARM")})
    assert triggers == ["-1 day, 0:00:00", "-7 days, 0:00:00"]
    # Preferences: only the 1-day reminder by e-mail; the form shows what was chosen.
    saved = becker.post("/meine-sitzungen", {"action": "preferences", f"lead-{reminders.DAY}": "on"})
    assert saved.status_code == 200
    html = saved.get_data(as_text=True)
    assert f'name="lead-{reminders.DAY}" checked' in html and f'name="lead-{7 * reminders.DAY}" checked' not in html
    with database.unit_of_work() as s:
        becker_id = s.exec(select(Person.id).where(Person.family_name == "Becker")).one()
        assert reminders.opted_out(s, [becker_id]) == {(becker_id, 7 * reminders.DAY)}
    becker.post("/meine-sitzungen", {"action": "revoke-token"})
    assert anonymous.get(path).status_code == 404
    assert anonymous.get("/kalender/persoenlich/nichts.ics").status_code == 404


def test_members_see_the_reminders_sent_to_them(demo, database, browser):  # type: ignore[no-untyped-def]
    from notifications.delivery import FolderTransport
    from notifications.sweep import run_once

    assembly = _meeting(database, "SI/2024/128")
    assert NOW < assembly.start - timedelta(days=7)  # nothing sent before the clock is moved
    assert "versandt" not in text_of(browser().login("becker").get("/meine-sitzungen").get_data(as_text=True))
    run_once(database, assembly.start - timedelta(days=7), FolderTransport(database.settings.mail_path, "x@y"))
    text = text_of(browser().login("becker").get("/meine-sitzungen").get_data(as_text=True))
    assert "Erinnerungen an mich" in text and "versandt" in text and "7 Tage vorher" in text
