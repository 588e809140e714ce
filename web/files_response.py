"""Stored Anlagen as HTTP answers: the one place every route serving a File goes through.

A file never runs on our origin. Its type is the allow-listed one (``engine.doctypes``): the
stored ``mime_type`` if it is on the list, else told again from the stored bytes, else
``application/octet-stream``. Only PDF and images are shown in the browser; everything else
is a download. Every answer says ``nosniff`` and carries :data:`FILE_CSP` (no script, no
plugin, no form, a sandbox with an opaque origin, never framed).

Why this policy: Chromium (156, tested in tests/test_file_responses.py) shows a PDF opened
as a page in its viewer whatever the page's CSP (it drops it for the viewer), ``sandbox``
included; images show under ``default-src 'none'``. ``style-src 'unsafe-inline'`` only
keeps the browser's own image page centred and dark; nothing inline is ever ours.

With ``RATSFLOW_FILES_BASE_URL`` set, the Anlagen of public Vorlagen live on that origin:
links point there, a request for one on the app's origin is redirected, and the files
origin answers nothing but file routes. Non-public Anlagen stay on the app's origin (the
login cookie does not go to the other host), with the same headers.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, Response, abort, current_app, redirect, request, send_file, url_for

from engine import doctypes
from engine.council import File
from engine.doctypes import DocType
from engine.files import BadFileName, FileStore, normalise_file_name
from engine.settings import Settings

#: The Content-Security-Policy of every file answer.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
#: The routes that serve stored files (the only ones the files origin answers).
FILE_ENDPOINTS = frozenset({"public.download", "oparl.file_access", "oparl.file_download"})
OCTET_STREAM = "application/octet-stream"


def _settings() -> Settings:
    return current_app.extensions["ratsflow.settings"]  # type: ignore[no-any-return]


def store() -> FileStore:
    return current_app.extensions["ratsflow.files"]  # type: ignore[no-any-return]


def served_type(f: File, path: Path) -> DocType | None:
    """The allow-listed type ``f`` is served as, or None (served as bytes to save).

    A row from before the allow-list, or one an import filled in, may name any type
    (``text/html``): only a listed name is taken; otherwise the bytes decide (if they are
    not larger than an upload may be)."""
    listed = doctypes.BY_MIME_TYPE.get(f.mime_type or "")
    if listed is not None:
        return listed
    try:
        if path.stat().st_size > _settings().max_upload_bytes:
            return None
        return doctypes.detect(path.read_bytes())
    except OSError:
        return None


def content_disposition(disposition: str, name: str) -> str:
    """``attachment``/``inline`` with the name twice (RFC 6266): an ASCII ``filename`` for old
    clients and ``filename*`` in UTF-8 (RFC 5987) that keeps umlauts."""
    ascii_name = "".join(
        c if c.isascii() and (c.isalnum() or c in " ._-()+,") else "_"
        for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_name(f: File, doc_type: DocType | None) -> str:
    try:
        return normalise_file_name(f.file_name or f.name, doc_type)
    except BadFileName:
        return f"Anlage-{f.id}{doc_type.extensions[0] if doc_type else ''}"


def file_response(f: File, *, attachment: bool = False, max_age: int | None = None) -> Response:
    """The answer for the stored content of ``f`` (404 without one). ``attachment`` asks for a
    download even of a PDF or an image (OParl's ``downloadUrl``)."""
    files = store()
    if not f.sha_512_checksum or not files.exists(f.sha_512_checksum):
        abort(404)
    path = files.path_for(f.sha_512_checksum)
    doc_type = served_type(f, path)
    inline = doc_type is not None and doc_type.inline and not attachment
    response = send_file(path, mimetype=doc_type.mime_type if doc_type else OCTET_STREAM,
                         etag=f.sha_512_checksum[:40], conditional=True, max_age=max_age)
    response.headers["Content-Type"] = doc_type.mime_type if doc_type else OCTET_STREAM
    response.headers["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", download_name(f, doc_type))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin" if not _settings().files_base_url \
        else "cross-origin"  # the app's pages (another origin then) link to them
    return response


# ----------------------------------------------------------------------------- the files origin

def _files_host() -> str | None:
    base = _settings().files_base_url
    return urlsplit(base).netloc.lower() if base else None


def on_files_origin() -> bool:
    host = _files_host()
    return host is not None and request.host.lower() == host


def file_url(endpoint: str, public: bool, *, _external: bool = False, **values: Any) -> str:
    """The link to a file route: on the files origin when there is one and everyone may see
    the file (``public``), else on the app's own (a path, or with ``_external=True`` a URL)."""
    base = _settings().files_base_url
    if base and public:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=_external, **values)


def to_files_origin(public: bool) -> Response | None:
    """A redirect of this request to the files origin, if there is one, the request is not
    on it and the file is public; else None (serve it here)."""
    base = _settings().files_base_url
    if not base or not public or on_files_origin():
        return None
    return redirect(base + request.full_path.rstrip("?"), code=302)  # type: ignore[return-value]


def _only_files() -> None:
    """On the files origin only the file routes answer."""
    if on_files_origin() and request.endpoint not in FILE_ENDPOINTS:
        abort(404)


def init_app(app: Flask) -> None:
    app.before_request(_only_files)
    app.add_template_global(file_url)
