"""What every window test shares: no background job outlives the test that started it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.ui.operation import wait_for_background_jobs


@pytest.fixture(autouse=True)
def background_jobs_finish(qtbot) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Set up after ``qtbot``, so torn down before it closes the test's windows: a load or
    check still running then finishes and reports to a live window, never to the next test."""
    yield
    from tests.ui.test_profile_and_deletion import WHEN_MODAL_GENERATION

    WHEN_MODAL_GENERATION[0] += 1  # this test's dialog answerers stop here
    assert wait_for_background_jobs(), "a background job did not finish within 10 s"
