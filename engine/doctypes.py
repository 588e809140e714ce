"""Which document types an Anlage may be, told from its bytes (never from the name or the
client's content type).

The allow-list: PDF; the office formats (OOXML docx/xlsx/pptx, OpenDocument odt/ods/odp,
the legacy OLE formats doc/xls/ppt); plain text (UTF-8, or Windows-1252 without control
characters, and no markup); images (PNG, JPEG, GIF, WebP, TIFF). Anything else, SVG and
HTML included, is refused.

Zip-based formats are recognised by looking inside the zip (``[Content_Types].xml`` with
``word/``, ``xl/`` or ``ppt/``; OpenDocument's ``mimetype`` entry), legacy Office files by
the stream names in the compound file's directory. No libmagic: a few magic numbers and the
standard library suffice, and each rule is tested (tests/test_anlagen.py).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class DocType:
    mime_type: str
    label: str  # what a user knows it as ("PDF", "Word (docx)")
    extensions: tuple[str, ...]  # the first is the canonical one
    inline: bool = False  # shown in the browser (PDF, images) rather than downloaded


PDF = DocType("application/pdf", "PDF", (".pdf",), inline=True)
DOCX = DocType("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "Word (docx)", (".docx",))
XLSX = DocType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "Excel (xlsx)", (".xlsx",))
PPTX = DocType("application/vnd.openxmlformats-officedocument.presentationml.presentation",
               "PowerPoint (pptx)", (".pptx",))
ODT = DocType("application/vnd.oasis.opendocument.text", "OpenDocument-Text (odt)", (".odt",))
ODS = DocType("application/vnd.oasis.opendocument.spreadsheet", "OpenDocument-Tabelle (ods)", (".ods",))
ODP = DocType("application/vnd.oasis.opendocument.presentation", "OpenDocument-Präsentation (odp)", (".odp",))
DOC = DocType("application/msword", "Word (doc)", (".doc",))
XLS = DocType("application/vnd.ms-excel", "Excel (xls)", (".xls",))
PPT = DocType("application/vnd.ms-powerpoint", "PowerPoint (ppt)", (".ppt",))
TEXT_UTF8 = DocType("text/plain; charset=utf-8", "Text (txt)", (".txt", ".text", ".csv"))
TEXT_CP1252 = DocType("text/plain; charset=windows-1252", "Text (txt)", (".txt", ".text", ".csv"))
PNG = DocType("image/png", "PNG", (".png",), inline=True)
JPEG = DocType("image/jpeg", "JPEG", (".jpg", ".jpeg", ".jpe"), inline=True)
GIF = DocType("image/gif", "GIF", (".gif",), inline=True)
WEBP = DocType("image/webp", "WebP", (".webp",), inline=True)
TIFF = DocType("image/tiff", "TIFF", (".tif", ".tiff"), inline=True)

ALLOWED: tuple[DocType, ...] = (PDF, DOCX, XLSX, PPTX, ODT, ODS, ODP, DOC, XLS, PPT,
                                TEXT_UTF8, TEXT_CP1252, PNG, JPEG, GIF, WEBP, TIFF)
BY_MIME_TYPE = {t.mime_type: t for t in ALLOWED}

#: The allow-list as a user reads it (in the refusal and next to the upload field).
ALLOWED_DESCRIPTION = ("PDF, Word (docx, doc), Excel (xlsx, xls), PowerPoint (pptx, ppt), "
                       "OpenDocument (odt, ods, odp), Text (txt) und Bilder (PNG, JPEG, GIF, WebP, TIFF)")

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODF = {"application/vnd.oasis.opendocument.text": ODT,
        "application/vnd.oasis.opendocument.spreadsheet": ODS,
        "application/vnd.oasis.opendocument.presentation": ODP}
#: Macro-carrying parts: a docm/xlsm/pptm renamed to docx is not a docx.
_MACRO_PARTS = re.compile(r"(^|/)vbaProject\.bin$|(^|/)vbaData\.xml$", re.IGNORECASE)
#: Text that a browser (or a careless viewer) could take for markup or script.
_MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|a\s)",
                     re.IGNORECASE)
_TEXT_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: Bytes Windows-1252 leaves undefined: a file with them is not cp1252 text.
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


def detect(content: bytes) -> DocType | None:
    """The allowed type ``content`` is, or None (not on the list, or not recognisably so)."""
    try:
        return identify(content)
    except DamagedCompoundFile:
        return None


def identify(content: bytes) -> DocType | None:
    """Like :func:`detect`, but a legacy Office file whose directory cannot be read raises
    :class:`DamagedCompoundFile`, so that a refusal can say so."""
    if not content:
        return None
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n") and content[12:16] == b"IHDR":
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return WEBP
    if content[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if content.startswith(b"PK\x03\x04"):
        return _zip_type(content)
    if content.startswith(_OLE_MAGIC):
        return _ole_type(content)
    return _text_type(content)


def _zip_type(content: bytes) -> DocType | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                with archive.open("mimetype") as entry:
                    declared = entry.read(100).decode("ascii", errors="replace").strip()
                if "META-INF/manifest.xml" in names:
                    return _ODF.get(declared)
                return None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError,
            ValueError, RuntimeError):  # RuntimeError: an encrypted entry
        return None
    if "[Content_Types].xml" not in names or any(_MACRO_PARTS.search(n) for n in names):
        return None
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    found = [t for top, t in (("word", DOCX), ("xl", XLSX), ("ppt", PPTX)) if top in tops]
    return found[0] if len(found) == 1 else None


# ----------------------------------------------------------------------------- OLE compound files

_FREE, _END_OF_CHAIN = 0xFFFFFFFF, 0xFFFFFFFE
#: Most directory entries read (128 bytes each): an Office document has a few dozen, one
#: with many embedded objects some hundreds. A file that claims more is refused.
MAX_DIRECTORY_ENTRIES = 16_384


class DamagedCompoundFile(ValueError):
    """A file that starts like a legacy Office (OLE compound) file but whose directory cannot be
    read within the bounds: a chain that loops or leaves the file, counts the file cannot hold,
    or more directory entries than :data:`MAX_DIRECTORY_ENTRIES`. ``str()`` says which (for
    logs); :attr:`message` is what a user reads after the file's name."""

    message = ("sieht aus wie ein altes Office-Dokument, "
               "ihr Inhaltsverzeichnis ist aber beschädigt oder zu groß.")


