"""Content-addressed storage of Anlagen in the instance folder (by SHA-512)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha512: str) -> Path:
        if len(sha512) != 128 or any(c not in "0123456789abcdef" for c in sha512):
            raise ValueError("not a SHA-512 hex digest")
        return self.root / sha512[:2] / sha512

    def put(self, content: bytes) -> str:
        """Store ``content`` once; return its SHA-512. Safe to call twice with the same bytes."""
        digest = hashlib.sha512(content).hexdigest()
        target = self.path_for(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, target)
        return digest

    def exists(self, sha512: str) -> bool:
        return self.path_for(sha512).is_file()
