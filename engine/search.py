"""German full-text search over the public Vorlagen and the text of their Anlagen.

One Python API (:func:`search`, :func:`index_paper`, :func:`catch_up`), two databases:

- **PostgreSQL**: ``search_entry.document`` is a ``tsvector`` with the ``german`` configuration
  (Snowball stemming, German stop words), the title weighted A, a Vorlage's text B, an
  Anlage's text C; a GIN index answers ``websearch_to_tsquery('german', …)``; ``ts_rank``
  orders, ``ts_headline`` cuts the snippets.
- **SQLite** (the embedded default): an FTS5 table ``fts_search`` (``unicode61
  remove_diacritics 2``) holds the same text *stemmed here* with the same Snowball German
  stemmer (``snowballstemmer``): FTS5 has no German stemming of its own. Queries are stemmed
  the same way; ``bm25`` orders; snippets are cut here from the original text.

**What is indexed** is public by construction: only published Vorlagen (public, released –
never a draft, ``engine.visibility.published_clause``) reach ``search_entry``; a Vorlage that
stops being published leaves it in the same unit of work (:func:`index_paper`). A row is one
part of a Vorlage: its own text (reference, Betreff, Sachverhalt, Beschlussvorschlag,
Auswirkungen) or one page of an Anlage (long parts in pieces of :data:`CHUNK` characters), so
a hit says where it stands ("Anlage 2, Seite 3") and a snippet is cut from a page, not from
a whole document.

**Anlagen text** is read once per content (``file_text``, keyed by the SHA-512 the blob is
stored under, ``engine.extract``): small uploads in the upload's unit of work, everything else
(large uploads, imported documents) by :func:`catch_up` in the scheduler's ``search`` job,
which also indexes what a bulk writer (the OParl import) left unindexed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import snowballstemmer
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    and_,
    delete,
    exists,
    func,
    or_,
)
from sqlalchemy import select as core_select
from sqlalchemy import text as sa_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, Session, SQLModel, col, select

from engine import cursors, extract
from engine.council import Consultation, File, Paper
from engine.db import Database
from engine.doctypes import BY_MIME_TYPE
from engine.errors import Invalid
from engine.files import FileStore
from engine.types import table_of, utc_column, utcnow
from engine.visibility import published_clause

log = logging.getLogger(__name__)

#: Characters of one indexed part at most: an Anlage's pages are gathered up to it (a longer
#: page, or a Vorlage's own text, is split at a space). Parts only check phrases and give the
#: snippets (a search matches one row per Vorlage, ``search_paper``): small parts keep their
#: vector in the row (no TOAST to read when a phrase is checked), hold two common words less
#: often (fewer to check), and are cheap to cut a snippet from (docs/architecture.md, "Suche").
CHUNK = 1000
#: A piece cut from a longer text begins up to this many characters before the cut, so a
#: phrase across the cut stands whole in one of the two.
OVERLAP = 80
#: Uploads up to this size have their text read in the upload's unit of work; larger ones
#: (and imported documents) by the background job.
INLINE_BYTES = 1_000_000
#: A search's results per page, and the most a caller may ask for.
PAGE = 20
MAX_PAGE = 100
#: Longest query kept (characters).
MAX_QUERY = 200

#: ``file_text.status``: read (text may be empty: a scan without text layer), or why not.
TEXT_READ = "gelesen"
TEXT_FAILED = "nicht lesbar"
TEXT_MISSING = "Datei fehlt"

#: Marks around highlighted words in snippets (private-use characters, kept out of every
#: indexed text by ``engine.extract.clean``), turned into fragments by :func:`_fragments`.
START, STOP = "\ue000", "\ue001"

#: PostgreSQL's german stop words (Snowball's list), dropped from SQLite queries as
#: PostgreSQL drops them: a query for "die Radwege" finds the same Vorlagen on both.
STOP_WORDS = frozenset("""
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anderm
andern anderr anders auch auf aus bei bin bis bist da damit dann der den des dem die das daß
derselbe derselben denselben desselben demselben dieselbe dieselben dasselbe dazu dein deine deinem
deinen deiner deines denn derer dessen dich dir du dies diese diesem diesen dieser dieses doch dort
durch ein eine einem einen einer eines einig einige einigem einigen einiger einiges einmal er ihn
ihm es etwas euer eure eurem euren eurer eures für gegen gewesen hab habe haben hat hatte hatten
hier hin hinter ich mich mir ihr ihre ihrem ihren ihrer ihres euch im in indem ins ist jede jedem
jeden jeder jedes jene jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner keines
können könnte machen man manche manchem manchen mancher manches mein meine meinem meinen meiner
meines mit muss musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen
seiner seines selbst sich sie ihnen sind so solche solchem solchen solcher solches soll sollte
sondern sonst über um und uns unse unsem unsen unser unses unter viel vom von vor während war waren
warst was weg weil weiter welche welchem welchen welcher welches wenn werde werden wie wieder will
wir wird wirst wo wollen wollte würde würden zu zum zur zwar zwischen
""".split())


class FileText(SQLModel, table=True):
    """The text of one stored document (by its SHA-512), read once (``engine.extract``)."""

    __tablename__ = "file_text"

    sha_512_checksum: str = Field(primary_key=True, max_length=128)
    status: str  # TEXT_READ | TEXT_FAILED | TEXT_MISSING
    #: Pages separated by a form feed (``extract.PAGE_BREAK``).
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    note: str | None = None
    extracted: dt.datetime = Field(sa_column=utc_column(nullable=False))


class SearchEntry(SQLModel, table=True):
    """One indexed part of a published Vorlage: its own text (``file_id`` None) or a page of
    an Anlage. Written and read with Core statements only (:func:`index_paper`, :func:`search`)."""

    __tablename__ = "search_entry"

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(sa_column=Column(Integer, ForeignKey("paper.id", ondelete="CASCADE"),
                                           nullable=False, index=True))
    file_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("file.id", ondelete="CASCADE"), index=True))
    #: The Vorlage's own text: 0, 1, … (its pieces); an Anlage: the page (1, 2, …).
    part: int = 0
    body_id: int
    paper_type: str
    paper_date: dt.date | None = None
    title: str = Field(sa_column=Column(Text, nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    #: The Vorlage's ``modified`` when this was written (:func:`catch_up` finds stale ones).
    source_modified: dt.datetime = Field(sa_column=utc_column(nullable=False))


#: PostgreSQL only: the weighted tsvector (not mapped on the class: SQLite has no such column;
#: its text lives in the FTS5 table ``fts_search``).
_DOCUMENT = Column("document", TSVECTOR, info={"only_on": "postgresql"})
table_of(SearchEntry).append_column(_DOCUMENT)
Index("ix_search_entry_document", _DOCUMENT, postgresql_using="gin",
      info={"only_on": "postgresql"}).ddl_if(dialect="postgresql")
#: SQLite's FTS5 table and its shadow tables are not models (``engine.db.exists_on`` skips them).
FTS_TABLE = "fts_search"


class SearchPaper(SQLModel, table=True):
    """One row per indexed Vorlage: what a search matches, filters, counts and ranks. The
    parts (:class:`SearchEntry`) only check phrases and give the snippets of a page: a word in
    nearly every Vorlage is one row each here, not one per part to group (docs/architecture.md,
    "Suche"). A Vorlage matches when it holds the words anywhere (its text, any Anlage); a
    "phrase" must stand in one part."""

    __tablename__ = "search_paper"

    paper_id: int = Field(sa_column=Column(Integer, ForeignKey("paper.id", ondelete="CASCADE"),
                                           primary_key=True))
    body_id: int
    paper_type: str
    paper_date: dt.date | None = None


#: PostgreSQL only: every lexeme of the Vorlage (title, text, Anlagen) without positions
#: (``strip``: small, no position limit; a plain word needs no recheck), GIN-indexed; the
#: title's and the Vorlage's own text's vectors (small, in the row) for the rank.
_PAPER_DOCUMENT = Column("document", TSVECTOR, info={"only_on": "postgresql"})
table_of(SearchPaper).append_column(_PAPER_DOCUMENT)
table_of(SearchPaper).append_column(Column("rank_vector", TSVECTOR, info={"only_on": "postgresql"}))
table_of(SearchPaper).append_column(Column("text_vector", TSVECTOR, info={"only_on": "postgresql"}))
Index("ix_search_paper_document", _PAPER_DOCUMENT, postgresql_using="gin",
      info={"only_on": "postgresql"}).ddl_if(dialect="postgresql")
#: SQLite: the Vorlage's stems in three columns (title, its own text, its Anlagen), rowid =
#: ``paper_id``; its rows go with ``search_paper``'s (a trigger).
FTS_PAPER = "fts_paper"


# ----------------------------------------------------------------------------- words

_WORD = re.compile(r"\w+")
_STEMMER = snowballstemmer.stemmer("german")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball German stem of one (lower-case) word: "radwege" → "radweg"."""
    return str(_STEMMER.stemWord(word))


