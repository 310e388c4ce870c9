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
        self.problem: str | None = None  # why the last ``anchors()`` could not read them all

    def anchors(self) -> list[Anchor]:
        """Every anchor recorded here. None if there is no file; if there is one that cannot be
        read, none either, and ``problem`` says so (a check must not take that for "none kept")."""
        self.problem = None
        try:
            if self.path.stat().st_size > MAX_BYTES * 2:
                raise ValueError("too large")
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError, RecursionError) as exc:
            self.problem = f"The anchors kept on this computer ({self.path}) could not be read ({exc})."
            return []
        items = data.get("anchors") if isinstance(data, dict) else None
        if not isinstance(items, list):
            self.problem = f"The anchors kept on this computer ({self.path}) are not in the expected form."
            return []
        found = []
        for item in items:
            anchor = _anchor(item)
            if anchor is not None:
                found.append(anchor)
        if len(found) < len(items):
            self.problem = (f"{len(items) - len(found):,} of the anchors kept on this computer ({self.path}) "
                            "could not be read.")
        return found

    def record(self, seq: int, hash_: bytes, taken: dt.datetime, first: bytes | None = None) -> None:
        """Add an anchor (not if the newest one already has this entry). Raises ``OSError``.

        A file that cannot be read is kept beside, renamed, rather than written over."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with held_lock(self.folder / ".lock"):
            anchors = self.anchors()
            if self.problem is not None and self.path.exists():
                os.replace(self.path, self.path.with_name(
                    f"{self.path.stem}.unreadable-{taken:%Y%m%d-%H%M%S}{self.path.suffix}"))
                anchors = []
            newest = max(anchors, key=lambda a: a.taken or dt.datetime.min, default=None)
            if newest is not None and newest.seq == seq and newest.hash == hash_:
                return
            anchors.append(Anchor(seq, hash_, taken, "this computer", first))
            items = [{"seq": a.seq, "hash": a.hash.hex(), "taken": (a.taken or taken).isoformat(),
                      **({"first": a.first.hex()} if a.first else {})} for a in anchors]
            while len(items) > 2 and len(json.dumps(items)) > MAX_BYTES:
                del items[1:len(items) // 10 + 1]  # thin the oldest, keeping the very first
            write_atomically(self.path, json.dumps(
                {"location": self.location, "anchors": items}, indent=0).encode())


def _anchor(item: object) -> Anchor | None:
    """One recorded anchor, or None if it is not one (every field checked, times as naive UTC)."""
    if not isinstance(item, dict):
        return None
    seq, digest, taken, first = item.get("seq"), item.get("hash"), item.get("taken"), item.get("first")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return None
    if not isinstance(digest, str) or not isinstance(taken, str) or not (first is None or isinstance(first, str)):
        return None
    try:
        hash_ = bytes.fromhex(digest)
        first_hash = bytes.fromhex(first) if first else None
        moment = dt.datetime.fromisoformat(taken)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    if len(hash_) != 32 or (first_hash is not None and len(first_hash) != 32):
        return None
    return Anchor(seq, hash_, moment, "this computer", first_hash)
