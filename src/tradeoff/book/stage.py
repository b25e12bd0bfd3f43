"""The staged book under ``<build_dir>/src``: what jupyter-book builds.

The executed notebooks are written there by :mod:`tradeoff.book.execute`; this module copies
the rest (``_config.yml`` with the provenance banner, ``_toc.yml``, the prose of ``book/``),
removes the pages that are no longer part of the book, and writes a profile that is not in
``params/`` for the kernels to load. A file is written only when its content changed: unchanged
modification times keep Sphinx's incremental build effective.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..config import load_profile, Profile
from ..errors import ConfigError

# The folders of the staged book: lab pages, chapters, prose.
STAGED_FOLDERS = ("lab", "notebooks", "book")


def staged_book(build_dir: Path) -> Path:
    """The staged book's folder, ``<build_dir>/src``, with its sub-folders created."""
    src = build_dir / "src"
    for sub in STAGED_FOLDERS:
        (src / sub).mkdir(parents=True, exist_ok=True)
    return src


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write only a changed file: unchanged mtimes keep Sphinx's incremental build effective."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete the executed notebooks of ``folder`` that are not pages of this build."""
    for path in folder.glob("*.ipynb"):
        if path.name not in keep:
            path.unlink()


def stage_sources(root: Path, src: Path, banner: str) -> int:
    """Copy the config, toc and prose into the staged book; returns the files written."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("html", {})["announcement"] = banner
    written = write_if_changed(src / "_config.yml",
                               yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode())
    written += write_if_changed(src / "_toc.yml", (root / "_toc.yml").read_bytes())
    prose = {p.relative_to(root / "book") for p in (root / "book").rglob("*") if p.is_file()}
    for rel in sorted(prose):
        written += write_if_changed(src / "book" / rel, (root / "book" / rel).read_bytes())
    for path in (src / "book").rglob("*"):
        if path.is_file() and path.relative_to(src / "book") not in prose:
            path.unlink()
            written += 1
    return int(written)


def profile_argument(profile: Profile, build_dir: Path) -> str:
    """What the kernels pass to ``load_profile``: the name when params/ has that very profile.

    Otherwise (a profile built in code or from a YAML elsewhere) it is written to
    ``<build_dir>/profiles/<name>.yaml`` and that path is passed.
    """
    try:
        if load_profile(profile.name, results_dir=profile.results_dir) == profile:
            return profile.name
    except ConfigError:
        pass
    path = (build_dir / "profiles" / f"{profile.name}.yaml").resolve()
    write_if_changed(path, yaml.safe_dump(profile.model_dump(), sort_keys=True).encode())
    return str(path)