def terms(text: str) -> str:
    """``text`` as the stems SQLite's FTS5 table holds ("Die Radwege" → "die radweg")."""
    return " ".join(stem(w) for w in _WORD.findall(text.lower()))


@dataclass(frozen=True)
class _Query:
    """A websearch-style query (words, "phrases", -excluded, or) as stems, for SQLite."""

    groups: list[list[list[str]]]  # AND of OR-groups of phrases (a phrase: its stems)
    excluded: list[list[str]]
    #: Each alternative of each group, and each excluded term, as typed (PostgreSQL reads it
    #: with its own parser), and whether it is a "phrase" of several words.
    sources: list[list[tuple[str, bool]]] = field(default_factory=list)
    excluded_sources: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def stems(self) -> set[str]:
        return {s for group in self.groups for phrase in group for s in phrase}

    def fts5(self) -> str | None:
        """The FTS5 MATCH expression, or None when nothing is left to look for."""
        def phrase(stems: list[str]) -> str:
            return '"' + " ".join(stems) + '"'
        parts = []
        for group in self.groups:
            alternatives = [phrase(p) for p in group]
            parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
        if not parts:
            return None
        expression = " AND ".join(parts)
        for phrase_stems in self.excluded:
            expression = f"({expression}) NOT {phrase(phrase_stems)}"
        return expression


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str) -> _Query:
    """Like PostgreSQL's ``websearch_to_tsquery``: words must all occur, "a phrase" in that
    order, ``or`` between two alternatives, ``-word`` must not occur; stop words drop out."""
    groups: list[list[list[str]]] = []
    excluded: list[list[str]] = []
    sources: list[list[tuple[str, bool]]] = []
    excluded_sources: list[tuple[str, bool]] = []
    pending_or = False
    for match in _TOKEN.finditer(text):
        negated, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None and bare.lower() == "or":
            pending_or = bool(groups)
            continue
        if bare is not None and bare.startswith("-") and len(bare) > 1:
            negated, bare = "-", bare[1:]
        words = [w for w in _WORD.findall((quoted if quoted is not None else bare or "").lower())
                 if w not in STOP_WORDS]
        if not words:
            continue
        stems = [stem(w) for w in words]
        source = (quoted if quoted is not None else bare or "", quoted is not None and len(words) > 1)
        if negated:
            excluded.append(stems)
            excluded_sources.append(source)
        elif pending_or:
            groups[-1].append(stems)
            sources[-1].append(source)
        else:
            groups.append([stems])
            sources.append([source])
        pending_or = False
    return _Query(groups, excluded, sources, excluded_sources)


