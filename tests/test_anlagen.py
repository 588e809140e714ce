"""Anlagen: the type is told from the bytes (an allow-list), names are normalised, a blob
exists exactly when its row committed, and a download is served as the type it is."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlmodel import select

from engine import doctypes
from engine.council import File, Paper
from engine.demo import demo_pdf
from engine.errors import Invalid
from engine.files import BadFileName, FileStore, check_upload, normalise_file_name
from engine.process import procedures

from .conftest import text_of
from .test_web import _ids, _paper_form

# ----------------------------------------------------------------------------- tiny real files


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1×1, 8 bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter 0, one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
       b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xdb\x00\x43\x00" + bytes(range(1, 65)) + b"\xff\xd9")
WEBP = b"RIFF" + struct.pack("<I", 4 + 8 + 5) + b"WEBP" + b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00"
TIFF = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0) + struct.pack("<I", 0)


def _ooxml(top: str, main: str, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"/>')
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr(f"{top}/{main}", "<document/>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


def _odf(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), f"application/vnd.oasis.opendocument.{kind}",
                   compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", "<manifest:manifest/>")
        z.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


def _ole(*streams: str) -> bytes:
    """A compound file (512-byte sectors): sector 0 the FAT, sector 1 the directory."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHH", header, 24, 0x3E, 3, 0xFFFE, 9)  # minor, major, byte order, shift
    struct.pack_into("<H", header, 32, 6)
    struct.pack_into("<III", header, 44, 1, 1, 0)  # one FAT sector, directory at 1
    struct.pack_into("<I", header, 56, 4096)
    struct.pack_into("<IIII", header, 60, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)  # no mini FAT, no DIFAT
    struct.pack_into("<109I", header, 76, 0, *([0xFFFFFFFF] * 108))
    fat = struct.pack("<128I", 0xFFFFFFFD, 0xFFFFFFFE, *([0xFFFFFFFF] * 126))
    directory = bytearray(512)
    for i, (name, kind) in enumerate([("Root Entry", 5), *((s, 2) for s in streams)][:4]):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry = 128 * i
        directory[entry:entry + len(encoded)] = encoded
        struct.pack_into("<HB", directory, entry + 64, len(encoded), kind)
        struct.pack_into("<I", directory, entry + 116, 0xFFFFFFFE)
    return bytes(header) + fat + bytes(directory)


