"""The key file beside an encrypted practice: one database key, wrapped once per user.

An encrypted practice file (SQLCipher 4) is opened with a random 256-bit key.
That key is never stored as it is. The key file, named after the database
(``caseload.db`` → ``caseload.keys``), holds it wrapped in *slots*: AES-256-GCM
under a key derived with Argon2id from one user's password, or from the
practice's recovery key. Anyone holding the key file learns nothing without a
password or the recovery key; anyone holding the database learns nothing
without the key file (docs/rules.md, "Privacy at rest").

The file is JSON, written atomically (a temporary file, flushed, renamed over
the old one), readable by its owner only::

    {"caseload_keys": 1, "practice": "<hex>", "database_salt": "<hex>", "state": "ready",
     "slots": [{"kind": "user", "id": "<hex>", "kdf": {...}, "rehash": false,
                "nonce": "<b64>", "wrapped": "<b64>"}, ...]}

* ``practice`` is a random id; with the slot's kind and id it is the slot's
  associated data, so a slot cannot be moved to another user or practice.
* ``database_salt`` is the first 16 bytes of the database file (SQLCipher's
  salt): a key file that belongs to another practice file is recognised
  before anything is decrypted with it.
* A user's slot ``id`` is a hash of the username, keyed by the practice id, so
  the file shows no username in plain text (a guessed one can still be tested).
* ``kdf`` records the Argon2id parameters and salt the slot was made with. A
  slot made from a stored password hash (``rehash``: a user added, a password
  reset, a plain file encrypted) is made again with fresh parameters and salt
  when its user next signs in.
* ``state`` is "new" only between creating a practice and creating its
  Account Owner.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from desktop.storage.errors import KeyFileDamaged, KeyFileForeign, KeyFileMissing

FORMAT = 1
KEY_BYTES = 32
SALT_BYTES = 16
MAX_FILE_BYTES = 1 << 20  # a key file of a thousand users is 400 KB
MAX_SLOTS = 2000
SUFFIX = ".keys"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id's cost: passes, memory in KiB, lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int


# A user's password: about 0.4 s on this project's 2-core machine of 2026, about half a second when busy,
# and 128 MiB (benchmarks/startup.py prints it). Slow enough to make guessing from a stolen
# key file expensive, quick enough to go unnoticed at sign-in.
USER_KDF = KdfParams(time_cost=7, memory_kib=128 * 1024, parallelism=4)
# The recovery key has 200 random bits: nothing to guess, so a small cost is enough.
RECOVERY_KDF = KdfParams(time_cost=2, memory_kib=16 * 1024, parallelism=1)
# Parameters a slot may record: anything outside is a damaged or hostile file, refused before
# Argon2 is asked to spend it.
_LIMITS = {"time_cost": (1, 16), "memory_kib": (8, 1024 * 1024), "parallelism": (1, 16)}

RECOVERY_GROUPS, RECOVERY_GROUP_LEN = 8, 5
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def key_file_path(database: Path) -> Path:
    """Where the key file of ``database`` lives: beside it, with its name (``x.db`` → ``x.keys``)."""
    return database.with_name(database.stem + SUFFIX) if database.suffix else database.with_name(
        database.name + SUFFIX)


def new_database_key() -> bytearray:
    return bytearray(secrets.token_bytes(KEY_BYTES))


def derive(secret: str | bytes, salt: bytes, params: KdfParams) -> bytes:
    data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
    return hash_secret_raw(data, salt, params.time_cost, params.memory_kib, params.parallelism,
                           KEY_BYTES, Type.ID)


_USER_KDF_SECONDS: list[float] = []  # what one derivation with USER_KDF took here, once measured


def spend_like_a_password(password: str) -> None:
    """Spend what unwrapping a user's slot costs, for nothing (an unknown username)."""
    started = time.perf_counter()
    derive(password or "", secrets.token_bytes(SALT_BYTES), USER_KDF)
    if not _USER_KDF_SECONDS:
        _USER_KDF_SECONDS.append(time.perf_counter() - started)


