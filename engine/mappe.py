"""The members' Sitzungsmappe: a Sitzung's agenda with every Vorlage and Anlage the reader may
see, as one ZIP (a folder per TOP) and as one PDF with a bookmark per TOP.

What goes in follows the one rule of ``engine.visibility``: the non-public part (TOPs and their
Vorlagen) only for whom :func:`~engine.visibility.sees_closed_part` lets in (the Gremium's
members and stand-ins, its Sekretariat, Revision, the administration), and of the Vorlagen
only those :func:`~engine.visibility.visible_papers_clause` lets the reader see. What a reader
may see is read on every request (three statements); the files are built once per content
(:class:`Cache`, named by :func:`fingerprint`): a changed agenda, Vorlage or Anlage is another
content, so nothing is invalidated and nobody gets a stale Mappe (the members learn of the
change by a Nachtrag, ``engine.calendar.nachtrag``).

The cover, the agenda and each Vorlage's text are one HTML document rendered once with
WeasyPrint; pypdf then cuts it into pages and puts the stored Anlagen (PDF) behind each
Vorlage, with an outline item per TOP and one per document under it. Anlagen that are no PDF,
or a PDF that cannot be read, are in the ZIP only: the agenda page says so. The stored files
are read from ``engine.files`` one at a time, straight into the ZIP (``ZIP_STORED``: PDFs and
office files are compressed already) or page by page into the PDF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from engine.accounts import Actor
from engine.calendar import meetings
from engine.council import Consultation, File, Meeting, Organization, Paper
from engine.errors import Conflict, NotFound
from engine.files import BadFileName, FileStore, normalise_file_name
from engine.schemas import MAX_ID
from engine.settings import TIMEZONE
from engine.visibility import published_clause, sees_closed_part, sees_everything, visible_papers_clause

TEMPLATES = Path(__file__).resolve().parent / "templates"
PDF_MIME = "application/pdf"
#: Longest part of a Betreff in a folder name (Windows keeps paths under 260 characters).
FOLDER_TITLE = 60


@dataclass
class Anlage:
    """An Anlage of a Vorlage in the Mappe, with what became of it in the PDF."""

    file: File
    path: Path | None
    label: str  # "Anlage 1: Kooperationsvereinbarung"
    zip_name: str  # "Anlage 1 – Kooperationsvereinbarung.pdf"
    pages: int = 0  # in the combined PDF; 0: not in it
    why_not: str | None = None  # "nur in der ZIP-Datei" …


@dataclass
class Top:
    """A TOP of the agenda as the reader may see it."""

    number: str | None
    name: str
    public: bool
    paper: Paper | None
    lead: str | None = None
    anlagen: list[Anlage] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"TOP {self.number or '–'}: {self.name}"


@dataclass
class Mappe:
    meeting: Meeting
    organization: Organization
    tops: list[Top]
    #: Whether the non-public part is in it (the reader may see it).
    closed: bool
    built: dt.datetime

    @property
    def base_name(self) -> str:
        """"Sitzungsmappe AWSG 08.11.2024" (the download's name, without extension)."""
        day = self.meeting.start.astimezone(TIMEZONE)
        who = self.organization.short_name or self.organization.name
        return _safe(f"Sitzungsmappe {who} {day:%d.%m.%Y}")


def _safe(name: str) -> str:
    """A name fit for a file or folder on every system (no path, no reserved characters)."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r'[<>:"/\\|?*]', "-", name)
    return re.sub(r"\s+", " ", name).strip(" .") or "Dokument"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def read(session: Session, actor: Actor | None, meeting_id: int, files: FileStore,
         today: dt.date, now: dt.datetime) -> Mappe:
    """What ``actor`` may find in the Sitzungsmappe of a Sitzung (404: no such Sitzung; 409:
    cancelled). One statement each: the Sitzung, its Gremium, the closed part's check (for a
    member), the agenda, the Vorlagen the reader may see, their lead departments, their Anlagen."""
    meeting = session.get(Meeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    if meeting is None:
        raise NotFound("Diese Sitzung gibt es nicht.")
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt; es gibt keine Sitzungsmappe.")
    closed = sees_closed_part(session, actor, meeting, today)
    return _compose(session, meeting, closed, None if sees_everything(actor)
                    else visible_papers_clause(actor, today), files, now)


def read_as_member(session: Session, meeting: Meeting, files: FileStore, now: dt.datetime,
                   closed: bool = True) -> Mappe:
    """The Mappe as a member of the Gremium reads it (``closed=False``: as anyone else), for
    building it ahead (:func:`prebuild`): the closed part, and of the Vorlagen those the member
    rule of ``engine.visibility`` lets a member see – published ones and those with a Beratung in
    this Gremium. Should a reader's own Mappe differ (a member of several Gremien), its
    fingerprint differs and it is built when asked for: nobody gets another reader's file."""
    rule = or_(published_clause(), col(Paper.id).in_(select(Consultation.paper_id).where(
        Consultation.organization_id == meeting.organization_id))) if closed else published_clause()
    return _compose(session, meeting, closed, rule, files, now)