PDF = demo_pdf("Anlage", ["Eine Zeile."])
ALLOWED = {
    "bericht.pdf": (PDF, "application/pdf"),
    "bild.png": (_png(), "image/png"),
    "foto.jpg": (JPEG, "image/jpeg"),
    "animation.gif": (GIF, "image/gif"),
    "bild.webp": (WEBP, "image/webp"),
    "scan.tif": (TIFF, "image/tiff"),
    "brief.docx": (_ooxml("word", "document.xml"), doctypes.DOCX.mime_type),
    "tabelle.xlsx": (_ooxml("xl", "workbook.xml"), doctypes.XLSX.mime_type),
    "folien.pptx": (_ooxml("ppt", "presentation.xml"), doctypes.PPTX.mime_type),
    "brief.odt": (_odf("text"), doctypes.ODT.mime_type),
    "tabelle.ods": (_odf("spreadsheet"), doctypes.ODS.mime_type),
    "folien.odp": (_odf("presentation"), doctypes.ODP.mime_type),
    "alt.doc": (_ole("WordDocument", "1Table"), "application/msword"),
    "alt.xls": (_ole("Workbook"), "application/vnd.ms-excel"),
    "alt.ppt": (_ole("PowerPoint Document", "Current User"), "application/vnd.ms-powerpoint"),
    "notiz.txt": ("Straßenbeleuchtung: 3 Angebote\r\n".encode(), "text/plain; charset=utf-8"),
    "alt.txt": ("Müllabfuhr\n".encode("cp1252"), "text/plain; charset=windows-1252"),
}
REFUSED = {
    "windows.exe → .pdf": ("programm.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(64)),
    "ELF → .pdf": ("programm.pdf", b"\x7fELF\x02\x01\x01\x00" + bytes(56)),
    "HTML → .pdf": ("seite.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
    "HTML → .txt": ("seite.txt", b"  \n<html><body onload=alert(1)>"),
    "script in text": ("notiz.txt", b"Hallo\n<script>alert(1)</script>\n"),
    "SVG → .png": ("bild.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "SVG with XML declaration": ("bild.svg", b'<?xml version="1.0"?>\n<svg onload="alert(1)"/>'),
    "docm → .docx": ("makro.docx", _ooxml("word", "document.xml", {"word/vbaProject.bin": b"\x00"})),
    "zip → .docx": ("archiv.docx", _ooxml("other", "x.xml")),
    "jar → .odt": ("app.odt", _ooxml("META-INF", "MANIFEST.MF")),
    "OLE without Office streams (msi)": ("setup.doc", _ole("\u4840\u3b3f")),
    "OLE with macros": ("makro.doc", _ole("WordDocument", "Macros")),
    "truncated OLE": ("kaputt.doc", _ole("WordDocument")[:600]),
    "empty": ("leer.pdf", b""),
}


# ----------------------------------------------------------------------------- the detector


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_each_allowed_type_is_told_from_its_bytes(name: str) -> None:
    content, mime_type = ALLOWED[name]
    found = doctypes.detect(content)
    assert found is not None and found.mime_type == mime_type
    assert Path(name).suffix in found.extensions


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_other_content_is_refused_whatever_it_is_called(case: str) -> None:
    name, content = REFUSED[case]
    assert content == b"" or doctypes.detect(content) is None
    with pytest.raises(ValueError) as refused:
        check_upload(name, content)
    assert str(refused.value).startswith("Anlagen: ")
    if case == "truncated OLE":  # an Office file whose directory is cut off: it says so
        assert str(refused.value).endswith("ihr Inhaltsverzeichnis ist aber beschädigt oder zu groß.")
    elif content:
        assert "Erlaubt sind PDF, Word (docx, doc)" in str(refused.value)


def test_an_allowed_type_under_another_name_keeps_its_own_extension() -> None:
    upload = check_upload("bericht.exe", PDF)
    assert (upload.file_name, upload.name, upload.doc_type) == ("bericht.exe.pdf", "bericht.exe", doctypes.PDF)
    assert check_upload("Foto.JPEG", JPEG).file_name == "Foto.JPEG"
    assert check_upload("Bericht 1.2", PDF).file_name == "Bericht 1.2.pdf"


@pytest.mark.parametrize(("raw", "expected"), [
    ("..\\..\\x.pdf", "x.pdf"),
    ("/etc/passwd", "passwd"),
    ("C:\\Users\\mm\\Haushalt 2025.pdf", "Haushalt 2025.pdf"),
    ("../../.hidden.pdf", "hidden.pdf"),
    ('Was? "Wer"<>|*.pdf', "Was_ _Wer_____.pdf"),
    ("  Bericht.pdf. ", "Bericht.pdf"),
    ("Übersicht.pdf", "Übersicht.pdf"),
    ("U\u0308bersicht.pdf", "Übersicht.pdf"),  # NFC
])
def test_file_names_lose_their_path_parts(raw: str, expected: str) -> None:
    assert normalise_file_name(raw) == expected


@pytest.mark.parametrize("raw", ["a\x00b.pdf", "zeile\nzwei.pdf", "tab\t.pdf", "del\x7f.pdf", "c1\x85.pdf",
                                 "Rechnung\u202efdp.exe", "..", "/", "...\\"])
def test_file_names_with_control_characters_or_nothing_are_refused(raw: str) -> None:
    with pytest.raises(BadFileName):
        normalise_file_name(raw)
    with pytest.raises(ValueError, match="^Anlagen: "):
        check_upload(raw, PDF)


def test_a_long_name_is_shortened_before_its_extension() -> None:
    name = normalise_file_name("x" * 300 + ".pdf")
    assert len(name) == 200 and name.endswith("x.pdf")


# ----------------------------------------------------------------------------- the store


def _leftovers(store: FileStore) -> list[Path]:
    return sorted(store.root.rglob(".upload-*")) if store.root.exists() else []


def test_a_blob_is_in_place_only_once_its_unit_of_work_commits(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = FileStore(tmp_path / "files")
    content = b"committed " + tmp_path.name.encode()
    with database.unit_of_work() as s:
        digest = store.put(s, content)
        assert not store.exists(digest) and len(_leftovers(store)) == 1
        assert store.put(s, content) == digest and len(_leftovers(store)) == 1  # once
    assert store.path_for(digest).read_bytes() == content and not _leftovers(store)


def test_a_rollback_leaves_no_blob(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = FileStore(tmp_path / "files")
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        digest = store.put(s, b"rolled back")
        raise RuntimeError("later in the unit of work")
    assert not store.exists(digest) and not _leftovers(store)
    uow = database.begin()  # closed without commit (a request's teardown)
    digest = store.put(uow.session, b"never committed")
    uow.close()
    assert not store.exists(digest) and not _leftovers(store)
    uow = database.begin()  # rolled back, then the same unit of work goes on and commits
    store.put(uow.session, b"first try")
    uow.rollback()
    again = store.put(uow.session, b"second try")
    uow.commit()
    uow.close()
    assert store.exists(again) and not store.exists(hashlib.sha512(b"first try").hexdigest())
    assert not _leftovers(store)


def test_a_savepoint_rollback_drops_only_its_own_blobs(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = FileStore(tmp_path / "files")
    with database.unit_of_work() as s:
        kept = store.put(s, b"outer")
        savepoint = s.begin_nested()
        dropped = store.put(s, b"inner, rolled back")
        savepoint.rollback()
        with s.begin_nested():
            released = store.put(s, b"inner, released")
        assert not store.exists(released)  # a released savepoint is not a commit
    assert store.exists(kept) and store.exists(released) and not store.exists(dropped)
    assert not _leftovers(store)


def test_a_blob_already_in_place_survives_a_rollback(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = FileStore(tmp_path / "files")
    with database.unit_of_work() as s:
        digest = store.put(s, b"shared")
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        store.put(s, b"shared")
        raise RuntimeError
    assert store.exists(digest)


# ----------------------------------------------------------------------------- through the form


def _upload(clerk, ids, files: list[tuple[bytes, str, str]], **form: str):  # type: ignore[no-untyped-def]
    return clerk.post("/vorlagen/neu", {
        **_paper_form(ids, **form), "anlagen": [(io.BytesIO(c), n, t) for c, n, t in files],
    }, content_type="multipart/form-data")


def _stored(database, reference: str = "2024/070") -> list[File]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == reference)).first()
        if paper is None:
            return []
        return list(s.exec(select(File).where(File.paper_id == paper.id).order_by(File.position)))


def test_each_allowed_type_is_stored_and_served_as_what_it_is(demo, database, browser, app) -> None:  # type: ignore[no-untyped-def]
    store: FileStore = app.extensions["ratsflow.files"]
    ids = _ids(database)
    clerk = browser().login("zierstedt")
    names = sorted(ALLOWED)
    # The client's content type says nothing: every file claims to be a PDF.
    response = _upload(clerk, ids, [(ALLOWED[n][0], n, "application/pdf") for n in names])
    assert response.status_code == 302, text_of(response.get_data(as_text=True))
    stored = _stored(database)
    assert [(f.file_name, f.mime_type, f.size) for f in stored] == [
        (n, ALLOWED[n][1], len(ALLOWED[n][0])) for n in names]
    for f in stored:
        assert store.path_for(f.sha_512_checksum).read_bytes() == ALLOWED[f.file_name][0]  # type: ignore[arg-type,index]
        download = clerk.get(f"/dateien/{f.id}")  # a draft: its people only
        assert download.status_code == 200 and download.headers["Content-Type"] == ALLOWED[f.file_name][1]  # type: ignore[index]
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        inline = f.mime_type == "application/pdf" or f.mime_type.startswith("image/")  # type: ignore[union-attr]
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("inline;" if inline else "attachment;"), disposition
        assert f.file_name in disposition or "filename*=UTF-8''" in disposition
        assert download.get_data() == ALLOWED[f.file_name][0]  # type: ignore[index]
        download.close()
    assert not _leftovers(store)


def test_a_png_called_pdf_is_stored_and_served_as_a_png(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    clerk = browser().login("zierstedt")
    response = _upload(clerk, _ids(database), [(_png(), "..\\..\\Lageplan.pdf", "application/pdf")])
    assert response.status_code == 302
    [f] = _stored(database)
    assert (f.name, f.file_name, f.mime_type) == ("Lageplan.pdf", "Lageplan.pdf.png", "image/png")
    download = clerk.get(f"/dateien/{f.id}")  # a draft: its people only
    assert download.mimetype == "image/png"
    assert download.headers["Content-Disposition"] == \
        "inline; filename=\"Lageplan.pdf.png\"; filename*=UTF-8''Lageplan.pdf.png"
    download.close()


@pytest.mark.parametrize("case", ["SVG → .png", "HTML → .pdf", "windows.exe → .pdf", "docm → .docx"])
def test_a_refused_type_answers_422_and_stores_nothing(case, demo, database, browser, app) -> None:  # type: ignore[no-untyped-def]
    store: FileStore = app.extensions["ratsflow.files"]
    name, content = REFUSED[case]
    clerk = browser().login("zierstedt")
    response = _upload(clerk, _ids(database), [(PDF, "gut.pdf", "application/pdf"),
                                               (content, name, "application/pdf")])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    message = re.search(r'id="anlagen-error">([^<]*)<', html).group(1)  # type: ignore[union-attr]
    assert message.startswith(f"Anlagen: Die Datei „{name}“ hat keinen erlaubten Typ. Erlaubt sind PDF")
    assert "TIFF" in message and "Der Entwurf der Haushaltssatzung liegt vor." in html  # the rest is kept
    assert _stored(database) == []
    assert not store.exists(hashlib.sha512(content).hexdigest()) and not _leftovers(store)


def test_a_name_with_control_characters_answers_422_naming_the_field(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    clerk = browser().login("zierstedt")
    response = _upload(clerk, _ids(database), [(PDF, "Bericht\x07.pdf", "application/pdf")])
    assert response.status_code == 422
    # The request's check (web/inputs.py) answers before the engine's file-name rule is reached.
    assert "Das Feld „anlagen“ enthält ein unzulässiges Steuerzeichen." in text_of(response.get_data(as_text=True))
    assert _stored(database) == []
    with pytest.raises(BadFileName):  # the engine's rule, for callers without the web layer
        normalise_file_name("Bericht\x07.pdf")


@pytest.mark.parametrize("failure", [Invalid("Später abgelehnt.", {"consultations": ["Später abgelehnt."]}),
                                     RuntimeError("unexpected")], ids=["refused", "error"])
def test_an_upload_of_a_request_that_fails_later_leaves_no_blob_and_no_row(failure, demo, database, browser,  # type: ignore[no-untyped-def]
                                                                           app, monkeypatch) -> None:
    """The Vorlage and its Anlage are stored, then starting its Beratungsfolge fails (refused,
    or an unexpected error): the request rolls back, and the blob written before goes too."""
    store: FileStore = app.extensions["ratsflow.files"]
    content = demo_pdf(f"Wird zurückgerollt ({type(failure).__name__})")
    pending: list[int] = []

    def start_fails(*_args, **_kw):  # type: ignore[no-untyped-def]
        pending.append(len(_leftovers(store)))  # the blob is written, not yet in place
        raise failure
    monkeypatch.setattr(procedures, "start_beratungsfolge", start_fails)
    ids = _ids(database)
    clerk = browser().login("zierstedt")
    if isinstance(failure, Invalid):
        response = _upload(clerk, ids, [(content, "zurück.pdf", "application/pdf")], start="1")
        assert response.status_code == 422
        assert re.search(r'id="consultations-error">Später abgelehnt', response.get_data(as_text=True))
    else:
        with pytest.raises(RuntimeError):  # TESTING propagates it; the teardown still rolls back
            _upload(clerk, ids, [(content, "zurück.pdf", "application/pdf")], start="1")
    assert pending == [1]
    assert _stored(database) == [] and not store.exists(hashlib.sha512(content).hexdigest())
    assert not _leftovers(store)
    # Saved without starting, the same upload is kept: row and blob.
    response = _upload(clerk, ids, [(content, "zurück.pdf", "application/pdf")])
    assert response.status_code == 302
    [f] = _stored(database)
    assert f.sha_512_checksum == hashlib.sha512(content).hexdigest() and store.exists(f.sha_512_checksum)
    assert not _leftovers(store)


def test_a_row_of_an_unknown_type_is_offered_as_bytes_to_save(demo, database, browser, app) -> None:  # type: ignore[no-untyped-def]
    """A row from before the allow-list, its type as the client said: never interpreted."""
    store: FileStore = app.extensions["ratsflow.files"]
    content = b"<html><script>alert(1)</script></html>"
    with database.unit_of_work() as s:
        digest = store.put(s, content)
        f = File(paper_id=demo.paper_id, position=9, name="alt", file_name="../alt.html",
                 mime_type="text/html", size=len(content), sha_512_checksum=digest)
        s.add(f)
        s.flush()
        file_id = f.id
    download = browser().get(f"/dateien/{file_id}")
    assert download.status_code == 200 and download.mimetype == "application/octet-stream"
    assert download.headers["Content-Disposition"] == "attachment; filename=\"alt.html\"; filename*=UTF-8''alt.html"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()


def test_the_form_says_what_is_allowed(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    html = browser().login("zierstedt").get("/vorlagen/neu").get_data(as_text=True)
    assert f"Erlaubt sind {doctypes.ALLOWED_DESCRIPTION}." in text_of(html)
    accept = re.search(r'accept="([^"]+)"', html).group(1).split(",")  # type: ignore[union-attr]
    assert {e for t in doctypes.ALLOWED for e in t.extensions} - {".text", ".csv", ".jpe"} == set(accept)


# ----------------------------------------------------------------------------- hostile compound files
# A legacy Office file's type is read from its directory; the file itself says where the FAT,
# the DIFAT and the directory are and how many sectors each has. These files lie about that.

_END, _FREE = 0xFFFFFFFE, 0xFFFFFFFF
DAMAGED = "sieht aus wie ein altes Office-Dokument, ihr Inhaltsverzeichnis ist aber beschädigt oder zu groß."


def _compound(sectors: list[bytes], *, shift: int = 9, fat_count: int = 1, first_dir: int = 1,
              header_difat: list[int] | None = None, first_difat: int = _END,
              difat_count: int = 0) -> bytes:
    """A compound file from its sectors (each padded to the sector size) and a header that
    says whatever it is told."""
    size = 1 << shift
    header = bytearray(size)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHH", header, 24, 0x3E, 3 if shift == 9 else 4, 0xFFFE, shift)
    struct.pack_into("<H", header, 32, 6)
    struct.pack_into("<III", header, 44, fat_count, first_dir, 0)
    struct.pack_into("<I", header, 56, 4096)
    struct.pack_into("<IIII", header, 60, _END, 0, first_difat, difat_count)
    difat = (header_difat or [0])[:109]
    struct.pack_into("<109I", header, 76, *difat, *([_FREE] * (109 - len(difat))))
    return bytes(header) + b"".join(s.ljust(size, b"\x00") for s in sectors)


def _fat(size: int, chain: dict[int, int], fill: int = _FREE) -> bytes:
    entries = [fill] * (size // 4)
    for index, following in chain.items():
        entries[index] = following
    return struct.pack(f"<{size // 4}I", *entries)


def _directory(size: int, names: list[str]) -> bytes:
    data = bytearray(size)
    for i, name in enumerate(names[:size // 128]):
        encoded = name.encode("utf-16-le")[:62] + b"\x00\x00"
        data[128 * i:128 * i + len(encoded)] = encoded
        struct.pack_into("<HB", data, 128 * i + 64, len(encoded), 5 if i == 0 else 2)
    return bytes(data)


def _huge_fat_claim(megabytes: float) -> bytes:
    """A header that claims 2**32 - 1 FAT sectors and a DIFAT chain through every sector, each
    DIFAT entry naming sector 0 as a FAT sector: read eagerly, the FAT grows to 127 × 128
    entries per 512 bytes of file (33 million for 1 MB)."""
    count = int(megabytes * 2048) - 1
    last = count - 1
    difat = [struct.pack("<128I", *([0] * 127), i + 1 if i < last else _END) for i in range(1, count)]
    return _compound([_fat(512, {}, fill=0x7FFFFFFF), *difat], fat_count=0xFFFFFFFF, first_dir=0,
                     header_difat=[0] * 109, first_difat=1, difat_count=0xFFFFFFFF)


def _looping_directory() -> bytes:
    """Directory sectors 1 → 2 → 1 → …"""
    names = ["Root Entry", "WordDocument", "1Table"]
    return _compound([_fat(512, {0: 0xFFFFFFFD, 1: 2, 2: 1}), _directory(512, names), _directory(512, names)])


def _long_directory(megabytes: float) -> bytes:
    """A directory of 4096-byte sectors chained through the whole file (32 entries each, all
    different names): far more entries than any Office document has."""
    count = int(megabytes * 256) - 1
    chain = {0: 0xFFFFFFFD, **{i: i + 1 for i in range(1, count - 1)}, count - 1: _END}
    sectors = [_directory(4096, ["Root Entry" if i == 1 and j == 0 else f"WordDocument{i}.{j}" if j else
                                 "WordDocument" for j in range(32)]) for i in range(1, count)]
    return _compound([_fat(4096, chain), *sectors], shift=12)


def _chain_out_of_the_fat() -> bytes:
    """The directory's next sector is a number the one FAT sector cannot hold."""
    return _compound([_fat(512, {0: 0xFFFFFFFD, 1: 5000}), _directory(512, ["Root Entry", "WordDocument"])])


HOSTILE = {
    "a 1 MB header that claims 2**32 FAT sectors": _huge_fat_claim(1),
    "a 3.3 MB header that claims 2**32 FAT sectors": _huge_fat_claim(3.3),
    "a directory chain that loops": _looping_directory(),
    "a 3.3 MB directory chain": _long_directory(3.3),
    "a chain that leaves the FAT": _chain_out_of_the_fat(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_crafted_compound_file_is_refused_quickly_and_in_little_memory(case: str) -> None:
    content = HOSTILE[case]
    started = time.perf_counter()
    assert doctypes.detect(content) is None
    assert time.perf_counter() - started < 1.0
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as refused:
            check_upload("sitzung.doc", content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"{peak / 2**20:.0f} MB"
    assert str(refused.value) == f"Anlagen: Die Datei „sitzung.doc“ {DAMAGED}"


def test_a_large_compound_file_is_read_through_its_difat() -> None:
    """7 MB of 512-byte sectors: the directory sits past what the header's 109 FAT sectors
    cover, so its FAT sector is found through a DIFAT sector; the FAT sectors are 4096 bytes
    apart and the directory runs over two sectors that are not neighbours."""
    count = 14_100
    directory = (13_990, 13_000)
    fat_sectors = list(range(1, 112))  # 111 FAT sectors × 128 entries cover 14 208 sectors
    sectors: dict[int, bytes] = {i: b"" for i in range(count)}
    chain = {directory[0]: directory[1], directory[1]: _END, 0: 0xFFFFFFFC}
    chain.update({i: 0xFFFFFFFD for i in fat_sectors})
    for k, index in enumerate(fat_sectors):
        sectors[index] = struct.pack("<128I", *(chain.get(k * 128 + i, _FREE) for i in range(128)))
    sectors[0] = struct.pack("<128I", *fat_sectors[109:], *([_FREE] * 125), _END)  # the DIFAT
    sectors[directory[0]] = _directory(512, ["Root Entry", "1Table", "\x05SummaryInformation", "CompObj"])
    sectors[directory[1]] = _directory(512, ["Data", "WordDocument"])
    content = _compound([sectors[i] for i in range(count)], fat_count=len(fat_sectors), first_dir=directory[0],
                        header_difat=fat_sectors[:109], first_difat=0, difat_count=1)
    assert doctypes.ole_stream_names(content) == {
        "Root Entry", "1Table", "\x05SummaryInformation", "CompObj", "Data", "WordDocument"}
    assert doctypes.detect(content) == doctypes.DOC
    assert check_upload("protokoll.doc", content).doc_type == doctypes.DOC


def test_a_directory_of_4096_byte_sectors_is_read() -> None:
    sheets = ["Root Entry", "Workbook", "\x05DocumentSummaryInformation"] + [f"MBD{i:08X}" for i in range(40)]
    chain = {0: 0xFFFFFFFD, 1: 3, 3: 2, 2: _END}
    content = _compound([_fat(4096, chain), _directory(4096, sheets[:32]), _directory(4096, []),
                         _directory(4096, sheets[32:])], shift=12)
    assert doctypes.ole_stream_names(content) == set(sheets)
    assert doctypes.detect(content) == doctypes.XLS


def test_a_crafted_doc_upload_answers_422_with_the_reason(demo, database, browser, app) -> None:  # type: ignore[no-untyped-def]
    store: FileStore = app.extensions["ratsflow.files"]
    # 400 KB: the test client spools a larger body to a temporary file it leaves open.
    content = _huge_fat_claim(0.4)
    clerk = browser().login("zierstedt")
    response = _upload(clerk, _ids(database), [(content, "sitzung.doc", "application/msword")])
    assert response.status_code == 422
    message = re.search(r'id="anlagen-error">([^<]*)<', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert message == f"Anlagen: Die Datei „sitzung.doc“ {DAMAGED}"
    assert _stored(database) == []
    assert not store.exists(hashlib.sha512(content).hexdigest()) and not _leftovers(store)