def _as_long_as_a_password(started: float, params: KdfParams) -> None:
    """After a slot cheaper than a full one refused a password: take as long as a full one would
    have, so the time taken does not tell which usernames have such a slot. The full cost is the
    one measured here, else estimated from this slot's (Argon2's work grows with passes × memory)."""
    spent = time.perf_counter() - started
    if _USER_KDF_SECONDS:
        full = _USER_KDF_SECONDS[0]
    else:
        full = spent * (USER_KDF.time_cost * USER_KDF.memory_kib) / (params.time_cost * params.memory_kib)
    if full > spent:
        time.sleep(full - spent)


# ------------------------------------------------------------------ recovery keys

def new_recovery_key() -> str:
    """Eight groups of five base32 characters (200 random bits), e.g. ``K7Q2M-…``."""
    raw = base64.b32encode(secrets.token_bytes(25)).decode("ascii")
    return "-".join(raw[i:i + RECOVERY_GROUP_LEN] for i in range(0, len(raw), RECOVERY_GROUP_LEN))


def normalize_recovery_key(text: str) -> str | None:
    """A recovery key as typed (any case, spaces or dashes, 0/1/8 for O/I/B), or None if it is not one."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    squeezed = _squeeze(text)
    if len(squeezed) != RECOVERY_GROUPS * RECOVERY_GROUP_LEN or any(c not in _BASE32 for c in squeezed):
        return None
    return "-".join(squeezed[i:i + RECOVERY_GROUP_LEN] for i in range(0, len(squeezed), RECOVERY_GROUP_LEN))


def _squeeze(text: str) -> str:
    """A key as typed, compared as printed: no spaces or dashes, any case, 0/1/8 for O/I/B."""
    return re.sub(r"[\s\-‐-―]", "", text).upper().translate(str.maketrans("018", "OIB"))


def last_group(recovery_key: str) -> str:
    return recovery_key.rsplit("-", 1)[-1]


def last_group_matches(typed: str, recovery_key: str) -> bool:
    """Whether ``typed`` is the last group of ``recovery_key``, read as ``normalize_recovery_key`` reads."""
    return isinstance(typed, str) and len(typed) <= 40 and _squeeze(typed) == last_group(recovery_key)


# ------------------------------------------------------------------ the file

@dataclass
class Slot:
    kind: str  # "user" or "recovery"
    id: str
    salt: bytes
    params: KdfParams
    nonce: bytes
    wrapped: bytes
    rehash: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "rehash": self.rehash,
                "kdf": {"name": "argon2id", "version": 19, "time_cost": self.params.time_cost,
                        "memory_kib": self.params.memory_kib, "parallelism": self.params.parallelism,
                        "salt": _b64(self.salt)},
                "nonce": _b64(self.nonce), "wrapped": _b64(self.wrapped)}


@dataclass
class KeyFile:
    """The parsed key file of one practice."""

    practice: str
    database_salt: str  # hex; "" until the database file exists
    state: str = "ready"
    slots: list[Slot] = field(default_factory=list)

    @classmethod
    def new(cls) -> KeyFile:
        return cls(practice=secrets.token_hex(16), database_salt="", state="new")

    # ------------------------------------------------------------- slots

    def user_id(self, username: str) -> str:
        """The slot id of ``username``: a hash keyed by the practice id, not the name itself."""
        # Exactly as the database spells it (usernames differing in case are different users).
        name = (username or "").strip()
        return hmac.new(bytes.fromhex(self.practice), name.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()

    def slot(self, kind: str, slot_id: str) -> Slot | None:
        return next((s for s in self.slots if s.kind == kind and s.id == slot_id), None)

    def user_slot(self, username: str) -> Slot | None:
        return self.slot("user", self.user_id(username))

    def _aad(self, kind: str, slot_id: str) -> bytes:
        return f"caseload-keys:{FORMAT}:{self.practice}:{kind}:{slot_id}".encode("ascii")

    def put(self, kind: str, slot_id: str, key: bytes | bytearray, wrapping_key: bytes, salt: bytes,
            params: KdfParams, *, rehash: bool = False) -> None:
        """Add or replace the slot ``(kind, slot_id)`` holding ``key`` under ``wrapping_key``."""
        nonce = secrets.token_bytes(12)
        wrapped = AESGCM(wrapping_key).encrypt(nonce, bytes(key), self._aad(kind, slot_id))
        self.remove(kind, slot_id)
        self.slots.append(Slot(kind, slot_id, salt, params, nonce, wrapped, rehash))

    def put_user(self, username: str, key: bytes | bytearray, password: str) -> None:
        """A fresh slot for ``username`` under their password, with this version's parameters."""
        salt = secrets.token_bytes(SALT_BYTES)
        self.put("user", self.user_id(username), key, derive(password, salt, USER_KDF), salt, USER_KDF)

    def put_user_from_hash(self, username: str, key: bytes | bytearray, password_hash: str) -> bool:
        """A slot for ``username`` made from their stored Argon2id hash (their password is not
        known here); remade with fresh parameters when they next sign in. False if the hash is
        not one this can use."""
        parsed = parse_argon2_hash(password_hash)
        if parsed is None:
            return False
        salt, params, raw = parsed
        self.put("user", self.user_id(username), key, raw, salt, params, rehash=True)
        return True

    def put_recovery(self, key: bytes | bytearray, recovery_key: str) -> None:
        salt = secrets.token_bytes(SALT_BYTES)
        self.put("recovery", "recovery", key, derive(recovery_key, salt, RECOVERY_KDF), salt, RECOVERY_KDF)

    def remove(self, kind: str, slot_id: str) -> bool:
        before = len(self.slots)
        self.slots = [s for s in self.slots if not (s.kind == kind and s.id == slot_id)]
        return len(self.slots) != before

    def remove_user(self, username: str) -> bool:
        return self.remove("user", self.user_id(username))

    def unwrap(self, slot: Slot, secret: str) -> bytearray | None:
        """The database key if ``secret`` opens ``slot``, else None (always at the slot's cost)."""
        wrapping_key = derive(secret, slot.salt, slot.params)
        try:
            return bytearray(AESGCM(wrapping_key).decrypt(slot.nonce, slot.wrapped, self._aad(slot.kind, slot.id)))
        except InvalidTag:
            return None

    def unwrap_user(self, username: str, password: str) -> tuple[bytearray | None, Slot | None]:
        """The key if ``password`` is ``username``'s, with their slot; costs the same whoever is named."""
        slot = self.user_slot(username)
        if slot is None:
            spend_like_a_password(password)
            return None, None
        started = time.perf_counter()
        key = self.unwrap(slot, password)
        if key is None and slot.params != USER_KDF:
            _as_long_as_a_password(started, slot.params)
        return key, slot

    def unwrap_recovery(self, recovery_key: str) -> bytearray | None:
        slot = self.slot("recovery", "recovery")
        return None if slot is None else self.unwrap(slot, recovery_key)

    @property
    def has_recovery(self) -> bool:
        return self.slot("recovery", "recovery") is not None

    @property
    def user_slots(self) -> int:
        return sum(1 for s in self.slots if s.kind == "user")

    # ------------------------------------------------------------- reading and writing

    def as_json(self) -> dict[str, Any]:
        return {"caseload_keys": FORMAT, "practice": self.practice, "database_salt": self.database_salt,
                "state": self.state, "slots": [s.as_json() for s in self.slots]}

    def write(self, path: Path) -> None:
        """Replace the key file at ``path`` atomically (owner-only); the old one stays if this fails."""
        write_atomically(path, json.dumps(self.as_json(), indent=1).encode("ascii"))

    @classmethod
    def read(cls, path: Path, *, database: Path | None = None) -> KeyFile:
        """The key file at ``path``; ``KeyFileMissing``/``KeyFileDamaged``/``KeyFileForeign`` with
        a sentence otherwise. ``database``: check that the key file belongs to that file."""
        shown = database if database is not None else path
        try:
            with path.open("rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeyFileMissing(
                f"The practice file {shown} is encrypted and its key file {path.name} is not beside it. "
                f"Put the key file {path.name} back in {path.parent} (it is in the same backup as the "
                "practice file); nothing was changed.") from None
        except OSError as exc:
            raise KeyFileDamaged(f"Caseload cannot read the key file {path}: {exc.strerror or exc}.") from None
        damaged = KeyFileDamaged(
            f"The key file {path} is damaged, so the practice file cannot be opened. Restore the key "
            f"file and the practice file together from a backup; nothing was changed.")
        if len(data) > MAX_FILE_BYTES:
            raise damaged
        try:
            found = cls._parse(json.loads(data.decode("utf-8")))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, binascii.Error,
                UnicodeDecodeError):
            raise damaged from None
        if database is not None:
            salt = database_salt(database)
            if found.database_salt and salt is not None and salt != found.database_salt:
                raise KeyFileForeign(
                    f"The key file {path} belongs to another practice file, not to {database}. Use the "
                    "key file that was saved with this practice file; nothing was changed.")
        return found

    @classmethod
    def _parse(cls, raw: Any) -> KeyFile:
        if not isinstance(raw, dict) or raw.get("caseload_keys") != FORMAT:
            raise ValueError("not a key file")
        practice, salt, state = raw["practice"], raw["database_salt"], raw["state"]
        if not (_is_hex(practice, 32) and (salt == "" or _is_hex(salt, 32)) and state in ("new", "ready")):
            raise ValueError("bad header")
        slots = raw["slots"]
        if not isinstance(slots, list) or len(slots) > MAX_SLOTS:
            raise ValueError("bad slots")
        parsed = cls(practice=practice, database_salt=salt, state=state)
        for item in slots:
            kdf = item["kdf"]
            if kdf.get("name") != "argon2id" or kdf.get("version") != 19:
                raise ValueError("unknown kdf")
            values = {}
            for name, (low, high) in _LIMITS.items():
                value = kdf[name]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise ValueError("kdf out of range")
                values[name] = value
            if values["memory_kib"] < 8 * values["parallelism"]:
                raise ValueError("kdf out of range")
            kind, slot_id = item["kind"], item["id"]
            if kind not in ("user", "recovery") or not isinstance(slot_id, str) or not (
                    _is_hex(slot_id, 64) or (kind == "recovery" and slot_id == "recovery")):
                raise ValueError("bad slot id")
            nonce, wrapped = _unb64(item["nonce"]), _unb64(item["wrapped"])
            salt_bytes = _unb64(kdf["salt"])
            if len(nonce) != 12 or len(wrapped) != KEY_BYTES + 16 or not 8 <= len(salt_bytes) <= 64:
                raise ValueError("bad slot sizes")
            parsed.slots.append(Slot(kind, slot_id, salt_bytes, KdfParams(**values), nonce, wrapped,
                                     bool(item.get("rehash", False))))
        return parsed


def database_salt(database: Path) -> str | None:
    """The first 16 bytes of an encrypted database file (its SQLCipher salt), hex; None if unreadable."""
    try:
        with database.open("rb") as f:
            head = f.read(SALT_BYTES)
    except OSError:
        return None
    return head.hex() if len(head) == SALT_BYTES else None


def parse_argon2_hash(encoded: str) -> tuple[bytes, KdfParams, bytes] | None:
    """Salt, parameters and 32-byte output of an ``$argon2id$`` hash (as argon2-cffi stores them)."""
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)",
                         encoded or "")
    if match is None:
        return None
    try:
        salt, raw = _unb64(match.group(4)), _unb64(match.group(5))
    except (ValueError, binascii.Error):
        return None
    if len(raw) != KEY_BYTES:
        return None
    return salt, KdfParams(int(match.group(2)), int(match.group(1)), int(match.group(3))), raw


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and all(c in "0123456789abcdef" for c in value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (owner-only): a temporary file, flushed, renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); Windows has no directory handles to flush."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
