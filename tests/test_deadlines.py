"""Ladungsfrist, agenda closing and result steps (engine.calendar.deadlines).

The expected dates in the tables are worked out by hand from the calendar, each row's
reasoning next to it; none of them is computed with the code under test.
Calendar: Fri 20.11.2026; 25./26.12.2026 Fri/Sat; 01.01.2027 Fri; Good Friday 26.03.2027,
Easter Monday 29.03.2027; Fronleichnam (Corpus Christi) Thu 27.05.2027; Buß- und Bettag
(Saxony only) Wed 18.11.2026; Heilige Drei Könige (BW, BY, ST) Wed 06.01.2027.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

import holidays
import pytest
from sqlmodel import select

from engine.audit import AuditEvent, verify
from engine.calendar import deadlines
from engine.calendar.deadlines import (
    BUNDESLAENDER,
    MeetingDeadlines,
    Rules,
    add_working_days,
    is_working_day,
    meeting_deadlines,
    result_due,
)
from engine.council import Body, DeadlineRule, Meeting, Organization
from engine.errors import Forbidden, Invalid, NotFound
from engine.settings import TIMEZONE


def d(text: str) -> date:
    """A date as Germans write it: "20.11.2026"."""
    day, month, year = text.split(".")
    return date(int(year), int(month), int(day))


def R(days: int, *, working: bool = False, count: bool = False, agenda: int = 3,  # noqa: N802
      result: int = 3) -> Rules:
    return Rules(invitation_days=days, working_days=working, count_session_day=count,
                 agenda_days_before=agenda, result_working_days=result)


# ----------------------------------------------------------------------------- the package's holidays

def test_the_holiday_calendar_we_rely_on() -> None:
    nationwide = holidays.country_holidays("DE", years=[2026, 2027])
    assert d("29.03.2027") in nationwide and d("26.03.2027") in nationwide  # Easter Monday, Good Friday
    assert d("25.12.2026") in nationwide and d("26.12.2026") in nationwide and d("01.01.2027") in nationwide
    assert d("24.12.2026") not in nationwide and d("31.12.2026") not in nationwide
    assert d("27.05.2027") in holidays.country_holidays("DE", subdiv="NW", years=2027)
    assert d("27.05.2027") not in holidays.country_holidays("DE", subdiv="BE", years=2027)
    assert d("18.11.2026") in holidays.country_holidays("DE", subdiv="SN", years=2026)
    assert sorted(BUNDESLAENDER) == sorted(
        code for code in holidays.country_holidays("DE").subdivisions if len(code) == 2)


# ----------------------------------------------------------------------------- pure functions

@pytest.mark.parametrize(("day", "state", "expected"), [
    pytest.param("20.11.2026", "NW", True, id="Friday"),
    pytest.param("21.11.2026", "NW", False, id="Saturday"),
    pytest.param("22.11.2026", None, False, id="Sunday"),
    pytest.param("24.12.2026", "NW", True, id="Christmas Eve is a working day"),
    pytest.param("31.12.2026", "BY", True, id="New Year's Eve is a working day"),
    pytest.param("25.12.2026", None, False, id="Christmas Day nationwide"),
    pytest.param("01.01.2027", "BE", False, id="New Year's Day"),
    pytest.param("29.03.2027", "BE", False, id="Easter Monday"),
    pytest.param("27.05.2027", "NW", False, id="Fronleichnam in NW"),
    pytest.param("27.05.2027", "BE", True, id="Fronleichnam not in BE"),
    pytest.param("27.05.2027", None, True, id="Fronleichnam not nationwide"),
    pytest.param("06.01.2027", "BY", False, id="Epiphany in BY"),
    pytest.param("06.01.2027", "NW", True, id="Epiphany not in NW"),
    pytest.param("18.11.2026", "SN", False, id="Buss- und Bettag in SN"),
    pytest.param("18.11.2026", "NW", True, id="Buss- und Bettag not in NW"),
])
def test_is_working_day(day: str, state: str | None, expected: bool) -> None:
    assert is_working_day(d(day), state) is expected


def test_is_working_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        is_working_day(datetime(2026, 11, 20, 15, 0, tzinfo=TIMEZONE), "NW")


@pytest.mark.parametrize(("day", "n", "state", "expected"), [
    pytest.param("20.11.2026", 1, "NW", "23.11.2026", id="Friday +1 is Monday"),
    pytest.param("23.11.2026", -1, "NW", "20.11.2026", id="Monday -1 is Friday"),
    pytest.param("21.11.2026", 1, "NW", "23.11.2026", id="Saturday +1 is Monday"),
    pytest.param("21.11.2026", -1, "NW", "20.11.2026", id="Saturday -1 is Friday"),
    pytest.param("21.11.2026", 0, "NW", "21.11.2026", id="0 is the day itself"),
    pytest.param("16.11.2026", 5, "NW", "23.11.2026", id="a whole week"),
    pytest.param("16.11.2026", 5, "SN", "24.11.2026", id="a week with Buss- und Bettag in SN"),
    pytest.param("24.12.2026", 1, "NW", "28.12.2026", id="over Christmas"),
    pytest.param("04.01.2027", -1, "NW", "31.12.2026", id="back over New Year"),
    pytest.param("25.03.2027", 1, None, "30.03.2027", id="over Easter"),
    pytest.param("28.05.2027", -2, "NW", "25.05.2027", id="back over Fronleichnam in NW"),
    pytest.param("28.05.2027", -2, "BE", "26.05.2027", id="back over Thursday in BE"),
])
def test_add_working_days(day: str, n: int, state: str | None, expected: str) -> None:
    assert add_working_days(d(day), n, state) == d(expected)


MEETINGS = [
    # Plain weeks, calendar days. Session Fri 20.11.2026, 7 days not counting it: 13.–19. → 13.11.
    pytest.param("20.11.2026", R(7), "NW", "13.11.2026", "10.11.2026", id="week, calendar, session day not counted"),
    # Session Thu 19.11., 7 days counting it: 13.–19. → 13.11.; agenda 3 days earlier: Tue 10.11.
    pytest.param("19.11.2026", R(7, count=True), "NW", "13.11.2026", "10.11.2026", id="week, calendar, session day counted"),
    # Hilden: ≥ 9 days counting the session day; Fri 20th → 12th (12.–20. are 9 days); agenda Mon 9th.
    pytest.param("20.11.2026", R(9, count=True), "NW", "12.11.2026", "09.11.2026", id="Hilden 9 days counting the session day"),
    pytest.param("20.11.2026", R(9, count=True, agenda=0), "NW", "12.11.2026", "12.11.2026", id="Hilden, agenda closes the same day"),
    # Rhein-Kreis Neuss: 6 calendar days; Fri 20th → Sat 14th → moved back to Fri 13th.
    pytest.param("20.11.2026", R(6), "NW", "13.11.2026", "10.11.2026", id="Neuss 6 days, Saturday moves back to Friday"),
    pytest.param("25.11.2026", R(6), "NW", "19.11.2026", "16.11.2026", id="Neuss 6 days, session on Wednesday"),
    # Neuss urgent: 3 Werktage; before Fri 20th: Thu 19, Wed 18, Tue 17; agenda 1 Werktag earlier: Mon 16.
    pytest.param("20.11.2026", R(3, working=True, agenda=1), "NW", "17.11.2026", "16.11.2026", id="urgent 3 Werktage"),
    # Saxony: Wed 18th is Buß- und Bettag → Thu 19, Tue 17, Mon 16; agenda Fri 13.
    pytest.param("20.11.2026", R(3, working=True, agenda=1), "SN", "16.11.2026", "13.11.2026", id="urgent 3 Werktage over Buss- und Bettag"),
    # Counting the session day (a Friday, a working day): Fri 20, Thu 19, Wed 18.
    pytest.param("20.11.2026", R(3, working=True, count=True, agenda=1), "NW", "18.11.2026", "17.11.2026", id="3 Werktage counting the session day"),
    # A Saturday session day does not count although count_session_day: Fri 20, Thu 19, Wed 18.
    pytest.param("21.11.2026", R(3, working=True, count=True, agenda=1), "NW", "18.11.2026", "17.11.2026", id="3 Werktage, Saturday session day does not count"),
    # Sessions on a Monday (23.11.2026).
    pytest.param("23.11.2026", R(7), "NW", "16.11.2026", "13.11.2026", id="Monday session, 7 calendar days"),
    pytest.param("23.11.2026", R(3, working=True, agenda=2), "NW", "18.11.2026", "16.11.2026", id="Monday session, 3 Werktage"),
    # Hilden rule on a Monday: 23 − 8 = Sun 15th → Fri 13th; agenda Tue 10th.
    pytest.param("23.11.2026", R(9, count=True), "NW", "13.11.2026", "10.11.2026", id="Monday session, Hilden, Sunday moves back to Friday"),
    # Agenda 5 days before Fri 13th is Sun 8th → Fri 6th.
    pytest.param("20.11.2026", R(7, agenda=5), "NW", "13.11.2026", "06.11.2026", id="agenda closing on Sunday moves back to Friday"),
    # Wolfsburg ≥ 10 days; a Bavarian council: 3 weeks.
    pytest.param("19.11.2026", R(10), "NI", "09.11.2026", "06.11.2026", id="Wolfsburg 10 days"),
    pytest.param("19.11.2026", R(21), "BY", "29.10.2026", "26.10.2026", id="Bavaria 3 weeks"),
    # Christmas, 7 Werktage before Thu 07.01.2027 in NW: 6., 5., 4.1., (1.1. holiday) 31., 30., 29., 28.12.
    # Agenda 3 Werktage before Mon 28.12.: (26., 25.12. holidays) Thu 24., 23., 22.12.
    pytest.param("07.01.2027", R(7, working=True), "NW", "28.12.2026", "22.12.2026", id="Christmas, 7 Werktage, NW"),
    # In Bavaria 06.01. is a holiday too: 5., 4.1., 31., 30., 29., 28., 24.12.; agenda 23., 22., 21.12.
    pytest.param("07.01.2027", R(7, working=True), "BY", "24.12.2026", "21.12.2026", id="Christmas and Epiphany, 7 Werktage, BY"),
    # Calendar: Fri 08.01.2027 − 7 = Fri 01.01. (holiday) → Thu 31.12.; agenda Mon 28.12.
    pytest.param("08.01.2027", R(7), "NW", "31.12.2026", "28.12.2026", id="New Year's Day moves back to 31.12."),
    # Tue 05.01.2027 − 7 = Tue 29.12.; agenda Sat 26.12. (holiday) → Fri 25. (holiday) → Thu 24.12.
    pytest.param("05.01.2027", R(7), "NW", "29.12.2026", "24.12.2026", id="agenda closing on 26.12. moves back to 24.12."),
    # Easter: Mon 05.04.2027 − 7 = Easter Monday 29.03. → (28., 27., Good Friday 26.) → Thu 25.03.; agenda Mon 22.03.
    pytest.param("05.04.2027", R(7), "NW", "25.03.2027", "22.03.2027", id="Easter Monday moves back to Maundy Thursday"),
    # 3 Werktage before Thu 01.04.2027: 31.03., 30.03., (29.03.–26.03. no) 25.03.; agenda Wed 24.03.
    pytest.param("01.04.2027", R(3, working=True, agenda=1), "BE", "25.03.2027", "24.03.2027", id="Easter, 3 Werktage"),
    # Fronleichnam: 3 Werktage before Mon 31.05.2027: NW 28., (27. holiday) 26., 25.05.; BE 28., 27., 26.05.
    pytest.param("31.05.2027", R(3, working=True, agenda=1), "NW", "25.05.2027", "24.05.2027", id="Fronleichnam, 3 Werktage, NW"),
    pytest.param("31.05.2027", R(3, working=True, agenda=1), "BE", "26.05.2027", "25.05.2027", id="Fronleichnam, 3 Werktage, BE"),
    pytest.param("31.05.2027", R(3, working=True, agenda=1), None, "26.05.2027", "25.05.2027", id="Fronleichnam, 3 Werktage, no Land"),
    # Calendar: Thu 03.06.2027 − 7 = Thu 27.05.: NW holiday → Wed 26.05., agenda Sun 23. → Fri 21.05.;
    # BE: Thu 27.05., agenda Mon 24.05.
    pytest.param("03.06.2027", R(7), "NW", "26.05.2027", "21.05.2027", id="Fronleichnam, 7 calendar days, NW"),
    pytest.param("03.06.2027", R(7), "BE", "27.05.2027", "24.05.2027", id="Fronleichnam, 7 calendar days, BE"),
    # No Ladungsfrist at all: the session day, or the working day before it.
    pytest.param("20.11.2026", R(0, agenda=0), "NW", "20.11.2026", "20.11.2026", id="0 days: the session day"),
    pytest.param("21.11.2026", R(0, count=True, agenda=0), "NW", "20.11.2026", "20.11.2026", id="0 days, Saturday session: Friday"),
    pytest.param("21.11.2026", R(1, working=True, agenda=0), "NW", "20.11.2026", "20.11.2026", id="1 Werktag, Saturday session: Friday"),
]


@pytest.mark.parametrize(("session_day", "rules", "state", "invitation", "agenda_closing"), MEETINGS)
def test_meeting_deadlines(session_day: str, rules: Rules, state: str | None,
                           invitation: str, agenda_closing: str) -> None:
    assert meeting_deadlines(d(session_day), rules, state) == MeetingDeadlines(
        invitation=d(invitation), agenda_closing=d(agenda_closing))


@pytest.mark.parametrize(("session_day", "days", "state", "expected"), [
    pytest.param("19.11.2026", 3, "NW", "24.11.2026", id="Thursday + 3 over the weekend"),
    pytest.param("20.11.2026", 1, "NW", "23.11.2026", id="Friday + 1 is Monday"),
    pytest.param("17.11.2026", 1, "SN", "19.11.2026", id="over Buss- und Bettag in SN"),
    pytest.param("17.11.2026", 1, "NW", "18.11.2026", id="no Buss- und Bettag in NW"),
    pytest.param("24.12.2026", 3, "NW", "30.12.2026", id="over Christmas"),
    pytest.param("25.03.2027", 3, "BY", "01.04.2027", id="over Easter"),
    pytest.param("26.05.2027", 1, "NW", "28.05.2027", id="over Fronleichnam in NW"),
    pytest.param("26.05.2027", 1, "BE", "27.05.2027", id="no Fronleichnam in BE"),
    pytest.param("21.11.2026", 0, "NW", "21.11.2026", id="0 days: the session day itself"),
])
def test_result_due(session_day: str, days: int, state: str | None, expected: str) -> None:
    assert result_due(d(session_day), R(7, result=days), state) == d(expected)


def test_rules_of_no_row_are_the_defaults() -> None:
    assert Rules.of(None) == Rules(7, False, False, 3, 3)
    row = DeadlineRule(organization_id=1, invitation_days=9, working_days=True, count_session_day=True,
                       agenda_days_before=2, result_working_days=5)
    assert Rules.of(row) == Rules(9, True, True, 2, 5)


# ----------------------------------------------------------------------------- database

def _org_id(database, short_name: str) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Organization.id).where(Organization.short_name == short_name)).one()  # type: ignore[no-any-return]


def _events(database, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def _rule_rows(database) -> list[tuple[int, Rules]]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return [(r.organization_id, Rules.of(r)) for r in s.exec(select(DeadlineRule))]


HILDEN = {"invitation_days": "9", "working_days": False, "count_session_day": True,
          "agenda_days_before": "2", "result_working_days": "5"}


def test_admin_sets_rules_creates_then_updates_and_audits(demo, database, actor) -> None:  # type: ignore[no-untyped-def]
    committee = _org_id(database, "AWSG")
    admin = actor("admin")
    with database.unit_of_work() as s:
        assert deadlines.rules_for(s, committee) == Rules()
        deadlines.set_rules(s, admin, committee, {**HILDEN, "csrf_token": "ignored"})
    assert _rule_rows(database) == [(committee, Rules(9, False, True, 2, 5))]
    with database.unit_of_work() as s:
        row = deadlines.set_rules(s, admin, committee, {
            "invitation_days": 3, "working_days": True, "agenda_days_before": 0,
            "result_working_days": "3"})
        assert row.modified is not None
        assert deadlines.rules_for(s, committee) == Rules(3, True, False, 0, 3)
    assert _rule_rows(database) == [(committee, Rules(3, True, False, 0, 3))]
    first, second = _events(database, "deadline_rules.changed")
    assert first.actor == "admin" and first.details == {
        "gremium": "Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit",
        "organization_id": committee, "created": True,
        "old": {"invitation_days": 7, "working_days": False, "count_session_day": False,
                "agenda_days_before": 3, "result_working_days": 3},
        "new": {"invitation_days": 9, "working_days": False, "count_session_day": True,
                "agenda_days_before": 2, "result_working_days": 5}}
    assert second.details["created"] is False
    assert second.details["old"] == first.details["new"]
    assert second.details["new"] == asdict(Rules(3, True, False, 0, 3))
    with database.unit_of_work() as s:
        assert verify(s).ok


def test_only_the_administration_sets_rules_and_states(demo, database, actor) -> None:  # type: ignore[no-untyped-def]
    committee = _org_id(database, "AWSG")
    with database.unit_of_work() as s:
        state_before = s.exec(select(Body.state)).one()
    for username in ("hoffmann", "zierstedt", "krueger"):
        secretary = actor(username)
        with database.unit_of_work() as s:
            with pytest.raises(Forbidden, match="Nur die Administration"):
                deadlines.set_rules(s, secretary, committee, HILDEN)
            body_id = s.exec(select(Body.id)).one()
            with pytest.raises(Forbidden):
                deadlines.set_body_state(s, secretary, body_id, "NW")
    assert _rule_rows(database) == []
    assert _events(database, "deadline_rules.changed") == []
    assert _events(database, "body.state_changed") == []
    with database.unit_of_work() as s:
        assert s.exec(select(Body.state)).one() == state_before


def test_rules_only_for_an_existing_gremium(demo, database, actor) -> None:  # type: ignore[no-untyped-def]
    admin = actor("admin")
    with database.unit_of_work() as s:
        department = s.exec(select(Organization.id).where(
            Organization.organization_type == "Verwaltungsbereich")).one()
    for organization_id in (department, 999_999, 10**12, -1):
        with database.unit_of_work() as s:
            with pytest.raises(NotFound):
                deadlines.set_rules(s, admin, organization_id, HILDEN)
    assert _rule_rows(database) == []


@pytest.mark.parametrize(("field", "value", "message"), [
    pytest.param("invitation_days", "abc", "ganze Zahl", id="letters"),
    pytest.param("invitation_days", "", "Pflichtfeld", id="empty"),
    pytest.param("invitation_days", None, "Pflichtfeld", id="None"),
    pytest.param("invitation_days", "1\x00", "ganze Zahl", id="NUL character"),
    pytest.param("invitation_days", 10**12, "0 bis 90", id="10**12"),
    pytest.param("invitation_days", str(10**12), "0 bis 90", id="10**12 as text"),
    pytest.param("invitation_days", "9" * 5000, "ganze Zahl", id="5000 digits"),
    pytest.param("invitation_days", "91", "0 bis 90", id="91 days"),
    pytest.param("invitation_days", "1.5", "ganze Zahl", id="fraction as text"),
    pytest.param("invitation_days", 1.5, "ganze Zahl", id="fraction"),
    pytest.param("invitation_days", True, "ganze Zahl", id="boolean"),
    pytest.param("agenda_days_before", "-1", "0 bis 60", id="negative"),
    pytest.param("agenda_days_before", "61", "0 bis 60", id="agenda 61"),
    pytest.param("result_working_days", "x\x00", "ganze Zahl", id="result NUL"),
    pytest.param("working_days", "\x00", "Kalendertage oder Werktage", id="unit NUL"),
    pytest.param("working_days", "Wochen", "Kalendertage oder Werktage", id="unit unknown"),
    pytest.param("count_session_day", "vielleicht", "Ungültiger Wert", id="checkbox unknown"),
])
def test_bad_values_name_the_field_and_change_nothing(demo, database, actor, field, value,  # type: ignore[no-untyped-def]
                                                      message) -> None:
    committee = _org_id(database, "AWSG")
    admin = actor("admin")
    with database.unit_of_work() as s:
        deadlines.set_rules(s, admin, committee, HILDEN)
    with database.unit_of_work() as s:  # commits after the refusal: nothing was written before it
        with pytest.raises(Invalid) as refused:
            deadlines.set_rules(s, admin, committee, {**HILDEN, field: value})
    assert list(refused.value.errors) == [field]
    assert message in refused.value.errors[field][0]
    assert _rule_rows(database) == [(committee, Rules(9, False, True, 2, 5))]
    assert len(_events(database, "deadline_rules.changed")) == 1


def test_every_wrong_field_is_named(demo, database, actor) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        with pytest.raises(Invalid) as refused:
            deadlines.set_rules(s, actor("admin"), _org_id(database, "AWSG"), {
                "invitation_days": "", "agenda_days_before": "drei", "result_working_days": "99"})
    assert sorted(refused.value.errors) == ["agenda_days_before", "invitation_days", "result_working_days"]


def test_admin_sets_the_bundesland(demo, database, actor) -> None:  # type: ignore[no-untyped-def]
    admin = actor("admin")
    with database.unit_of_work() as s:
        body_id, state_before = s.exec(select(Body.id, Body.state)).one()
        for bad in ("XX", "nw", "N\x00W", "", "Augsburg"):
            with pytest.raises(Invalid) as refused:
                deadlines.set_body_state(s, admin, body_id, bad)
            assert list(refused.value.errors) == ["state"]
        with pytest.raises(NotFound):
            deadlines.set_body_state(s, admin, 10**12, "NW")
        deadlines.set_body_state(s, admin, body_id, "SN")
    with database.unit_of_work() as s:
        deadlines.set_body_state(s, admin, body_id, None)
    with database.unit_of_work() as s:
        assert s.exec(select(Body.state)).one() is None
    events = _events(database, "body.state_changed")
    assert [(e.details["old"], e.details["new"]) for e in events] == [(state_before, "SN"), ("SN", None)]
    assert events[0].details["body"] == "Region Aachen Zweckverband"


def test_deadlines_for_meeting_use_the_body_s_bundesland(demo, database, actor) -> None:  # type: ignore[no-untyped-def]
    committee = _org_id(database, "AWSG")
    admin = actor("admin")
    with database.unit_of_work() as s:
        # 00:30 in Berlin on Monday 31.05.2027 is still Sunday 30.05. in UTC.
        meeting = Meeting(organization_id=committee, name="Sondersitzung",
                          start=datetime(2027, 5, 31, 0, 30, tzinfo=TIMEZONE))
        s.add(meeting)
        deadlines.set_rules(s, admin, committee, {"invitation_days": "3", "working_days": True,
                                                  "agenda_days_before": "1", "result_working_days": "3"})
        s.flush()
        meeting_id = meeting.id
        body_id = s.exec(select(Body.id)).one()
    expected = {
        None: MeetingDeadlines(d("26.05.2027"), d("25.05.2027")),
        "NW": MeetingDeadlines(d("25.05.2027"), d("24.05.2027")),  # Fronleichnam 27.05.
        "BE": MeetingDeadlines(d("26.05.2027"), d("25.05.2027")),
    }
    for state, deadline in expected.items():
        with database.unit_of_work() as s:
            deadlines.set_body_state(s, admin, body_id, state)
        with database.unit_of_work() as s:
            loaded = s.get(Meeting, meeting_id)
            assert loaded is not None and loaded.start.tzinfo is not None
            assert deadlines.deadlines_for_meeting(s, loaded) == deadline, state
