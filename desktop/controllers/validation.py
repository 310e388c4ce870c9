"""Turning what a person typed into clean values, or a clear ``InvalidInput``.

Names are NFC-normalized and trimmed at the edges only; everything else about
them (case, accents, apostrophes, scripts) is kept exactly as typed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from desktop.controllers.errors import InvalidInput
from desktop.domain.search import phone_digits

NAME_MAX = 100
EMAIL_MAX = 254
PHONE_MAX = 40
TEXT_MAX = 10_000
EARLIEST_BIRTH = dt.date(1900, 1, 1)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_CHARS = re.compile(r"^[\d\s().+\-/]+$")

LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "date_of_birth": "Date of birth",
    "email": "Email",
    "phone": "Phone",
    "address": "Address",
    "notes": "Notes",
    "inactive_note": "Note",
    "display_name": "Name",
    "relationship": "Relationship",
    "diagnosis_codes": "Diagnosis codes",
}
# An ICD-10-CM code: a letter, two characters (digits, or a letter third as in "C4A"), and
# up to four more after a dot. U is reserved for special purposes and not used here.
ICD10 = re.compile(r"[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")
MAX_DIAGNOSIS_CODES = 12


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Co") for ch in text)


_JOINERS = "\u200c\u200d"  # ZWNJ and ZWJ: Persian and Indic spellings need them between letters


def _in_word(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"  # a letter, or a mark on one (a virama)


def invisible(text: str) -> str | None:
    """The first character of ``text`` a reader cannot see and should not have to type, named.

    Format characters (bidi controls, zero-width spaces, word joiners, BOM) are
    refused; ZWNJ and ZWJ only where they do not sit between two letters.
    """
    for i, ch in enumerate(text):
        if unicodedata.category(ch) != "Cf":
            continue
        if ch in _JOINERS and 0 < i < len(text) - 1 and _in_word(text[i - 1]) and _in_word(text[i + 1]):
            continue
        return f"U+{ord(ch):04X} {unicodedata.name(ch, 'format character').lower()}"
    return None


def name(value: Any, field: str, *, required: bool = True) -> str | None:
    label = LABELS.get(field, field)
    if value is None:
        if required:
            raise InvalidInput(f"{label} is required.", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text.", field=field)
    cleaned = unicodedata.normalize("NFC", value).strip()
    if not cleaned:
        if required:
            raise InvalidInput(f"{label} is required.", field=field)
        return None
    if len(cleaned) > NAME_MAX:
        raise InvalidInput(f"{label} is too long ({len(cleaned)} characters; at most {NAME_MAX}).",
                           field=field)
    if _has_control(cleaned):
        raise InvalidInput(f"{label} contains a control character.", field=field)
    hidden = invisible(cleaned)
    if hidden:
        raise InvalidInput(f"{label} contains an invisible character ({hidden}); type the name "
                           "without it.", field=field)
    return cleaned


def date_of_birth(value: Any, *, today: dt.date | None = None) -> dt.date | None:
    field = "date_of_birth"
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                f"Date of birth {value!r} is not a date; use YYYY-MM-DD, e.g. 1984-03-09.",
                field=field,
            ) from None
    if not isinstance(value, dt.date):
        raise InvalidInput("Date of birth must be a date.", field=field)
    today = today or dt.date.today()
    if value > today:
        raise InvalidInput("Date of birth cannot be in the future.", field=field)
    if value < EARLIEST_BIRTH:
        raise InvalidInput("Date of birth is before 1900; please check the year.", field=field)
    return value


def email(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput("Email must be text.", field="email")
    cleaned = unicodedata.normalize("NFC", value).strip()
    if len(cleaned) > EMAIL_MAX or not _EMAIL.match(cleaned) or _has_control(cleaned):
        raise InvalidInput(f"{cleaned[:60]!r} is not an email address.", field="email")
    return cleaned


def phone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput("Phone must be text.", field="phone")
    cleaned = value.strip()
    digits = phone_digits(cleaned)
    if len(cleaned) > PHONE_MAX or not _PHONE_CHARS.match(cleaned) or not 7 <= len(digits) <= 15:
        raise InvalidInput(
            f"{cleaned[:60]!r} is not a phone number (7 to 15 digits; spaces, dashes, "
            "brackets and + are fine).",
            field="phone",
        )
    return cleaned


def free_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{LABELS.get(field, field)} must be text.", field=field)
    cleaned = unicodedata.normalize("NFC", value).strip()
    if len(cleaned) > TEXT_MAX:
        raise InvalidInput(f"{LABELS.get(field, field)} is too long (at most {TEXT_MAX} characters).",
                           field=field)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in cleaned):
        raise InvalidInput(f"{LABELS.get(field, field)} contains a control character.", field=field)
    return cleaned or None


def diagnosis_codes(value: Any) -> str | None:
    """ICD-10 codes separated by commas or spaces, cleaned to "F41.1, F32.0"; None if empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("Diagnosis codes must be text.", field="diagnosis_codes")
    codes = [c for c in re.split(r"[,;\s]+", value.strip().upper()) if c]
    if len(codes) > MAX_DIAGNOSIS_CODES:
        raise InvalidInput(f"Give at most {MAX_DIAGNOSIS_CODES} diagnosis codes.", field="diagnosis_codes")
    for code in codes:
        if not ICD10.fullmatch(code):
            shown = printable(code[:20])
            raise InvalidInput(f"{shown!r} is not an ICD-10 code; codes look like F41.1 or F32.0, "
                               "separated by commas.", field="diagnosis_codes")
    unique = list(dict.fromkeys(codes))
    return ", ".join(unique) or None


def field(key: str, value: Any) -> Any:
    """The cleaned value of one profile field, by its name; the one dispatch every form and
    controller uses (first and last names are required, a preferred name is not)."""
    if key in ("first_name", "last_name", "relationship", "display_name"):
        return name(value, key)
    if key == "preferred_name":
        return name(value, key, required=False)
    if key == "date_of_birth":
        return date_of_birth(value)
    if key == "email":
        return email(value)
    if key == "phone":
        return phone(value)
    if key == "diagnosis_codes":
        return diagnosis_codes(value)
    return free_text(value, key)


def printable(text: str) -> str:
    """``text`` safe to show on one line: control, format and separator characters escaped.

    Every message that may carry what someone typed goes through this before a
    terminal shows it, so escape sequences, bidi overrides, NULs, lone
    surrogates (bytes that were not UTF-8) and line breaks are seen, not obeyed.
    """
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in "\u200c\u200d":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def has_undecodable(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (Python keeps them as lone surrogates)."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)
