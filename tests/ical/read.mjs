// Reads an iCalendar text from standard input with ical.js, as a calendar web app does, and
// prints each VEVENT as JSON: its UID, start and end in UTC, STATUS, SEQUENCE, ORGANIZER, the
// texts a calendar shows (SUMMARY, DESCRIPTION, CATEGORIES) and each VALARM's text and trigger.
// The VTIMEZONEs of the text are registered first (ical.js resolves a TZID only through them).
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

const calendar = new ICAL.Component(ICAL.parse(readFileSync(0, "utf8")));
for (const zone of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(zone);
}
const events = calendar.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  return {
    uid: event.uid,
    start: event.startDate.toJSDate().toISOString(),
    end: event.endDate.toJSDate().toISOString(),
    zone: event.startDate.zone ? event.startDate.zone.tzid : null,
    status: component.getFirstPropertyValue("status"),
    sequence: event.sequence,
    organizer: component.getFirstPropertyValue("organizer"),
    organizerName: component.getFirstProperty("organizer")?.getParameter("cn") ?? null,
    summary: event.summary,
    description: event.description,
    categories: component.getAllProperties("categories").flatMap((p) => p.getValues()),
    alarms: component.getAllSubcomponents("valarm").map((alarm) => ({
      action: alarm.getFirstPropertyValue("action"),
      description: alarm.getFirstPropertyValue("description"),
      trigger: alarm.getFirstPropertyValue("trigger").toString(),
    })),
  };
});
process.stdout.write(JSON.stringify({ method: calendar.getFirstPropertyValue("method"), events }));
