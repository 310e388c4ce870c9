"""Writing a client's record to a file the person chose, safely.

The record is health information: the file is readable by its owner only, and
it is written whole or not at all (a temporary file in the same folder, renamed
into place). A target that is a symbolic link is refused rather than followed:
following it would overwrite, and change the mode of, whatever it points at.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from desktop.controllers.errors import FileNotWritten


def write_private(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` (mode 0600), atomically; ``FileNotWritten`` says why not."""
    text = str(path)
    if "\x00" in text:
        raise FileNotWritten("The file name contains a NUL character; nothing was written.")
    target = Path(text).expanduser()
    if target.is_symlink():
        raise FileNotWritten(f"{target} is a symbolic link; choose the file itself. Nothing was written.")
    if target.is_dir():
        raise FileNotWritten(f"{target} is a folder; give a file name in it. Nothing was written.")
    folder = target.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise FileNotWritten(f"Could not write in {folder}: {exc.strerror or exc}. Nothing was written.") \
            from None
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp makes it 0600
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise FileNotWritten(f"Could not write {target}: {exc.strerror or exc}. Nothing was written.") \
            from None
    return target
