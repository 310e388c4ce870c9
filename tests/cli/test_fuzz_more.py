"""The rest of the command line's refusals under hypothesis (test_fuzz.py has the first and
says why they are in two files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_fuzz import (  # noqa: F401  (cheap_stand_in and practice_file: its fixtures, here too)
    COMMANDS,
    FIRST_COMMANDS,
    cheap_stand_in,
    fuzz_refusals,
    practice_file,
)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in FIRST_COMMANDS])
def test_bad_input_is_one_line_non_zero_and_changes_nothing(practice_file: Path, command: str,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz_refusals(practice_file, command, monkeypatch)