# ----------------------------------------------------------------------------- text of files

def store_text(session: Session, sha512: str, content: bytes | None, mime_type: str | None,
               now: dt.datetime | None = None) -> FileText:
    """Read the text of a stored document once (``content`` None: its blob is missing)."""
    found = session.get(FileText, sha512)
    if found is not None:
        return found
    status, text, note = TEXT_READ, "", None
    if content is None:
        status, note = TEXT_MISSING, "Die Datei liegt nicht im Ablageort."
    else:
        try:
            text = extract.extract(content, BY_MIME_TYPE.get(mime_type or "")).text
        except extract.Unreadable as exc:
            status, note = TEXT_FAILED, str(exc)
    row = FileText(sha_512_checksum=sha512, status=status, text=text, note=note, extracted=now or utcnow())
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)
    session.execute(insert(table_of(FileText)).values(
        sha_512_checksum=row.sha_512_checksum, status=row.status, text=row.text, note=row.note,
        extracted=row.extracted).on_conflict_do_nothing())
    return row


def pending_documents(session: Session, limit: int) -> list[tuple[str, str | None]]:
    """Stored documents whose text was never read: (SHA-512, stated type)."""
    files, texts = table_of(File), table_of(FileText)
    rows = session.execute(
        core_select(files.c.sha_512_checksum, func.max(files.c.mime_type))
        .where(files.c.sha_512_checksum.is_not(None),
               ~exists().where(texts.c.sha_512_checksum == files.c.sha_512_checksum))
        .group_by(files.c.sha_512_checksum).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]


# ----------------------------------------------------------------------------- the index

def _pieces(text: str, size: int = CHUNK) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at a space where there is one."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        pieces.append(text[:cut].strip())
        back = text.find(" ", cut - OVERLAP, cut)
        text = text[back if back > 0 else cut:].strip()
    if text or not pieces:
        pieces.append(text)
    return pieces


def _paper_text(paper: Any) -> str:
    headings = [("Sachverhalt", paper.facts), (paper.proposal_heading, paper.proposal),
                ("Finanzielle Auswirkungen", paper.financial_impact),
                ("Personelle Auswirkungen", paper.personnel_impact)]
    return extract.clean("\n".join(f"{h}: {t}" for h, t in headings if t and t.strip()))


def _chunks(text: str) -> list[tuple[int, str]]:
    """An Anlage's pages gathered into parts of at most :data:`CHUNK` characters (a longer
    page in pieces), each with the number of the page it begins on; the page breaks stay."""
    out: list[tuple[int, str]] = []
    first, gathered = 1, ""
    for number, page in enumerate(text.split(extract.PAGE_BREAK), start=1):
        if gathered and len(gathered) + len(page) + 1 > CHUNK:
            out.append((first, gathered))
            gathered = ""
        if not gathered:
            first = number
        if len(page) > CHUNK:
            if gathered:
                out.append((first, gathered))
            out += [(number, piece) for piece in _pieces(page)]
            gathered = ""
            continue
        gathered = f"{gathered}{extract.PAGE_BREAK}{page}" if gathered else page
        if not page.strip() and gathered == page:
            gathered = ""  # an empty page alone is nothing to index
    if gathered.strip():
        out.append((first, gathered))
    return out


def page_of(first: int, content: str, word: str) -> int:
    """The page ``word`` stands on in a part that begins on page ``first``."""
    at = content.find(word)
    return first + content.count(extract.PAGE_BREAK, 0, at) if at > 0 else first


