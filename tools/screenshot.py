"""Take the README's screenshot: the real main window over a demo practice, offscreen.

Builds a demo practice in a throw-away SQLite file, signs in as the demo
Account Owner, opens ``MainWindow`` at 1280×800 with the app's own icon and
style sheet, and saves what it draws::

    python tools/screenshot.py [--clients 1000] [--out docs/screenshot-main.png]

Settings go to a temporary file, so the window opens at its default size and
layout, and nothing of the user's own Caseload settings is read or changed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot-main.png")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop.controllers.demo import build_demo_practice
    from desktop.controllers.practice import Practice
    from desktop.controllers.users import UsersController
    from desktop.storage.database import open_database
    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow

    app = make_application()
    with tempfile.TemporaryDirectory(prefix="caseload-screenshot-") as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'demo.db'}", create=True)
        started = time.perf_counter()
        build_demo_practice(db, clients=args.clients, seed=args.seed)
        print(f"demo practice of {args.clients:,} clients built in {time.perf_counter() - started:.1f} s")
        actor = UsersController(db).sign_in("owner", "demo")
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Practice(db), actor, settings)
        window.resize(args.width, args.height)
        window.show()
        window.load(background=False)
        for _ in range(5):  # let layouts, the first paint and the status bar settle
            QApplication.processEvents()
            time.sleep(0.05)
        image = window.grab()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(args.out)):
            print(f"could not write {args.out}", file=sys.stderr)
            return 1
        print(f"wrote {args.out} ({image.width()}×{image.height()})")
        window.close()
        db.dispose()
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
