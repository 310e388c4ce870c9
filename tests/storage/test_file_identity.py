"""A practice file deleted or replaced while open takes no more writes, and says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import PracticeMissing
from desktop.storage.database import Database
from tests.helpers import seed_users


def test_a_deleted_practice_file_refuses_writes_and_says_it_was_deleted(sqlite_db: Database) -> None:
    owner = seed_users(sqlite_db)["owner"]
    clients = ClientsController(sqlite_db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    path = Path(sqlite_db.engine.url.database or "")
    for candidate in path.parent.glob(path.name + "*"):
        candidate.unlink()
    assert "was deleted" in (sqlite_db.file_problem() or "")
    with pytest.raises(PracticeMissing, match="was deleted"):
        clients.set_status(owner, ada, "inactive")
    assert not path.exists()  # nothing was written anywhere a person could find it


def test_a_replaced_practice_file_refuses_writes(sqlite_db: Database, tmp_path: Path) -> None:
    owner = seed_users(sqlite_db)["owner"]
    path = Path(sqlite_db.engine.url.database or "")
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    copy.replace(path)  # a restore, or another program, put a different file there
    with pytest.raises(PracticeMissing, match="replaced"):
        ClientsController(sqlite_db).add_client(owner, first_name="Ada", last_name="Lovelace")
