"""``caseload --self-test``: prove, without a window, that this installation works.

It creates a temporary database, runs the migrations, creates a client, marks
it inactive, deletes it, and starts Qt offscreen, so a bundle missing a SQL
dialect, a migration file or a Qt plugin fails here rather than on a clinician's desk.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def self_test() -> int:
    from desktop.controllers.clients import ClientsController
    from desktop.controllers.users import UsersController
    from desktop.storage.database import open_database

    steps: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="caseload-selftest-") as tmp:
            db = open_database(f"sqlite:///{Path(tmp) / 'selftest.db'}")
            steps.append("database created and migrated")
            owner = UsersController(db).create_account_owner("selftest", "Self Test", "self-test")
            clients = ClientsController(db)
            cid = clients.add_client(owner, first_name="Zoë", last_name="O'Test")
            steps.append("client created")
            clients.set_status(owner, cid, "inactive", reason="other")
            steps.append("client marked inactive")
            clients.delete_client(owner, cid, "Zoë O'Test")
            if clients.list_clients(owner, "all"):
                raise RuntimeError("the client is still listed after deletion")
            steps.append("client deleted")
            db.dispose()
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication, QLabel

        app = QApplication.instance() or QApplication(sys.argv[:1])
        QLabel("self-test").grab()
        del app
        steps.append("Qt started offscreen")
    except Exception as exc:  # the self-test reports any failure, whatever it is
        for step in steps:
            print(f"ok    {step}")
        print(f"FAIL  {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for step in steps:
        print(f"ok    {step}")
    print("self-test passed")
    return 0
