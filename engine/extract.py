"""The text of an Anlage, read once from its bytes for the full-text search (``engine.search``).

What can be read: PDF (pypdf, page by page), the OOXML and OpenDocument formats (their XML
parts inside the zip, read with a parser that resolves no entities and fetches nothing),
plain text. The legacy binary Office formats and images have no text here (no OCR).

A document is input from outside: every part is bounded (pages, characters, the unpacked
size of a zip member) and any failure to read is an :class:`Unreadable` with a German reason,
never an exception from a library. Pages are separated by a form feed (``\\f``), so the index
can say on which page a word stands.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from engine import doctypes
from engine.doctypes import DocType

#: Pages read of a PDF, characters kept of a document, bytes unpacked of one zip member.
MAX_PAGES = 2000
MAX_CHARS = 2_000_000
MAX_MEMBER_BYTES = 50_000_000
#: Separates pages (PDF) or slides/sheets (Office) in the stored text.
PAGE_BREAK = "\f"
#: Characters kept out of the stored text: controls (but tab, newline and the page break) and
#: the private-use marks the search's snippets are highlighted with (``engine.search``).
_UNWANTED = re.compile(r"[\x00-\x08\x0b\x0d-\x1f\x7f\ue000\ue001]")

log = logging.getLogger(__name__)

Reader = Callable[[bytes], Iterator[str]]


class Unreadable(ValueError):
    """The document's text cannot be read; the message says why (German)."""


@dataclass(frozen=True)
class Extracted:
    text: str  # pages separated by PAGE_BREAK; "" when the document holds no text

    @property
    def pages(self) -> list[str]:
        return self.text.split(PAGE_BREAK)


def clean(text: str) -> str:
    return _UNWANTED.sub(" ", text)


def extract(content: bytes, doc_type: DocType | None = None) -> Extracted:
    """The text of ``content`` (its type told from the bytes unless given)."""
    doc_type = doc_type or doctypes.detect(content)
    if doc_type is None:
        raise Unreadable("Kein erlaubter Dokumenttyp.")
    reader = _READERS.get(doc_type.mime_type)
    if reader is None:
        return Extracted("")  # images, legacy Office files: no text to read here
    try:
        pages = list(_bounded(reader(content)))
    except Unreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile or broken document: never a crash
        log.info("text of a %s not readable: %r", doc_type.label, exc)
        raise Unreadable(f"{doc_type.label}: Text nicht lesbar ({type(exc).__name__}).") from None
    return Extracted(PAGE_BREAK.join(pages) if any(p.strip() for p in pages) else "")


def _bounded(pages: Iterator[str]) -> Iterator[str]:
    left = MAX_CHARS
    for page in pages:
        page = clean(page).strip()
        yield page[:left]
        left -= len(page)
        if left <= 0:
            return


# ----------------------------------------------------------------------------- PDF

def _pdf(content: bytes) -> Iterator[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content), strict=False)
    if reader.is_encrypted:
        try:
            if not reader.decrypt(""):
                raise Unreadable("PDF: verschlüsselt.")
        except NotImplementedError:
            raise Unreadable("PDF: verschlüsselt.") from None
    for number, page in enumerate(reader.pages):
        if number >= MAX_PAGES:
            return
        yield page.extract_text() or ""


# ----------------------------------------------------------------------------- zip + XML

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _member(archive: zipfile.ZipFile, name: str) -> etree._Element:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise Unreadable(f"Dokument zu groß entpackt ({info.file_size // 1_000_000} MB).")
    with archive.open(info) as handle:
        data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise Unreadable("Dokument zu groß entpackt.")
    return etree.fromstring(data, _PARSER)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _paragraphs(root: etree._Element, paragraph: set[str], text: set[str], tab: set[str],
                line: set[str]) -> str:
    """The text of ``root``: runs of ``text`` elements, a newline after each ``paragraph``."""
    out: list[str] = []
    for element in root.iter():
        name = _local(element.tag)
        if name in text and element.text:
            out.append(element.text)
        elif name in tab:
            out.append("\t")
        elif name in line:
            out.append("\n")
        if name in paragraph:
            out.append("\n")
    return "".join(out)


def _odf_text(root: etree._Element) -> str:
    """OpenDocument keeps text as mixed content of text:p / text:h with text:span inside."""
    out: list[str] = []
    for element in root.iter():
        if _local(element.tag) in ("p", "h"):
            out.append("".join(element.itertext()) + "\n")
    return "".join(out)


def _numbered(names: list[str], pattern: str) -> list[str]:
    matcher = re.compile(pattern)
    found = [(int(m.group(1)), n) for n in names if (m := matcher.fullmatch(n))]
    return [n for _number, n in sorted(found)]


def _docx(content: bytes) -> Iterator[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        yield _paragraphs(_member(archive, "word/document.xml"), {"p"}, {"t"}, {"tab"}, {"br", "cr"})


def _xlsx(content: bytes) -> Iterator[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = _member(archive, "xl/sharedStrings.xml")
            shared = ["".join(t.text or "" for t in si.iter() if _local(t.tag) == "t")
                      for si in root if _local(si.tag) == "si"]
        for sheet in _numbered(names, r"xl/worksheets/sheet([0-9]{1,4})\.xml"):
            cells: list[str] = []
            for cell in _member(archive, sheet).iter():
                if _local(cell.tag) != "c":
                    continue
                kind = cell.get("t")
                for child in cell.iter():
                    name = _local(child.tag)
                    if kind == "s" and name == "v" and child.text and child.text.isdigit():
                        index = int(child.text)
                        cells.append(shared[index] if index < len(shared) else "")
                    elif kind == "inlineStr" and name == "t" and child.text:
                        cells.append(child.text)
                    elif kind not in ("s", "inlineStr") and name == "v" and child.text:
                        cells.append(child.text)
            yield "\n".join(cells)


def _pptx(content: bytes) -> Iterator[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for slide in _numbered(archive.namelist(), r"ppt/slides/slide([0-9]{1,4})\.xml"):
            yield _paragraphs(_member(archive, slide), {"p"}, {"t"}, set(), {"br"})


def _odf(content: bytes) -> Iterator[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        yield _odf_text(_member(archive, "content.xml"))


def _plain(encoding: str) -> Reader:
    def read(content: bytes) -> Iterator[str]:
        yield content.decode(encoding, errors="replace")
    return read


_READERS: dict[str, Reader] = {
    doctypes.PDF.mime_type: _pdf,
    doctypes.DOCX.mime_type: _docx,
    doctypes.XLSX.mime_type: _xlsx,
    doctypes.PPTX.mime_type: _pptx,
    doctypes.ODT.mime_type: _odf,
    doctypes.ODS.mime_type: _odf,
    doctypes.ODP.mime_type: _odf,
    doctypes.TEXT_UTF8.mime_type: _plain("utf-8"),
    doctypes.TEXT_CP1252.mime_type: _plain("cp1252"),
}
