"""How a person is found by typing: one case-folded key per row, matched by tokens.

The same two functions feed the SQL filter (``LIKE`` on the stored key) and the
in-memory list filter, so the command line and the window always agree on what
"matches" means.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_NON_DIGIT = re.compile(r"\D")
_PHONEISH = re.compile(r"^[\d\s().+\-/]+$")


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'José' and 'JOSE' both become 'jose'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def phone_digits(phone: str | None) -> str:
    return _NON_DIGIT.sub("", phone or "")


def make_search_key(
    first_name: str,
    last_name: str,
    preferred_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    date_of_birth: dt.date | None = None,
) -> str:
    parts = [first_name, last_name, preferred_name or "", email or ""]
    key = " ".join(fold(p) for p in parts if p)
    digits = phone_digits(phone)
    if digits:
        key += " " + digits
    if date_of_birth is not None:
        key += " " + date_of_birth.isoformat() + " " + date_of_birth.strftime("%m/%d/%Y")
    return key


def query_tokens(query: str) -> list[str]:
    """Split what was typed into tokens that must all occur in the key.

    A token that looks like a phone number ("(555) 123-45") is reduced to its
    digits, so punctuation typed differently from how it was stored still matches.
    """
    tokens: list[str] = []
    for raw in query.split():
        if any(ch.isdigit() for ch in raw) and _PHONEISH.match(raw) and not _looks_like_date(raw):
            digits = phone_digits(raw)
            if digits:
                tokens.append(digits)
            continue
        token = fold(raw)
        if token:
            tokens.append(token)
    return tokens


def _looks_like_date(raw: str) -> bool:
    return bool(re.fullmatch(r"\d{1,4}[-/]\d{1,2}([-/]\d{1,4})?", raw))


def matches(key: str, tokens: list[str]) -> bool:
    return all(t in key for t in tokens)