def _ole_type(content: bytes) -> DocType | None:
    names = ole_stream_names(content)
    if names is None:
        return None
    if "WordDocument" in names:
        found = [DOC]
    else:
        found = []
    if "Workbook" in names or "Book" in names:
        found.append(XLS)
    if "PowerPoint Document" in names:
        found.append(PPT)
    # Macros (a "Macros"/"_VBA_PROJECT_CUR"/"VBA" storage) make it something else.
    if names & {"Macros", "_VBA_PROJECT_CUR", "VBA", "_VBA_PROJECT"}:
        return None
    return found[0] if len(found) == 1 else None


def ole_stream_names(content: bytes) -> set[str] | None:
    """The names in a compound file's directory (streams and storages); None if ``content`` is
    not a compound file or its directory names nothing; :class:`DamagedCompoundFile` if it is
    one whose directory cannot be read.

    Everything the file claims is a claim: sectors are read by index straight from
    ``content``; the FAT entry of a sector is looked up when the chain reaches it (through the
    header's 109 FAT sector numbers, then the DIFAT chain, walked only as far as needed); no
    list grows with a count the header states. The directory chain is followed for at most
    :data:`MAX_DIRECTORY_ENTRIES` entries and never for more sectors than the file has, so a
    chain that loops ends there. Time and memory are bounded by that cap, not by the file."""
    if not content.startswith(_OLE_MAGIC):
        return None
    if len(content) < 512:
        raise DamagedCompoundFile("shorter than its header")
    shift = int(struct.unpack_from("<H", content, 30)[0])
    if shift not in (9, 12):
        raise DamagedCompoundFile(f"sector shift {shift}")
    size = 1 << shift
    per_sector = size // 4  # FAT entries in a sector
    sectors = len(content) // size - 1  # whole sectors after the header
    fat_count, first_dir = (int(n) for n in struct.unpack_from("<II", content, 44))
    first_difat, difat_count = (int(n) for n in struct.unpack_from("<II", content, 68))
    if fat_count > sectors or difat_count > sectors:
        raise DamagedCompoundFile(f"{fat_count} FAT and {difat_count} DIFAT sectors claimed, "
                                  f"{sectors} present")

    def offset(index: int) -> int:
        if index >= sectors:
            raise DamagedCompoundFile(f"sector {index:#x} is not in the file ({sectors} sectors)")
        return (index + 1) * size

    difat_chain: list[int] = []  # the DIFAT sectors walked so far: fat_count / 127 at most

    def fat_sector(k: int) -> int:
        """Where the ``k``-th sector of the FAT is."""
        if k >= fat_count:
            raise DamagedCompoundFile(f"FAT sector {k} beyond the {fat_count} claimed")
        if k < 109:
            return int(struct.unpack_from("<I", content, 76 + 4 * k)[0])
        j, i = divmod(k - 109, per_sector - 1)  # each DIFAT sector: 127 (1023) numbers, then the next
        while len(difat_chain) <= j:
            next_difat = first_difat if not difat_chain else \
                struct.unpack_from("<I", content, offset(difat_chain[-1]) + size - 4)[0]
            if len(difat_chain) >= difat_count or next_difat in difat_chain:
                raise DamagedCompoundFile("DIFAT chain ends early or loops")
            offset(next_difat)
            difat_chain.append(next_difat)
        return int(struct.unpack_from("<I", content, offset(difat_chain[j]) + 4 * i)[0])

    def following(index: int) -> int:
        k, i = divmod(index, per_sector)
        return int(struct.unpack_from("<I", content, offset(fat_sector(k)) + 4 * i)[0])

    names: set[str] = set()
    limit = min(sectors, MAX_DIRECTORY_ENTRIES // (size // 128))
    current, read = first_dir, 0
    while current != _END_OF_CHAIN:
        if read == limit:
            raise DamagedCompoundFile(f"directory chain loops or is longer than {limit} sectors")
        read += 1
        start = offset(current)
        for entry in range(start, start + size, 128):
            length, kind = struct.unpack_from("<HB", content, entry + 64)
            if kind in (1, 2, 5) and 2 <= length <= 64:
                names.add(content[entry:entry + length - 2].decode("utf-16-le", errors="replace"))
        current = following(current)
    return names if names else None


# ----------------------------------------------------------------------------- plain text

def _text_type(content: bytes) -> DocType | None:
    body = content[3:] if content.startswith(b"\xef\xbb\xbf") else content
    if _TEXT_CONTROLS.search(body) or _MARKUP.search(body) or body.lstrip().startswith(b"<"):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        if body is not content or _CP1252_UNDEFINED.search(body):
            return None
        return TEXT_CP1252
    return TEXT_UTF8
