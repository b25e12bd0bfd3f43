"""Writing and reading record files: atomic writes, one validation error for every way a file
can be wrong. Every record kind (:mod:`.run`, :mod:`.ceiling`) and every reference file the
cost model writes goes through :func:`write_atomically`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..errors import RecordError

# Read once at import (os.umask can only be read by setting it, which races with threads).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomically(path: Path | str, text: str) -> Path:
    """Write a file so that a crash mid-write never leaves a half file behind.

    The text goes to a temporary file in the same folder, which then replaces ``path`` in one
    step: readers see the previous file or the new one, never a truncated one. The file gets
    the permissions of any new file (0666 less the umask), not mkstemp's owner-only 0600, so
    a shared results folder stays readable by the group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_record(record: BaseModel, path: Path) -> Path:
    """Write a record atomically (:func:`write_atomically`)."""
    return write_atomically(path, record.model_dump_json(indent=1))


def read_record(path: Path, kind: type[BaseModel], version: int, what: str):
    """Read and validate one record of a kind, with one error for every way it can be wrong."""
    try:
        record = kind.model_validate(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as err:
        raise RecordError(f"{path}: not a valid {what} ({err.__class__.__name__}: "
                          f"{str(err).splitlines()[0]})") from None
    if record.schema_version != version:
        raise RecordError(f"{path}: {what} schema {record.schema_version}, "
                          f"this code reads {version}")
    return record
