"""``desktop.lazy``: a module imported on first use, from any thread, once."""

from __future__ import annotations

import sys
import threading
import types

from desktop.lazy import lazy_module


def test_a_lazy_module_is_imported_on_first_use_and_then_stands_in_no_more(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    owner = types.ModuleType("lazy_owner")
    monkeypatch.setitem(sys.modules, "lazy_owner", owner)
    owner.cs = lazy_module("colorsys", "lazy_owner", "cs")  # type: ignore[attr-defined]
    assert "colorsys" not in sys.modules  # not imported by being named

    answers: list[tuple[float, float, float]] = []
    threads = [threading.Thread(target=lambda: answers.append(owner.cs.rgb_to_hsv(1.0, 0.0, 0.0)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(0.0, 1.0, 1.0)] * 8
    assert owner.cs is sys.modules["colorsys"]  # the real module, for every later use


def test_a_module_already_imported_is_given_as_it_is() -> None:
    assert lazy_module("json", __name__, "json") is sys.modules.setdefault("json", __import__("json"))
