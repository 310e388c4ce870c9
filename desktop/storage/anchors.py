"""Audit chain anchors kept outside the database, in the user's data folder.

An anchor is the chain head (entry number and hash) at a moment. Whoever can
rewrite the database can cut the log back and rebuild a valid chain from there;
a copy of the head kept where they cannot reach reveals it. The window records
one when it closes and once an hour; ``caseload audit anchor`` prints one to
keep elsewhere (docs/rules.md, "Audit").

One small JSON file per practice location (the file's path or the server's
address), written whole and atomically under a lock, owner-only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import platformdirs

from desktop.storage.audit_chain import Anchor
from desktop.storage.keyfile import write_atomically
from desktop.storage.practice_file import held_lock

MAX_BYTES = 4 * 1024 * 1024  # about 30,000 anchors, three years of hourly ones


def anchor_folder() -> Path:
    """Where anchors are kept unless a folder is given: the user's data folder."""
    return Path(os.environ.get("CASELOAD_ANCHOR_DIR") or
                Path(platformdirs.user_data_dir("Caseload", "Caseload")) / "audit-anchors")


class AnchorBook:
    """The anchors this computer's user recorded for one practice location."""

    def __init__(self, location: str, folder: Path | None = None) -> None:
        self.location = location
        self.folder = folder or anchor_folder()
        name = hashlib.sha256(location.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        self.path = self.folder / f"{name}.json"

    def anchors(self) -> list[Anchor]:
        """Every anchor recorded here; none if the file is missing or unreadable."""
        try:
            if self.path.stat().st_size > MAX_BYTES * 2:
                return []
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return []
        found = []
        for item in data.get("anchors", []) if isinstance(data, dict) else []:
            try:
                found.append(Anchor(int(item["seq"]), bytes.fromhex(item["hash"]),
                                    dt.datetime.fromisoformat(item["taken"]), "this computer"))
            except (KeyError, TypeError, ValueError):
                continue
        return [a for a in found if a.seq >= 0 and len(a.hash) == 32]

    def record(self, seq: int, hash_: bytes, taken: dt.datetime) -> None:
        """Add an anchor (not if the newest one already has this entry). Raises ``OSError``."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with held_lock(self.folder / ".lock"):
            anchors = self.anchors()
            if anchors and max(anchors, key=lambda a: a.taken or dt.datetime.min).seq == seq:
                return
            anchors.append(Anchor(seq, hash_, taken))
            items = [{"seq": a.seq, "hash": a.hash.hex(), "taken": (a.taken or taken).isoformat()}
                     for a in anchors]
            while len(items) > 2 and len(json.dumps(items)) > MAX_BYTES:
                del items[1:len(items) // 10 + 1]  # thin the oldest, keeping the very first
            write_atomically(self.path, json.dumps(
                {"location": self.location, "anchors": items}, indent=0).encode())
