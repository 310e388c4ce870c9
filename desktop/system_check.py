"""Before Qt starts: does this system have what Qt's window needs? Say what to install if not.

Qt's xcb platform plugin (the X11 window on Linux) loads several system
libraries. Without one of them Qt prints its own line and aborts (exit 134);
a person needs to hear which package to install instead.
"""

from __future__ import annotations

import ctypes
import os
import sys

# The libraries Qt 6's xcb plugin loads, and the Debian/Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
}


def missing_window_packages() -> list[str]:
    """The packages to install before a window can open here (empty if none, or not Linux/X11)."""
    if not sys.platform.startswith("linux") or getattr(sys, "_MEIPASS", None):
        return []  # a bundle carries its own copies
    if os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] != "xcb":
        return []
    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return missing


def window_problem() -> str | None:
    """One sentence saying what to install, or None when the window can open."""
    missing = missing_window_packages()
    if not missing:
        return None
    return ("Caseload cannot open its window: this system lacks " + ", ".join(missing)
            + f". Install {'it' if len(missing) == 1 else 'them'} with: sudo apt install " + " ".join(missing))
