"""How a person is found by typing: one case-folded key per row, matched by tokens.

The same two functions feed the SQL filter (``LIKE`` on the stored key) and the
in-memory list filter, so the command line and the window always agree on what
"matches" means.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata

_NON_DIGIT = re.compile(r"\D")
_PHONEISH = re.compile(r"^[\d\s().+\-/]+$")
# Partial dates as the key spells them: 1984-03-09 and 03/09/1984. Anything else
# made of digits and dashes ("555-12", a phone half typed) is searched as digits.
_DATEISH = re.compile(r"\d{4}-\d{1,2}(-\d{0,2})?|\d{1,2}/\d{1,2}(/\d{0,4})?")
# Letters with a stroke or ligature that Unicode does not decompose, but that
# people type without: Søren, Łukasz, Đorđe, Guðrún, Ærø.
_PLAIN_LETTERS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ŧ": "t",
                                "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"})


def _unmarked(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'José' and 'JOSE' both become 'jose'.

    Folding twice changes nothing more (compatibility forms such as 'ℌ' or '㎁'
    decompose to capitals, so case is folded again after decomposing); SQLite's
    LIKE would otherwise match those where PostgreSQL's does not.
    Names repeat a great deal across a practice, so results are cached.
    """
    return _unmarked(_unmarked(text.casefold()).casefold()).translate(_PLAIN_LETTERS)


def _family_name_first(text: str) -> bool:
    """Whether a name is written in a script whose names put the family name first (CJK)."""
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))
    return False


def display_name(first_name: str, last_name: str) -> str:
    """A person's name as a reader of it expects: "Ada Lovelace", but "李小龍" for 李 (family) 小龍.

    Names written in Chinese, Japanese or Korean script show the family name
    first; Chinese and Japanese without a space, Korean with one.
    """
    if last_name.isascii() or not _family_name_first(last_name):  # (most names: no lookup per letter)
        return f"{first_name} {last_name}"
    if _family_name_first(first_name):
        korean = unicodedata.name(next(ch for ch in last_name if ch.isalpha()), "").startswith("HANGUL")
        return f"{last_name} {first_name}" if korean else f"{last_name}{first_name}"
    return f"{first_name} {last_name}"


def name_sort_key(last_name: str, first_name: str) -> str:
    """Where a person sorts in every list, the window's and the command line's alike.

    By family name, then given name, the way a reader of the name expects: case,
    accents and particles written in lower case do not move a name away from
    its letter (Çelik with C, Øster with O, Łukasz with L, van Gogh with V).
    Names equal in that form are ordered by their case-folded spelling, so the
    order never depends on which was read first.
    """
    return f"{fold(last_name)}\x00{fold(first_name)}\x01{last_name.casefold()}\x00{first_name.casefold()}"


def phone_digits(phone: str | None) -> str:
    return _NON_DIGIT.sub("", phone or "")


def email_key(email: str | None) -> str | None:
    """An email as the duplicate checks compare it: trimmed and case-folded (None if empty)."""
    key = (email or "").strip().casefold()
    return key or None


def phone_key(phone: str | None) -> str | None:
    """A phone as the duplicate checks compare it: its last ten digits, if it has seven or more."""
    digits = phone_digits(phone)
    return digits[-10:] if len(digits) >= 7 else None


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
    # A word such as "12345-1" is searched as its digits (see query_tokens).
    for word in key.split():
        if _is_phone_word(word):
            key += " " + phone_digits(word)
    digits = phone_digits(fold(phone or ""))
    if digits:
        key += " " + digits
    if date_of_birth is not None:
        key += " " + date_of_birth.isoformat() + " " + date_of_birth.strftime("%m/%d/%Y")
    return key


def query_tokens(query: str) -> list[str]:
    """Split what was typed into tokens that must all occur in the key.

    A token that looks like a phone number ("(555) 123-45") is reduced to its
    digits, so punctuation typed differently from how it was stored still matches.
    Characters no key can hold (control characters, lone surrogates) are dropped:
    PostgreSQL refuses NUL in a query and neither driver can encode a surrogate.
    """
    storable = "".join(ch for ch in query if unicodedata.category(ch) not in ("Cc", "Cs")
                       or ch.isspace())
    tokens: list[str] = []
    for word in fold(storable).split():
        tokens.append(phone_digits(word) if _is_phone_word(word) else word)
    return tokens


def _is_phone_word(word: str) -> bool:
    return (any(ch.isdigit() for ch in word) and bool(_PHONEISH.match(word))
            and not _DATEISH.fullmatch(word))


def matches(key: str, tokens: list[str]) -> bool:
    return all(t in key for t in tokens)


def like_pattern(token: str) -> str:
    """``%token%`` for SQL ``LIKE ... ESCAPE '\\'``, with the wildcards in the token escaped."""
    escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
