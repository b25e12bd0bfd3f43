"""What a build reuses from the last one, and why it may.

Each executed notebook stores, in its metadata, a key hashing everything its output depends on:
the notebook's source, the package's source, the papermill parameters, the profile and the run
records it reads (names and contents). A notebook whose stored key matches is not executed again,
so a warm rebuild only asks Sphinx, which rebuilds incrementally; staging writes a file only when
its content changed (:mod:`tradeoff.book.stage`), so unchanged pages keep their modification times.

The ceilings step is skipped outright when the hash of its inputs (profile, package source, data
version, the ceiling records themselves) matches the one the last build stored in
``<build_dir>/ceilings-key.txt``. The chapters' keys hash every JSON file of the results folder,
ceiling records included, so a changed ceiling re-executes the chapters.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from ..config import Profile, REPO_ROOT
from ..records import CEILINGS_FOLDER

# The package whose source every key hashes: a changed helper or figure re-executes the notebooks.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Committed reference data that chapters read (the cost model's counted rows,
# reference/cost/cost-rows.json): hashed into every chapter's cache key like the run records.
REFERENCE_DIR = REPO_ROOT / "reference"
# Bump when the meaning of a cache key changes, so old executed copies are not trusted.
CACHE_VERSION = 1
CEILINGS_STAMP = "ceilings-key.txt"


def package_digest() -> str:
    """Hash of the package's source: a changed helper or figure re-executes the notebooks."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def notebook_key(notebook: Path, params: dict, profile: Profile, code: str,
                 records: list[Path]) -> str:
    """Everything an executed notebook depends on, hashed."""
    h = hashlib.sha256()
    head = {"version": CACHE_VERSION, "params": params, "profile": profile.model_dump(),
            "code": code, "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest()}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for path in records:
        h.update(b"\0" + path.name.encode() + b"\0")
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()


def stored_meta(path: Path) -> dict:
    """What an executed notebook stored about its execution (key, status); empty if none."""
    try:
        return json.loads(path.read_text())["metadata"].get("tradeoff", {})
    except (OSError, ValueError, KeyError):
        return {}


def chapter_inputs(profile: Profile) -> list[Path]:
    """The files a chapter's cache key hashes: every run record and every ceiling record.

    A changed record of either kind (a cell run again, a ceiling recomputed) re-executes the
    chapters.
    """
    root = profile.results_path
    return sorted(root.rglob("*.json")) if root.exists() else []


def reference_inputs() -> list[Path]:
    """The committed reference data files (``reference/**/*.json``) a chapter may read."""
    return sorted(REFERENCE_DIR.rglob("*.json")) if REFERENCE_DIR.is_dir() else []


def data_fingerprint(profile: Profile) -> dict:
    """What identifies the profile's data without loading it.

    The stand-ins are built from the ``aclsum`` package (its version); SCROLLS zips or folders
    in ``data_dir`` by their names, sizes and modification times; the Hub's by name only.
    """
    if profile.source == "aclsum":
        try:
            return {"aclsum": metadata.version("aclsum")}
        except metadata.PackageNotFoundError:
            return {"aclsum": "not installed"}
    if not profile.data_dir:
        return {"scrolls": "hub"}
    root = Path(profile.data_dir)
    files = sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file())
    return {"scrolls": [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]}


def ceilings_key(profile: Profile, code: str) -> str:
    """The inputs of the ceilings step: profile, package source, data, the ceiling records."""
    h = hashlib.sha256(json.dumps(
        {"version": CACHE_VERSION, "profile": profile.model_dump(), "code": code,
         "data": data_fingerprint(profile)}, sort_keys=True, default=str).encode())
    folder = profile.results_path / CEILINGS_FOLDER
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        h.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
