"""The rule for every password a person sets (docs/rules.md, "Users and passwords").

At least ``MINIMUM`` characters, and not one of the 1,000 most common passwords
(``common_passwords.txt``: the top of the public "10 million passwords" list),
nor one of them with only digits or symbols around it ("password2024!"), nor
made of only one or two different characters, nor a run along the keyboard's
row of digits (either way) or of letters.
"""

from __future__ import annotations

import functools
from pathlib import Path

from desktop.controllers.errors import InvalidInput

MINIMUM = 10
MAXIMUM = 1024  # argon2 hashes anything; a megabyte pasted by mistake is refused
_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_RUNS = "01234567890123456789", "09876543210987654321", "qwertyuiopasdfghjklzxcvbnm"


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip())


def problem(password: str) -> str | None:
    """Why ``password`` may not be used, in one sentence; None if it may."""
    if not isinstance(password, str) or len(password) < MINIMUM:
        return f"Use at least {MINIMUM} characters."
    if len(password) > MAXIMUM:
        return f"Use at most {MAXIMUM} characters."
    folded = password.casefold()
    core = folded.strip("0123456789!@#$%^&*()-_=+.,;:?/ ")
    common = common_passwords()
    if folded in common or (len(core) >= 4 and core in common):
        return "That is one of the most common passwords; choose one that is harder to guess."
    if len(set(folded)) <= 2:
        return "Use more than one or two different characters."
    if any(folded in run for run in _RUNS):
        return "A run of keys is easy to guess; choose something else."
    return None


def check(password: str, field: str = "password") -> str:
    """``password`` if the rule allows it, else ``InvalidInput`` naming ``field``."""
    why = problem(password)
    if why is not None:
        raise InvalidInput(why, field=field)
    return password