def _compose(session: Session, meeting: Meeting, closed: bool, rule: ColumnElement[bool] | None,
             files: FileStore, now: dt.datetime) -> Mappe:
    assert meeting.id is not None
    organization = session.get(Organization, meeting.organization_id)
    assert organization is not None
    entries = meetings.agenda(session, meeting.id, public_only=not closed)
    ids = {e.paper_id for e in entries if e.paper_id is not None}
    query = select(Paper).where(col(Paper.id).in_(ids))
    if rule is not None:
        query = query.where(rule)
    papers = {p.id: p for p in session.exec(query)} if ids else {}
    leads = {o.id: o.name for o in session.exec(select(Organization).where(col(Organization.id).in_(
        {p.under_direction_of_id for p in papers.values() if p.under_direction_of_id})))} if papers else {}
    documents: dict[int, list[File]] = {}
    if papers:  # every Anlage, also one known by name only (imported): the agenda names it
        for f in session.exec(select(File).where(col(File.paper_id).in_(papers))
                              .order_by(col(File.paper_id), col(File.position), col(File.id))):
            documents.setdefault(f.paper_id, []).append(f)
    tops: list[Top] = []
    for entry in entries:
        if entry.paper_id is not None and entry.paper_id not in papers:
            continue  # a Vorlage the reader may not see: its TOP is not in their Mappe
        paper = papers.get(entry.paper_id) if entry.paper_id is not None else None
        top = Top(entry.number, entry.name, entry.public, paper,
                  leads.get(paper.under_direction_of_id) if paper and paper.under_direction_of_id else None)
        for position, f in enumerate(documents.get(paper.id or 0, []) if paper else [], start=1):
            path = files.path_for(f.sha_512_checksum) if f.sha_512_checksum else None
            shown = _file_name(f)
            anlage = Anlage(f, path if path is not None and path.is_file() else None,
                            f"Anlage {position}: {f.name}", _safe(f"Anlage {position} – {shown}"))
            if f.sha_512_checksum is None:
                anlage.why_not = "nur dem Namen nach bekannt, Datei liegt nicht vor"
            elif anlage.path is None:
                anlage.why_not = "fehlt im Dateispeicher"
            elif f.mime_type != PDF_MIME and not shown.lower().endswith(".pdf"):
                anlage.why_not = "nur in der ZIP-Datei"
            top.anlagen.append(anlage)
        tops.append(top)
    return Mappe(meeting, organization, tops, closed, now)


def _file_name(f: File) -> str:
    try:
        return normalise_file_name(f.file_name or f.name)
    except BadFileName:
        return f"Anlage-{f.id}"


# ----------------------------------------------------------------------------- the PDF

def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["datetime"] = lambda v: f"{v.astimezone(TIMEZONE):%d.%m.%Y, %H:%M} Uhr"
    env.filters["date"] = lambda v: f"{v:%d.%m.%Y}"
    return env


_ENV = _environment()


@dataclass
class _Rendered:
    """The WeasyPrint document: cover and agenda first, then each Vorlage from its anchor."""

    pdf: bytes
    agenda_pages: int
    #: Per TOP (by index) with a Vorlage: its pages (start, stop) in ``pdf``.
    ranges: dict[int, tuple[int, int]]


def _render(mappe: Mappe) -> _Rendered:
    from weasyprint import HTML  # imported where needed: loading pango costs ~0.3 s

    html = _ENV.get_template("sitzungsmappe.html").render(mappe=mappe)
    document = HTML(string=html, base_url=str(TEMPLATES)).render()
    starts: dict[int, int] = {}
    for number, page in enumerate(document.pages):
        for anchor in page.anchors:
            if anchor.startswith("vorlage-"):
                starts.setdefault(int(anchor.removeprefix("vorlage-")), number)
    total = len(document.pages)
    ordered = sorted(starts.items(), key=lambda kv: kv[1])
    ranges = {index: (start, ordered[i + 1][1] if i + 1 < len(ordered) else total)
              for i, (index, start) in enumerate(ordered)}
    agenda_pages = ordered[0][1] if ordered else total
    return _Rendered(document.write_pdf(), agenda_pages, ranges)


