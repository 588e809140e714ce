"""Content-addressed storage of Anlagen in the instance folder (by SHA-512).

A blob belongs to the unit of work that stored it: :meth:`FileStore.put` writes the bytes
to a temporary file next to their place, the session's commit moves it into place
(``after_commit``), a rollback (or a session closed without commit) deletes it. So a
refused or failed request leaves neither a row nor a blob, and a committed row always
finds its blob. The same bytes stored twice share one blob; a blob already in place is
never touched by a rollback.

:func:`normalise_file_name` makes an uploaded file's name safe to show and to offer for
download: its base name only, no control characters, an extension that fits the content.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from engine.doctypes import ALLOWED_DESCRIPTION, DamagedCompoundFile, DocType, identify

_PENDING = "ratsflow.pending_blobs"
#: Longest file name kept (characters); longer names are shortened before the extension.
MAX_NAME = 200
#: Characters Windows does not allow in a name: replaced, so the download saves as named.
_RESERVED = re.compile(r'[<>:"|?*]')
#: Bidirectional controls: "Rechnung\u202efdp.exe" shows as "Rechnungexe.pdf".
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass
class _Pending:
    temp: Path
    target: Path
    transaction: SessionTransaction | None  # the innermost one it was stored in


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha512: str) -> Path:
        if len(sha512) != 128 or any(c not in "0123456789abcdef" for c in sha512):
            raise ValueError("not a SHA-512 hex digest")
        return self.root / sha512[:2] / sha512

    def put(self, session: Session, content: bytes) -> str:
        """Store ``content`` with the unit of work of ``session``; return its SHA-512.

        The blob is in place once the session commits and gone if it rolls back. Safe to
        call twice with the same bytes (in one unit of work or in several at once)."""
        digest = hashlib.sha512(content).hexdigest()
        target = self.path_for(digest)
        pending: list[_Pending] = session.info.setdefault(_PENDING, [])
        if target.exists() or any(p.target == target for p in pending):
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if session.get_transaction() is None:
            session.begin()  # the blob needs a transaction to end with (commit or rollback)
        transaction = session.get_nested_transaction() or session.get_transaction()
        pending.append(_Pending(Path(tmp), target, transaction))
        return digest

    def exists(self, sha512: str) -> bool:
        return self.path_for(sha512).is_file()


def _pending(session: Session) -> list[_Pending]:
    return session.info.get(_PENDING) or []


@event.listens_for(Session, "after_commit")
def _move_into_place(session: Session) -> None:
    """The rows are durable: their blobs go into place (a savepoint's release waits for the
    unit of work's commit; SQLAlchemy reports both as ``after_commit``)."""
    if session.get_nested_transaction() is not None:
        return
    for p in _pending(session):
        os.replace(p.temp, p.target)
    session.info[_PENDING] = []


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rollback (of the whole unit of work or of a savepoint) drops the blobs stored in it."""
    pending = _pending(session)
    if not pending:
        return
    whole = previous_transaction.parent is None
    keep = []
    for p in pending:
        if whole or _within(p.transaction, previous_transaction):
            p.temp.unlink(missing_ok=True)
        else:
            keep.append(p)
    session.info[_PENDING] = keep


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    """A unit of work closed without commit (``Session.close``) drops its blobs too."""
    if transaction.parent is None and not transaction.nested:
        for p in _pending(session):
            p.temp.unlink(missing_ok=True)
        session.info[_PENDING] = []


# ----------------------------------------------------------------------------- file names

class BadFileName(ValueError):
    """The name cannot be kept (control characters, nothing left of it)."""


def normalise_file_name(raw: str, doc_type: DocType | None = None) -> str:
    """The base name of ``raw`` (any ``/`` or ``\\`` path parts dropped), NFC, without the
    characters Windows refuses, at most :data:`MAX_NAME` characters; with ``doc_type`` its
    extension is one of the type's (``bericht.exe`` with PDF content is ``bericht.exe.pdf``).

    Raises :class:`BadFileName` for control or bidirectional characters or an empty name."""
    name = unicodedata.normalize("NFC", raw)
    if any(unicodedata.category(c) == "Cc" or c in _BIDI for c in name):
        raise BadFileName("Der Dateiname enthält Steuerzeichen.")
    name = re.split(r"[/\\]", name)[-1]
    name = _RESERVED.sub("_", name).strip().strip(".").strip()
    if doc_type is not None and Path(name.lower()).suffix not in doc_type.extensions:
        name = f"{name}{doc_type.extensions[0]}" if name else ""
    if not Path(name).stem.strip(" ."):
        raise BadFileName("Die Datei hat keinen Namen.")
    if len(name) > MAX_NAME:
        suffix = Path(name).suffix if len(Path(name).suffix) <= 10 else ""
        name = name[:MAX_NAME - len(suffix)].rstrip(" .") + suffix
    return name


@dataclass(frozen=True)
class Upload:
    """An accepted upload: its normalised name, the type its bytes are, the bytes."""

    file_name: str
    doc_type: DocType
    content: bytes

    @property
    def name(self) -> str:
        return Path(self.file_name).stem


def check_upload(raw_name: str, content: bytes, field: str = "Anlagen") -> Upload:
    """The upload ``raw_name`` with ``content`` if it may be stored, else :class:`BadUpload`
    with a message that names the form ``field`` and, for a refused type, what is allowed."""
    try:
        shown = normalise_file_name(raw_name)
    except BadFileName as exc:
        raise BadUpload(f"{field}: {exc}") from None
    if not content:
        raise BadUpload(f"{field}: Die Datei „{shown}“ ist leer.")
    try:
        doc_type = identify(content)
    except DamagedCompoundFile as exc:
        raise BadUpload(f"{field}: Die Datei „{shown}“ {exc.message}") from None
    if doc_type is None:
        raise BadUpload(f"{field}: Die Datei „{shown}“ hat keinen erlaubten Typ. "
                        f"Erlaubt sind {ALLOWED_DESCRIPTION}.")
    return Upload(normalise_file_name(raw_name, doc_type), doc_type, content)


class BadUpload(ValueError):
    """An upload that is not stored; the message says why (in German, naming the field)."""

    @property
    def message(self) -> str:
        return str(self.args[0])
