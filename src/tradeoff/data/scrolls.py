"""Source ``"scrolls"``: the official SCROLLS zips, the loading code users with a network run.

Each dataset is ``{name}.zip`` holding ``{name}/{train,validation,test}.jsonl``, read as JSON
because the ``tau/scrolls`` script dataset is refused by current ``datasets``. The test split has
no labels and is not loaded. The zip comes from a local ``data_dir`` (the zip, a folder holding
it, a folder holding the extracted ``{name}/`` folder, or that folder itself) or from the Hub
(its local cache first, then the network), with one clear :class:`DataUnavailableError` when
neither is possible.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import datasets

from ..errors import DataUnavailableError
from ..tasks import SCROLLS_NAMES
from .rows import SPLITS, datasets_cache, folder_written_atomically, hf_cache_folder, row_features

SCROLLS_REPO = "tau/scrolls"
SCROLLS_URL = "https://huggingface.co/datasets/tau/scrolls/resolve/main/{name}.zip"


def describe(dataset: str) -> tuple[str, str]:
    """``(description, origin)`` of one dataset's official data, for records and the book."""
    name = SCROLLS_NAMES[dataset]
    return (f"SCROLLS {name} (official zip; train and validation splits).",
            SCROLLS_URL.format(name=name))


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hub_cache(cache_dir: str | os.PathLike | None) -> Path:
    def default():
        from huggingface_hub import constants
        return constants.HF_HUB_CACHE
    return hf_cache_folder(cache_dir, "hub", "HF_HUB_CACHE", default)


def _has_splits(folder: Path) -> bool:
    return all((folder / f"{split}.jsonl").is_file() for split in SPLITS)


def _find_local(name: str, data_dir: Path) -> Path | None:
    """Return a zip or an extracted split folder for ``name`` under ``data_dir``, if any."""
    candidates = []
    if data_dir.is_file():
        candidates.append(data_dir)
    else:
        candidates += [data_dir / f"{name}.zip", data_dir / name, data_dir]
    for path in candidates:
        if path.is_file() and zipfile.is_zipfile(path):
            return path
        if path.is_dir() and _has_splits(path):
            return path
    return None


def _extract(zip_path: Path, name: str, cache: Path) -> Path:
    """Extract ``{name}/*.jsonl`` from the zip once, into a folder keyed by the zip's identity."""
    stat = zip_path.stat()
    key = hashlib.sha256(f"{zip_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    target = cache / "scrolls_extracted" / f"{name}-{key[:16]}"
    if _has_splits(target):
        return target
    with zipfile.ZipFile(zip_path) as archive:
        members = {Path(m).name: m for m in archive.namelist()
                   if m.endswith(".jsonl") and Path(m).parent.name == name}
        missing = [f"{name}/{s}.jsonl" for s in SPLITS if f"{s}.jsonl" not in members]
        if missing:
            raise DataUnavailableError(
                f"{zip_path} is not a SCROLLS {name} zip: missing {', '.join(missing)}")
        with folder_written_atomically(target) as tmp:
            for split in SPLITS:
                with archive.open(members[f"{split}.jsonl"]) as src, open(tmp / f"{split}.jsonl", "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return target


def _download(name: str, dataset: str, cache_dir: str | os.PathLike | None) -> Path:
    """Fetch ``{name}.zip`` from the Hub (or its local cache) or raise one clear error."""
    import huggingface_hub

    offline = _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE")
    url = SCROLLS_URL.format(name=name)
    hub_cache = _hub_cache(cache_dir)
    hint = (f"Point at a local copy with --data-dir /path/to/scrolls (or profile key data_dir) "
            f"holding {name}.zip or {name}/train.jsonl, or use source 'aclsum' for the offline "
            f"stand-ins.")
    # The cache is consulted first with a pure file-system look-up: hf_hub_download would touch
    # the network even offline (it reads HF_HUB_OFFLINE only at import time). The published zips
    # never change, so a cached copy needs no revalidation.
    cached = huggingface_hub.try_to_load_from_cache(
        repo_id=SCROLLS_REPO, filename=f"{name}.zip", cache_dir=hub_cache, repo_type="dataset")
    if isinstance(cached, str):
        return Path(cached)
    if offline:
        raise DataUnavailableError(
            f"SCROLLS data for '{dataset}' ({name}.zip) is unavailable: offline mode is on and the "
            f"Hub cache {hub_cache} has no copy of {url}. {hint}")
    if not _hub_reachable():
        raise DataUnavailableError(
            f"SCROLLS data for '{dataset}' ({name}.zip) is unavailable: no connection to "
            f"huggingface.co to download {url}. {hint}")
    try:
        path = huggingface_hub.hf_hub_download(repo_id=SCROLLS_REPO, repo_type="dataset",
                                               filename=f"{name}.zip", cache_dir=hub_cache)
    except Exception as exc:  # DNS, HTTP, proxy, disk: all mean "not available" to the caller
        raise DataUnavailableError(
            f"SCROLLS data for '{dataset}' ({name}.zip) is unavailable: downloading {url} failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}). "
            f"{hint}") from exc
    return Path(path)


def _hub_reachable(timeout_s: float = 5.0) -> bool:
    """Whether huggingface.co accepts a TCP connection (True behind a proxy: cannot tell)."""
    # huggingface_hub retries failed connections with back-off (tens of seconds); a quick probe
    # turns "no network" into an immediate, clear error instead.
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        import socket

        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def load_scrolls(dataset: str, data_dir: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None) -> datasets.DatasetDict:
    """The ``train`` and ``validation`` splits of one dataset's official zip.

    Args:
        dataset: One of :data:`tradeoff.tasks.DATASETS`.
        data_dir: A local copy (see the module docstring); None fetches the zip from the Hub
            (or its local cache).
        cache_dir: Where to keep the downloaded zip, its extraction and the Arrow cache; the
            Hugging Face defaults when ``None``.

    Returns:
        A ``DatasetDict`` with the columns of :data:`tradeoff.data.rows.COLUMNS`.

    Raises:
        DataUnavailableError: The data is neither local nor downloadable.
    """
    name = SCROLLS_NAMES[dataset]
    if data_dir is not None:
        found = _find_local(name, Path(data_dir).expanduser())
        if found is None:
            raise DataUnavailableError(
                f"SCROLLS data for '{dataset}' not found under data_dir={data_dir}: looked for a zip "
                f"file, {name}.zip, {name}/{{train,validation}}.jsonl or {{train,validation}}.jsonl. "
                f"Download {SCROLLS_URL.format(name=name)} there.")
    else:
        found = _download(name, dataset, cache_dir)
    folder = found if found.is_dir() else _extract(found, name, datasets_cache(cache_dir))
    files = {split: str(folder / f"{split}.jsonl") for split in SPLITS}
    features = row_features()
    loaded = datasets.load_dataset("json", data_files=files, features=features,
                                   cache_dir=str(datasets_cache(cache_dir)))
    return datasets.DatasetDict({split: loaded[split] for split in SPLITS})
