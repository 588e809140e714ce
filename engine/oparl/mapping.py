"""Mapping an OParl source's messy data: object kinds, roles, results, votes, plain
values (text, booleans, dates), the canonical JSON and the split into an object and its
embedded ones. Pure functions, no database access (split from the importer)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import orjson

from engine.council import CONSULTATION_ROLES
from engine.settings import TIMEZONE

#: OParl type name -> our object type.
KINDS = {"System": "system", "Body": "body", "Organization": "organization", "Person": "person",
         "Membership": "membership", "Meeting": "meeting", "AgendaItem": "agenda_item", "Paper": "paper",
         "Consultation": "consultation", "File": "file", "LegislativeTerm": "legislative_term",
         "Location": "location"}
#: Embedded objects kept in rows of their own: field -> object type, per parent type.
EMBEDDED: dict[str, dict[str, str]] = {
    "body": {"legislativeTerm": "legislative_term"},
    "person": {"membership": "membership"},
    "meeting": {"agendaItem": "agenda_item"},
    "paper": {"mainFile": "file", "auxiliaryFile": "file", "consultation": "consultation"},
}
#: AGS (Amtlicher Gemeindeschlüssel) prefix -> Bundesland (its holidays count for the Ladungsfrist).
STATES = {"01": "SH", "02": "HH", "03": "NI", "04": "HB", "05": "NW", "06": "HE", "07": "RP", "08": "BW",
          "09": "BY", "10": "SL", "11": "BE", "12": "BB", "13": "MV", "14": "SN", "15": "ST", "16": "TH"}


# ----------------------------------------------------------------------------- mapping messy data

_ROLES = [
    (re.compile(r"kenntnis|information|mitteilung", re.I), "Kenntnisnahme"),
    (re.compile(r"anhör|stellungnahme", re.I), "Anhörung"),
    (re.compile(r"empfehl", re.I), "Beschlussempfehlung"),
    (re.compile(r"vorberat", re.I), "Vorberatung"),
    (re.compile(r"entscheid|beschlie|beschluss|abschließend", re.I), "Entscheidung"),
]
#: Generic words: what they mean follows from ``authoritative``.
_GENERIC_ROLES = re.compile(r"^\s*(beratung|behandlung|beraten)\s*$", re.I)


def normalise_role(text: str | None, authoritative: bool) -> str | None:
    """One of CONSULTATION_ROLES for the source's free text, or None ("unbekannt", "")."""
    if not text or not text.strip():
        return None
    if text in CONSULTATION_ROLES:
        return text
    if _GENERIC_ROLES.match(text):
        return "Entscheidung" if authoritative else "Vorberatung"
    for pattern, role in _ROLES:
        if pattern.search(text):
            return role
    return None


_RESULTS = [
    (re.compile(r"zurückgezogen|zurueckgezogen", re.I), "zurueckgezogen"),
    (re.compile(r"vertagt|zurückgestellt|abgesetzt", re.I), "vertagt"),
    (re.compile(r"verwiesen|überwiesen", re.I), "verwiesen"),
    (re.compile(r"abgelehnt", re.I), "abgelehnt"),
    (re.compile(r"kenntnis", re.I), "zur_kenntnis_genommen"),
    (re.compile(r"vorberaten mit änderung|geändert empfohlen", re.I), "geaendert_empfohlen"),
    (re.compile(r"vorberaten|empfohlen", re.I), "empfohlen"),
    (re.compile(r"geändert|änderung|teilweise", re.I), "geaendert_beschlossen"),
    (re.compile(r"beschlossen|zugestimmt|zustimmung|einverstanden|gewählt|angenommen", re.I), "beschlossen"),
]


def normalise_result(text: str | None) -> str | None:
    """A key of engine.council.RESULTS for the source's free text, or None."""
    if not text or not text.strip():
        return None
    for pattern, key in _RESULTS:
        if pattern.search(text):
            return key
    return None


_VOTES = {
    "yes": re.compile(r"(?:ja|dafür|für)[\s:=-]*(\d+)|(\d+)\s*(?:ja|dafür|für)\b", re.I),
    "no": re.compile(r"(?:nein|dagegen|gegen)[\s:=-]*(\d+)|(\d+)\s*(?:nein|dagegen|gegen)\b", re.I),
    "abstain": re.compile(r"enthaltung(?:en)?[\s:=-]*(\d+)|(\d+)\s*enthaltung", re.I),
}


def parse_votes(*texts: str | None) -> tuple[int | None, int | None, int | None]:
    """Vote tallies written in free text ("Ja: 12, Nein: 3, Enthaltungen: 1", "12 dafür")."""
    found: dict[str, int] = {}
    for text in texts:
        if not text:
            continue
        for key, pattern in _VOTES.items():
            match = pattern.search(text)
            if match and key not in found:
                found[key] = int(match.group(1) or match.group(2))
    if "yes" not in found:
        return None, None, None
    return found["yes"], found.get("no", 0), found.get("abstain", 0)


def _kind(raw: Any) -> str | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    return KINDS.get(raw["type"].rstrip("/").rsplit("/", 1)[-1])


def _refs(value: Any) -> list[str]:
    """A reference or a list of them, as URLs or embedded objects (1.0 and 1.1 differ)."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, str) and v:
            out.append(v)
        elif isinstance(v, dict) and isinstance(v.get("id"), str):
            out.append(v["id"])
    return out


def _first(value: Any) -> str | None:
    refs = _refs(value)
    return refs[0] if refs else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # 1.0 servers send some strings as lists
        value = ", ".join(str(v) for v in value if v)
    text = str(value).strip()
    return text or None


def _bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "ja", "yes"}
    return default if value is None else bool(value)


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)).astimezone(UTC)


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return date.fromisoformat(text[:10])


#: Made once: ``json.dumps`` with options builds a new encoder for every object.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical(raw: dict[str, Any]) -> str:
    """The JSON kept as the original: keys sorted, no spaces, not ASCII-escaped.

    By orjson (the import's largest piece of Python per object with the standard library: a
    sixth of its time); the same text as ``json`` gives for what a source sends, but for numbers
    orjson cannot write (integers beyond 64 bits: then the standard library), NaN (``null``)
    and floats in exponent notation (``1e16`` for ``1e+16``)."""
    try:
        return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return _CANONICAL.encode(raw)


def split(kind: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    """The object with embedded objects reduced to their ids, and the embedded ones
    (field, object type, JSON or URL) in order."""
    fields = EMBEDDED.get(kind, {})
    own = dict(raw)
    children: list[tuple[str, str, Any]] = []
    for name, child_kind in fields.items():
        if name not in raw:
            continue
        values = raw[name] if isinstance(raw[name], list) else [raw[name]]
        for v in values:
            if isinstance(v, dict) or (isinstance(v, str) and v):
                children.append((name, child_kind, v))
        own[name] = _refs(raw[name])
    return own, children