@contextmanager
def _readers(mappe: Mappe) -> Iterator[dict[int, Any]]:
    """Each PDF Anlage opened once (pypdf reads pages from the file as it needs them); one
    that cannot be read is marked and left out of the PDF."""
    from pypdf import PdfReader

    opened: dict[int, Any] = {}
    with ExitStack() as stack:
        for top in mappe.tops:
            for anlage in top.anlagen:
                if anlage.why_not is not None or anlage.path is None:
                    continue
                try:
                    reader = PdfReader(stack.enter_context(anlage.path.open("rb")))
                    if reader.is_encrypted and not reader.decrypt(""):
                        raise ValueError("encrypted")
                    anlage.pages = len(reader.pages)
                except Exception:  # noqa: BLE001 - any damaged or locked PDF: named on the agenda page
                    anlage.why_not = "nicht lesbar, nur in der ZIP-Datei"
                    continue
                opened[id(anlage)] = reader
        yield opened


def write_pdf(mappe: Mappe, target: IO[bytes]) -> int:
    """The combined PDF into ``target``: cover and agenda, then per TOP its Vorlage and its PDF
    Anlagen, with an outline (bookmarks) per TOP and document. Returns its page count."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    with _readers(mappe) as readers:
        rendered = _render(mappe)
        base = PdfReader(io.BytesIO(rendered.pdf))
        writer = PdfWriter()
        for page in base.pages[:rendered.agenda_pages]:
            writer.add_page(page)
        writer.add_outline_item(title="Deckblatt und Tagesordnung", page_number=0)
        for index, top in enumerate(mappe.tops):
            start = len(writer.pages)
            vorlage = rendered.ranges.get(index)
            documents = [a for a in top.anlagen if id(a) in readers]
            if vorlage is None and not documents:
                writer.add_outline_item(title=top.title, page_number=0)  # no papers: its line on the agenda
                continue
            parent = writer.add_outline_item(title=top.title, page_number=start)
            if vorlage is not None and top.paper is not None:
                for page in base.pages[vorlage[0]:vorlage[1]]:
                    writer.add_page(page)
                writer.add_outline_item(title=f"Vorlage {top.paper.reference}", page_number=start,
                                        parent=parent)
            for anlage in documents:
                first = len(writer.pages)
                for page in readers[id(anlage)].pages:
                    writer.add_page(page)
                writer.add_outline_item(title=anlage.label, page_number=first, parent=parent)
        writer.add_metadata({"/Title": f"{mappe.base_name}", "/Author": mappe.organization.name,
                             "/Creator": "ratsflow"})
        writer.page_mode = "/UseOutlines"  # the viewer opens with the bookmarks shown
        writer._root_object[NameObject("/Lang")] = TextStringObject("de")  # the document's language
        writer.write(target)
        return len(writer.pages)


# ----------------------------------------------------------------------------- the ZIP

def _folder(index: int, top: Top) -> str:
    part = "" if top.public else " (nichtöffentlich)"
    return _safe(f"{index + 1:02d} TOP {top.number or '–'} – {_short(top.name, FOLDER_TITLE)}{part}")


def write_zip(mappe: Mappe, target: IO[bytes]) -> list[str]:
    """The ZIP into ``target``: the agenda (PDF and text), a folder per TOP with its Vorlage (PDF)
    and its Anlagen as stored. Returns the names in it."""
    from pypdf import PdfReader, PdfWriter

    rendered = _render(mappe)
    base = PdfReader(io.BytesIO(rendered.pdf))

    def pages(start: int, stop: int) -> bytes:
        writer = PdfWriter()
        for page in base.pages[start:stop]:
            writer.add_page(page)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    names: list[str] = []
    index_lines = [f"{mappe.base_name}", f"{mappe.organization.name}: {mappe.meeting.name}",
                   f"Sitzung am {mappe.meeting.start.astimezone(TIMEZONE):%d.%m.%Y, %H:%M} Uhr",
                   f"Stand: {mappe.built.astimezone(TIMEZONE):%d.%m.%Y, %H:%M} Uhr", ""]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def put(name: str, data: bytes) -> None:
            archive.writestr(name, data)
            names.append(name)

        put("00 Tagesordnung.pdf", pages(0, rendered.agenda_pages))
        for index, top in enumerate(mappe.tops):
            folder = _folder(index, top)
            index_lines.append(f"{top.title}{'' if top.public else ' (nichtöffentlich)'}")
            vorlage = rendered.ranges.get(index)
            if vorlage is not None and top.paper is not None:
                name = f"{folder}/{_safe(f'Vorlage {top.paper.reference}')}.pdf"
                put(name, pages(*vorlage))
                index_lines.append(f"    {name}")
            for anlage in top.anlagen:
                if anlage.path is None:
                    index_lines.append(f"    {anlage.label}: {anlage.why_not}")
                    continue
                name = f"{folder}/{anlage.zip_name}"
                archive.write(anlage.path, name, compress_type=zipfile.ZIP_STORED)
                names.append(name)
                index_lines.append(f"    {name}")
            if vorlage is None and not top.anlagen:
                index_lines.append("    (ohne Unterlagen)")
        put("00 Inhalt.txt", ("\r\n".join(index_lines) + "\r\n").encode("utf-8"))
    return names


# ----------------------------------------------------------------------------- built once

#: The template's bytes are part of every fingerprint: a new layout builds anew.
_LAYOUT = hashlib.sha256((TEMPLATES / "sitzungsmappe.html").read_bytes()).hexdigest()[:12]


def fingerprint(mappe: Mappe) -> str:
    """What a built Mappe depends on, hashed: the Sitzung, whether the closed part is in it, and
    per TOP what the reader may see of it (the Vorlage's fields and text, each Anlage's name and
    stored bytes). Two readers with the same fingerprint get the same file; any change of the
    agenda, a Vorlage or an Anlage – or a reader who may see less – gives another."""
    m, org = mappe.meeting, mappe.organization
    described: list[Any] = [_LAYOUT, m.id, m.name, m.reference, m.start.isoformat(), m.location, org.name,
                            org.short_name, mappe.closed]
    for top in mappe.tops:
        p = top.paper
        described.append([top.number, top.name, top.public, top.lead, p and [
            p.id, p.reference, p.name, p.paper_type, p.public, p.date and p.date.isoformat(), p.facts,
            p.proposal_heading, p.proposal, p.financial_impact, p.personnel_impact],
            [[a.file.id, a.label, a.zip_name, a.file.mime_type, a.file.sha_512_checksum, a.path is not None]
             for a in top.anlagen]])
    return hashlib.sha256(json.dumps(described, ensure_ascii=False).encode("utf-8")).hexdigest()


class Cache:
    """Built Sitzungsmappen in a folder of the instance, named by :func:`fingerprint`: the members
    of a Gremium download the same file, built once; a changed agenda has another name, so nothing
    needs invalidating. Built into a temporary file and moved into place (two requests at once
    may both build; the second replace is harmless). Files not read for :attr:`keep` go at the
    next build."""

    def __init__(self, root: Path, keep: dt.timedelta = dt.timedelta(days=14)) -> None:
        self.root, self.keep = root, keep

    def file(self, mappe: Mappe, kind: str) -> tuple[Path, bool]:
        """The built ``kind`` ("pdf" or "zip") of ``mappe``: (its path, whether it was built now)."""
        write: Callable[[Mappe, IO[bytes]], Any] = {"pdf": write_pdf, "zip": write_zip}[kind]
        path = self.root / f"{fingerprint(mappe)}.{kind}"
        if path.is_file():
            os.utime(path)  # read: kept for another while
            return path, False
        self.root.mkdir(parents=True, exist_ok=True)
        self._prune()
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=".build-", suffix=f".{kind}")
        try:
            with os.fdopen(fd, "wb") as out:
                write(mappe, out)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path, True

    def _prune(self) -> None:
        horizon = dt.datetime.now().timestamp() - self.keep.total_seconds()
        for old in self.root.iterdir():
            try:
                if old.stat().st_mtime < horizon:
                    old.unlink(missing_ok=True)
            except OSError:
                continue  # another worker removed it first


def prebuild(database: Any, files: FileStore, cache: Cache, now: dt.datetime, seconds: float = 50.0) -> int:
    """Build ahead the Mappen members will ask for: of every invited Sitzung ahead, the members'
    and the public one (PDF and ZIP), where not built yet – so the first member after the
    invitation or a change does not wait for WeasyPrint. Stops starting new ones after
    ``seconds``. Returns how many files it built. Reads in its own short units of work."""
    started = time.monotonic()
    with database.unit_of_work(write=False) as s:
        ahead = [m.id for m in s.exec(select(Meeting).where(
            col(Meeting.invited).is_not(None), Meeting.cancelled == False,  # noqa: E712
            col(Meeting.start) > now).order_by(col(Meeting.start)))]
    built = 0
    for meeting_id in ahead:
        for closed in (True, False):
            with database.unit_of_work(write=False) as s:
                meeting = s.get(Meeting, meeting_id)
                if meeting is None or meeting.cancelled:
                    break
                mappe = read_as_member(s, meeting, files, now, closed)
            for kind in ("pdf", "zip"):
                if time.monotonic() - started > seconds:
                    return built
                built += cache.file(mappe, kind)[1]
    return built