def _rows_of(paper: Any, files: Sequence[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """The index rows of a published Vorlage; ``files``: (file id, name, text) of its Anlagen.
    The first is the Vorlage's own (``part`` 0), the others its pieces and its Anlagen's."""
    common = {"paper_id": paper.id, "body_id": paper.body_id, "paper_type": paper.paper_type,
              "paper_date": paper.date, "source_modified": paper.modified}
    title = extract.clean(f"{paper.reference} {paper.name}")
    rows = [{**common, "file_id": None, "part": i, "title": title, "content": piece}
            for i, piece in enumerate(_pieces(_paper_text(paper)))]
    for file_id, name, text in files:
        rows += [{**common, "file_id": file_id, "part": first, "title": extract.clean(name), "content": chunk}
                 for first, chunk in _chunks(text)]
    return rows


_PG_INSERT = sa_text(
    "INSERT INTO search_entry (paper_id, file_id, part, body_id, paper_type, paper_date, title, content, "
    "source_modified, document) VALUES (:paper_id, :file_id, :part, :body_id, :paper_type, "
    ":paper_date, :title, :content, :source_modified, setweight(to_tsvector('german', :title), 'A') || "
    "setweight(to_tsvector('german', :content), CAST(:weight AS \"char\")))")
#: The Vorlage's row from its parts just written: their lexemes without positions (unnest
#: reads each part's vector once; parsing the text again would cost as much as the parts did).
_PG_INSERT_PAPER = sa_text(
    "INSERT INTO search_paper (paper_id, body_id, paper_type, paper_date, document, rank_vector, "
    "text_vector) VALUES (:paper_id, :body_id, :paper_type, :paper_date, (SELECT array_to_tsvector("
    "coalesce(array_agg(DISTINCT u.lexeme), '{}')) FROM search_entry e, unnest(e.document) u "
    "WHERE e.paper_id = :paper_id), to_tsvector('german', :title), strip(to_tsvector('german', :text)))")


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    papers: dict[int, dict[str, Any]] = {}
    for r in rows:
        paper = papers.setdefault(r["paper_id"], {
            "paper_id": r["paper_id"], "body_id": r["body_id"], "paper_type": r["paper_type"],
            "paper_date": r["paper_date"], "title": r["title"], "text": [], "anlagen": []})
        paper["text" if r["file_id"] is None else "anlagen"].append(r["content"])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_INSERT, [{**r, "weight": "B" if r["file_id"] is None else "C"} for r in rows])
        session.execute(_PG_INSERT_PAPER, [{**p, "text": " ".join([p["title"], *p["text"]])}
                                           for p in papers.values()])
        return
    # SQLite: the ids are taken here (the writing unit of work holds the write lock), so the
    # FTS5 rows can carry them as their rowid.
    table = table_of(SearchEntry)
    first = (session.execute(core_select(func.max(table.c.id))).scalar() or 0) + 1
    rows = [{**r, "id": first + i, "stems": terms(r["content"])} for i, r in enumerate(rows)]
    session.execute(table.insert(), [{k: v for k, v in r.items() if k != "stems"} for r in rows])
    session.execute(
        sa_text(f"INSERT INTO {FTS_TABLE} (rowid, title, content) VALUES (:id, :title, :content)"),
        [{"id": r["id"], "title": terms(r["title"]), "content": r["stems"]} for r in rows])
    session.execute(table_of(SearchPaper).insert(), [
        {k: p[k] for k in ("paper_id", "body_id", "paper_type", "paper_date")} for p in papers.values()])
    anlagen: dict[int, list[str]] = {}
    own: dict[int, list[str]] = {}
    for r in rows:
        (own if r["file_id"] is None else anlagen).setdefault(r["paper_id"], []).append(r["stems"])
    session.execute(
        sa_text(f"INSERT INTO {FTS_PAPER} (rowid, title, text, anlagen) "
                "VALUES (:id, :title, :text, :anlagen)"),
        [{"id": pid, "title": terms(p["title"]), "text": " ".join(own.get(pid, [])),
          "anlagen": " ".join(anlagen.get(pid, []))} for pid, p in papers.items()])


_PAPER_COLUMNS = ("id", "body_id", "reference", "name", "paper_type", "date", "modified", "facts",
                  "proposal_heading", "proposal", "financial_impact", "personnel_impact")


def _read_schema(session: Session) -> None:
    """SQLite: a read of the index first. A pooled connection whose schema dates from before
    the index's tables existed refuses a DELETE on them at prepare ("no such table") but
    reloads its schema on a read (seen in the test suite after the scheduler's tests). Not on
    any hot path: indexing only."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa_text("SELECT 1 FROM search_entry LIMIT 1")).all()
        session.execute(sa_text("SELECT 1 FROM search_paper LIMIT 1")).all()


def index_papers(session: Session, paper_ids: Iterable[int]) -> int:
    """Bring the index of these Vorlagen up to date: their rows go, and the published ones
    are written again (with the text of their Anlagen as far as it is read). Returns how many
    Vorlagen are in the index now."""
    ids = sorted(set(paper_ids))
    if not ids:
        return 0
    entries, papers, files, texts = (table_of(SearchEntry), table_of(Paper), table_of(File),
                                     table_of(FileText))
    session.flush()
    _read_schema(session)
    session.execute(delete(entries).where(entries.c.paper_id.in_(ids)))
    session.execute(delete(table_of(SearchPaper)).where(table_of(SearchPaper).c.paper_id.in_(ids)))
    published = session.execute(core_select(*[papers.c[c] for c in _PAPER_COLUMNS]).where(
        papers.c.id.in_(ids), published_clause())).all()
    if not published:
        return 0
    anlagen: dict[int, list[tuple[int, str, str]]] = {}
    for file_id, paper_id, name, text in session.execute(
            core_select(files.c.id, files.c.paper_id, files.c.name, texts.c.text)
            .join(texts, texts.c.sha_512_checksum == files.c.sha_512_checksum)
            .where(files.c.paper_id.in_([p.id for p in published]), texts.c.text != "")
            .order_by(files.c.paper_id, files.c.position, files.c.id)):
        anlagen.setdefault(paper_id, []).append((file_id, name, text))
    rows = [row for p in published for row in _rows_of(p, anlagen.get(p.id, []))]
    _write(session, rows)
    return len(published)


def index_paper(session: Session, paper_id: int) -> bool:
    """:func:`index_papers` for one; True if it is in the index now (published)."""
    return index_papers(session, [paper_id]) == 1


def stale_papers(session: Session, limit: int) -> list[int]:
    """Vorlagen whose index rows are missing, outdated, or should not be there, and published
    ones with an Anlage whose text was read after they were indexed."""
    entries, papers, files, texts = (table_of(SearchEntry), table_of(Paper), table_of(File),
                                     table_of(FileText))
    head = entries.alias("head")
    missing = (core_select(papers.c.id)
               .outerjoin(head, and_(head.c.paper_id == papers.c.id, head.c.file_id.is_(None),
                                     head.c.part == 0))
               .where(published_clause(),
                      or_(head.c.id.is_(None), head.c.source_modified != papers.c.modified,
                          ~exists().where(table_of(SearchPaper).c.paper_id == papers.c.id))))
    gone = (core_select(head.c.paper_id).join(papers, papers.c.id == head.c.paper_id)
            .where(head.c.file_id.is_(None), head.c.part == 0, ~published_clause()))
    unread = (core_select(files.c.paper_id)
              .join(texts, texts.c.sha_512_checksum == files.c.sha_512_checksum)
              .join(papers, papers.c.id == files.c.paper_id)
              .where(texts.c.text != "", published_clause(),
                     ~exists().where(entries.c.file_id == files.c.id)))
    union = missing.union(gone, unread).subquery()
    return [r[0] for r in session.execute(core_select(union.c[0]).order_by(union.c[0]).limit(limit))]


@dataclass
class CatchUp:
    read: int = 0
    indexed: int = 0
    more: bool = False

    def summary(self) -> str:
        return f"{self.read} Dokumente gelesen, {self.indexed} Vorlagen indexiert" + \
            (" (es bleibt mehr)" if self.more else "")


def catch_up(database: Database, files: FileStore, *, seconds: float = 20.0, batch: int = 50,
             now: dt.datetime | None = None) -> CatchUp:
    """What the writers left: read the text of documents never read (one unit of work each,
    the Vorlagen with that document re-indexed in it), then index stale Vorlagen in batches.
    Stops after about ``seconds``; safe to run twice at once (rows are keyed)."""
    done = CatchUp()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        with database.unit_of_work(write=False) as s:
            pending = pending_documents(s, batch)
        if not pending:
            break
        for sha512, mime_type in pending:
            content = files.path_for(sha512).read_bytes() if files.exists(sha512) else None
            with database.unit_of_work() as s:
                store_text(s, sha512, content, mime_type, now)
                papers = [p for p in s.exec(select(File.paper_id).where(File.sha_512_checksum == sha512))]
                index_papers(s, papers)
            done.read += 1
            if time.monotonic() >= until:
                done.more = True
                return done
    while time.monotonic() < until:
        with database.unit_of_work() as s:
            stale = stale_papers(s, batch)
            if not stale:
                return done
            done.indexed += index_papers(s, stale)
    done.more = True
    return done


def rebuild(database: Database, batch: int = 500) -> int:
    """Every published Vorlage indexed anew (after a change to what is indexed)."""
    with database.unit_of_work() as s:
        _read_schema(s)
        s.execute(delete(table_of(SearchEntry)))
        s.execute(delete(table_of(SearchPaper)))
        ids = [p for p in s.exec(select(Paper.id).order_by(col(Paper.id))) if p is not None]
    total = 0
    for start in range(0, len(ids), batch):
        with database.unit_of_work() as s:
            total += index_papers(s, ids[start:start + batch])
    return total


# ----------------------------------------------------------------------------- searching

@dataclass(frozen=True)
class Filters:
    """What a search is narrowed to: a Körperschaft, a Gremium of the Beratungsfolge, a
    Vorlage-Art, the Vorlage's date between ``since`` and ``until`` (both included)."""

    body_id: int | None = None
    organization_id: int | None = None
    paper_type: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


NO_FILTERS = Filters()


@dataclass
class Hit:
    paper_id: int
    reference: str
    name: list[tuple[str, bool]]  # the Betreff in fragments, matched words marked
    paper_type: str
    date: dt.date | None
    snippet: list[tuple[str, bool]]
    file_id: int | None = None  # where the best match stands: an Anlage (None: the Vorlage)
    file_name: str | None = None
    file_position: int | None = None
    page: int | None = None


@dataclass
class Results:
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    next: str | None = None


def _fragments(marked: str) -> list[tuple[str, bool]]:
    """Text with START/STOP marks as (fragment, highlighted) pairs, for an escaping template."""
    out: list[tuple[str, bool]] = []
    for i, piece in enumerate(re.split(f"[{START}{STOP}]", marked)):
        if piece:
            out.append((piece, i % 2 == 1))
    return out


def _filters(entries: Any, filters: Filters) -> list[Any]:
    conditions: list[Any] = []
    if filters.body_id is not None:
        conditions.append(entries.c.body_id == filters.body_id)
    if filters.paper_type:
        conditions.append(entries.c.paper_type == filters.paper_type)
    if filters.since is not None:
        conditions.append(entries.c.paper_date >= filters.since)
    if filters.until is not None:
        conditions.append(entries.c.paper_date <= filters.until)
    if filters.organization_id is not None:
        consultations = table_of(Consultation)
        conditions.append(exists().where(consultations.c.paper_id == entries.c.paper_id,
                                         consultations.c.organization_id == filters.organization_id))
    return conditions


def _cursor(cursor: str | None) -> tuple[float, int] | None:
    if not cursor:
        return None
    try:
        raw = cursors.unpack(cursor)
        if (isinstance(raw, list) and len(raw) == 3 and raw[0] == "search" and isinstance(raw[1], float | int)
                and isinstance(raw[2], int) and not isinstance(raw[2], bool) and 0 < raw[2] < 2**31):
            return float(raw[1]), raw[2]
    except ValueError:
        pass
    raise Invalid("Eingaben bitte prüfen.", {"cursor": ["Ungültiger Cursor: bitte die Suche neu beginnen."]})


def search(session: Session, text: str, filters: Filters = NO_FILTERS, *, cursor: str | None = None,
           limit: int = PAGE) -> Results:
    """The published Vorlagen that match ``text`` (German stemming: "Radwege" finds
    "Radweg"), best first, ``limit`` a page, with how many match in all and a snippet each."""
    text = extract.clean(text).strip()[:MAX_QUERY]
    limit = max(1, min(limit, MAX_PAGE))
    after = _cursor(cursor)
    if not text:
        return Results()
    if session.get_bind().dialect.name == "postgresql":
        return _search_postgresql(session, text, filters, after, limit)
    return _search_sqlite(session, text, filters, after, limit)


def _page(session: Session, matches: Any, after: tuple[float, int] | None, limit: int,
          params: dict[str, Any]) -> tuple[list[Any], int]:
    """One keyset page of the ``matches`` (paper_id, score) and their count, in one
    statement: the matches are found and ranked once."""
    m = matches.cte("matches")
    total = core_select(func.count()).select_from(m).scalar_subquery()
    page = core_select(m.c.paper_id, m.c.score, total.label("total"))
    if after is not None:
        page = page.where(or_(m.c.score < after[0], and_(m.c.score == after[0], m.c.paper_id < after[1])))
    rows = list(session.execute(page.order_by(m.c.score.desc(), m.c.paper_id.desc()).limit(limit + 1),
                                params))
    if not rows:
        total_only = session.execute(core_select(func.count()).select_from(m), params).scalar() \
            if after is not None else 0
        return [], int(total_only or 0)
    return rows, int(rows[0].total)


def _results(rows: list[Any], total: int, limit: int, hits: list[Hit]) -> Results:
    results = Results(hits[:limit], total)
    if len(rows) > limit:
        last = rows[limit - 1]
        results.next = cursors.pack(["search", float(last.score), int(last.paper_id)])
    return results


_HEADLINE = ("StartSel=\ue000, StopSel=\ue001, MaxWords=30, MinWords=12, MaxFragments=2, "
             "FragmentDelimiter=\" … \"")


def _pg_filters(filters: Filters) -> tuple[str, dict[str, Any]]:
    sql: list[str] = []
    params: dict[str, Any] = {}
    if filters.body_id is not None:
        sql.append("e.body_id = :body_id")
        params["body_id"] = filters.body_id
    if filters.paper_type:
        sql.append("e.paper_type = :paper_type")
        params["paper_type"] = filters.paper_type
    if filters.since is not None:
        sql.append("e.paper_date >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        sql.append("e.paper_date <= :until")
        params["until"] = filters.until
    if filters.organization_id is not None:
        sql.append("EXISTS (SELECT 1 FROM consultation c WHERE c.paper_id = e.paper_id "
                   "AND c.organization_id = :organization_id)")
        params["organization_id"] = filters.organization_id
    return "".join(f" AND {c}" for c in sql), params


def _pg_leaf(source: tuple[str, bool], name: str) -> str:
    """The Vorlagen (``paper_id``) one alternative or excluded term finds, from an index: a
    word (or a compound like "Karl-Friedrich-Straße") among the Vorlage's lexemes, a "phrase"
    in one of its parts (positions are only kept there)."""
    if source[1]:
        return (f"SELECT x.paper_id FROM search_entry x "
                f"WHERE x.document @@ phraseto_tsquery('german', :{name})")
    return f"SELECT x.paper_id FROM search_paper x WHERE x.document @@ plainto_tsquery('german', :{name})"


@dataclass
class _PgQuery:
    """A parsed query as SQL on ``search_paper e``: ``condition`` finds the matches (the GIN
    index answers the words; phrases and exclusions are checked against the index of the
    parts and of the Vorlagen), ``all_words`` is the tsquery of all the words without their
    order; ``params["words"]`` any one of them (snippets, the title's rank)."""

    condition: str
    all_words: str
    params: dict[str, Any]


def _pg_query(parsed: _Query) -> _PgQuery:
    params: dict[str, Any] = {}
    loose: list[str] = []
    exact: list[str] = []
    words: list[str] = []
    for g, group in enumerate(parsed.sources):
        alternatives: list[str] = []
        leaves: list[str] = []
        for a, source in enumerate(group):
            name = f"w{g}_{a}"
            params[name] = source[0]
            alternatives.append(f"plainto_tsquery('german', :{name})")
            leaves.append(_pg_leaf(source, name))
            words += [w.lstrip("-") for w in source[0].split() if w.lower() != "or" and w.lstrip("-")]
        loose.append(alternatives[0] if len(alternatives) == 1 else "(" + " || ".join(alternatives) + ")")
        if any(phrase for _, phrase in group):
            exact.append("(" + " OR ".join(f"e.paper_id IN ({leaf})" for leaf in leaves) + ")")
    for i, source in enumerate(parsed.excluded_sources):
        params[f"x{i}"] = source[0]
        exact.append(f"e.paper_id NOT IN ({_pg_leaf(source, f'x{i}')})")
    all_words = "(" + " && ".join(loose) + ")"
    params["words"] = " or ".join(words)
    return _PgQuery(" AND ".join([f"e.document @@ {all_words}", *exact]), all_words, params)


#: How a Vorlage ranks on PostgreSQL: by the words in its title (``ts_rank`` over the title's
#: small vector), then whether its own text holds them all (above a match in an Anlage only);
#: equal ones by id, the newest first. ``ts_rank`` over every match's whole vector cost
#: 100–300 ms for a word in every Vorlage (benchmarks/bench_search.py).
_PG_SCORE = ("(ts_rank(e.rank_vector, websearch_to_tsquery('german', :words)) * 10 "
             "+ CASE WHEN e.text_vector @@ {all_words} THEN 1 ELSE 0 END)::float8")


def _search_postgresql(session: Session, text: str, filters: Filters, after: tuple[float, int] | None,
                       limit: int) -> Results:
    try:
        return _search_postgresql_index(session, text, filters, after, limit)
    finally:
        session.execute(sa_text("SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = on; "
                                "SET LOCAL plan_cache_mode = auto"))


def _search_postgresql_index(session: Session, text: str, filters: Filters, after: tuple[float, int] | None,
                             limit: int) -> Results:
    parsed = parse_query(text)
    if not parsed.groups:
        return Results()
    query = _pg_query(parsed)
    where, params = _pg_filters(filters)
    params.update(query.params, limit=limit + 1)
    keyset = ""
    if after is not None:
        keyset = "WHERE score < :score OR (score = :score AND paper_id < :paper_id)"
        params.update(score=after[0], paper_id=after[1])
    # The planner prices ``@@`` like any operator and, for a word in most Vorlagen, would read
    # the table instead of the GIN index's bitmap (which needs no recheck for plain words, so
    # no vector is unpacked). And a plan for these words, never a generic one: psycopg prepares
    # a statement from its sixth run on, and PostgreSQL's generic plan for a phrase (not knowing
    # how many parts hold its words) took 12 s instead of 50 ms. For this transaction's search
    # statements only.
    session.execute(sa_text("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; "
                            "SET LOCAL plan_cache_mode = force_custom_plan"))
    # One statement: the matching Vorlagen (one row each), their count, one page (float8: a
    # real reaches Python as its shortest decimal, and the keyset would compare another number).
    rows = list(session.execute(sa_text(
        "WITH matches AS (SELECT e.paper_id, " + _PG_SCORE.format(all_words=query.all_words) + " AS score "
        "FROM search_paper e WHERE " + query.condition + where + ") "
        "SELECT paper_id, score, (SELECT count(*) FROM matches) AS total FROM matches " + keyset +
        " ORDER BY score DESC, paper_id DESC LIMIT :limit"), params))
    if not rows:
        total = session.execute(sa_text(
            "SELECT count(*) FROM search_paper e WHERE " + query.condition + where), params).scalar() \
            if after is not None else 0
        return Results(total=int(total or 0))
    ids = [r.paper_id for r in rows[:limit]]
    # The best part of each of the page's Vorlagen (all the words, in the Vorlage's own text
    # before an Anlage, the most of them), and only its snippet cut.
    details = session.execute(sa_text(
        "WITH q AS (SELECT websearch_to_tsquery('german', :words) AS q, " + query.all_words +
        " AS all_words), best AS (SELECT DISTINCT ON (e.paper_id) e.id FROM search_entry e, q "
        "WHERE e.paper_id = ANY(:ids) ORDER BY e.paper_id, e.document @@ q.all_words DESC, "
        "e.document @@ q.q DESC, e.file_id IS NULL DESC, ts_rank(e.document, q.q) DESC, e.id) "
        "SELECT e.id, e.paper_id, e.file_id, e.part, e.content, p.reference, p.paper_type, p.date, "
        "f.name AS file_name, f.position AS file_position, "
        f"ts_headline('german', e.content, q.q, '{_HEADLINE}') AS snippet, "
        "ts_headline('german', p.name, q.q, 'HighlightAll=TRUE, StartSel=\ue000, StopSel=\ue001') AS name "
        "FROM best JOIN search_entry e ON e.id = best.id JOIN paper p ON p.id = e.paper_id "
        "LEFT JOIN file f ON f.id = e.file_id, q WHERE p.public AND p.released IS NOT NULL"),
        {**query.params, "ids": ids}).all()
    by_paper = {d.paper_id: d.id for d in details}
    best = [by_paper[i] for i in ids if i in by_paper]
    return _results(rows, int(rows[0].total), limit, _hits(best, details, lambda d: (
        _fragments(d.name), _fragments(d.snippet.replace(extract.PAGE_BREAK, " ")))))


def _marked_words(fragments: list[tuple[str, bool]]) -> list[str]:
    return [t for t, marked in fragments if marked]


def _hits(best: list[int], details: Sequence[Any], texts: Any) -> list[Hit]:
    by_id = {d.id: d for d in details}
    hits = []
    for entry_id in best:
        d = by_id.get(entry_id)
        if d is None:  # left the public since it was indexed (belt and braces)
            continue
        name, snippet = texts(d)
        marked = _marked_words(snippet)
        page = page_of(d.part, d.content, marked[0]) if d.file_id and marked else d.part
        hits.append(Hit(d.paper_id, d.reference, name, d.paper_type, d.date, snippet,
                        d.file_id, d.file_name, d.file_position, page if d.file_id else None))
    return hits


def _search_sqlite(session: Session, text: str, filters: Filters, after: tuple[float, int] | None,
                   limit: int) -> Results:
    parsed = parse_query(text)
    match = parsed.fts5()
    if match is None:
        return Results()
    papers = table_of(SearchPaper)
    # bm25 is negative, better more so; the title counts ten times the text, an Anlage's text
    # a little less than the Vorlage's own (as the weights A, B, C on PostgreSQL).
    found = sa_text(f"SELECT rowid AS paper_id, -bm25({FTS_PAPER}, 10.0, 1.0, 0.8) AS score FROM {FTS_PAPER} "
                    f"WHERE {FTS_PAPER} MATCH :match").columns(paper_id=Integer(), score=Float())
    # Materialised: flattened into the join, bm25 would be "used in the wrong context".
    ranked = found.cte("found").prefix_with("MATERIALIZED")
    matches = (core_select(ranked.c.paper_id, ranked.c.score)
               .join(papers, papers.c.paper_id == ranked.c.paper_id).where(*_filters(papers, filters)))
    rows, total = _page(session, matches, after, limit, {"match": match})
    if not rows:
        return Results(total=total)
    ids = json_ids([r.paper_id for r in rows[:limit]])
    # The best part of each: all the words (as the query asks), the Vorlage's own text before
    # an Anlage, the best ranked.
    parts = "SELECT value FROM json_each(:ids)"
    every = set(session.execute(sa_text(
        f"SELECT f.rowid FROM {FTS_TABLE} f JOIN search_entry e ON e.id = f.rowid "
        f"WHERE {FTS_TABLE} MATCH :match AND e.paper_id IN ({parts})"),
        {"match": match, "ids": ids}).scalars())
    candidates = session.execute(sa_text(
        f"SELECT f.rowid AS id, e.paper_id, e.file_id, -bm25({FTS_TABLE}, 10.0, 1.0) AS rank "
        f"FROM {FTS_TABLE} f JOIN search_entry e ON e.id = f.rowid "
        f"WHERE {FTS_TABLE} MATCH :any AND e.paper_id IN ({parts})"),
        {"any": " OR ".join(f'"{s}"' for s in sorted(parsed.stems)), "ids": ids}).all()
    chosen: dict[int, Any] = {}
    for c in sorted(candidates, key=lambda c: (c.id not in every, c.file_id is not None, -c.rank, c.id)):
        chosen.setdefault(c.paper_id, c.id)
    best = list(chosen.values())
    details = session.execute(sa_text(
        "SELECT e.id, e.paper_id, e.file_id, e.part, e.content, p.reference, p.name AS paper_name, "
        "p.paper_type, p.date, f.name AS file_name, f.position AS file_position "
        "FROM search_entry e JOIN paper p ON p.id = e.paper_id LEFT JOIN file f ON f.id = e.file_id "
        "WHERE e.id IN (SELECT value FROM json_each(:ids)) AND p.public AND p.released IS NOT NULL")
        .columns(date=sqlite.DATE()), {"ids": json_ids(best)}).all()
    by_paper = {d.paper_id: d.id for d in details}
    stems = parsed.stems
    ordered = [by_paper[r.paper_id] for r in rows[:limit] if r.paper_id in by_paper]
    return _results(rows, total, limit, _hits(ordered, details, lambda d: (
        highlight(d.paper_name, stems, whole=True),
        highlight(d.content.replace(extract.PAGE_BREAK, " "), stems))))


def json_ids(ids: list[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def highlight(text: str, stems: set[str], *, whole: bool = False, words: int = 30) -> list[tuple[str, bool]]:
    """``text`` (or, unless ``whole``, a window of about ``words`` words around its first
    matches) in fragments, each word whose stem is looked for marked: the snippet SQLite's
    FTS5 cannot cut, since it holds stems, not the text."""
    tokens = list(_WORD.finditer(text))
    hits = [i for i, t in enumerate(tokens) if stem(t.group().lower()) in stems]
    if whole or not tokens:
        start, end = 0, len(text)
    else:
        first = hits[0] if hits else 0
        begin = max(0, first - words // 3)
        last = min(len(tokens), begin + words) - 1
        start = tokens[begin].start() if begin > 0 else 0
        end = tokens[last].end() if last < len(tokens) - 1 else len(text)
    out: list[tuple[str, bool]] = []
    position = start
    for i in hits:
        t = tokens[i]
        if t.start() < start or t.end() > end:
            continue
        if t.start() > position:
            out.append((text[position:t.start()], False))
        out.append((t.group(), True))
        position = t.end()
    if position < end:
        out.append((text[position:end], False))
    if not whole:
        if start > 0:
            out.insert(0, ("… ", False))
        if end < len(text):
            out.append((" …", False))
    return out
