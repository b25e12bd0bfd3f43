"""SCROLLS data: the official zips, offline ACLSum stand-ins, and tokenization helpers.

Two sources give the same schema (columns ``id``, ``pid``, ``input``, ``output``; splits ``train``
and ``validation``):

* ``"scrolls"``: the official SCROLLS zips (``{name}/{train,validation,test}.jsonl``), read as JSON
  because the ``tau/scrolls`` script dataset is refused by current ``datasets``. The test split has
  no labels and is not loaded.
* ``"aclsum"``: deterministic stand-ins built from the 250 ACL papers shipped with the ``aclsum``
  package (full-text parses), one per SCROLLS dataset, for offline runs. They are *not* the SCROLLS
  data; every row's ``id`` starts with ``aclsum/`` and :func:`describe_source` says what was built.

Query datasets (QMSum, Qasper) put the query first, a blank line, then the document, as SCROLLS does.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import pandas as pd

from .errors import DataUnavailableError
from .tasks import DATASETS, LENGTHS, SCROLLS_NAMES, TASKS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SOURCES = ("aclsum", "scrolls")
SPLITS = ("train", "validation")
SCROLLS_REPO = "tau/scrolls"
SCROLLS_URL = "https://huggingface.co/datasets/tau/scrolls/resolve/main/{name}.zip"

# BART/LED convention, so a random-init LED built on this vocabulary uses the usual ids.
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

# Separates the query from the document in SCROLLS' query datasets.
QUERY_SEPARATOR = "\n\n"
CLOZE_BLANK = "____"

_STAND_IN_PREFIX = "aclsum/"
_VALIDATION_FRACTION = 0.2
_QMSUM_QUERIES = {
    "challenge": "What is the challenge addressed in this paper?",
    "approach": "What approach do the authors propose?",
    "outcome": "What is the outcome of the work?",
}
_STAND_IN_DESCRIPTIONS = {
    "govreport": "body -> abstract (long-document summarization)",
    "summscreenfd": "body -> challenge, approach and outcome summaries joined (a short recap)",
    "qmsum": "'query\\n\\nbody' -> that aspect's summary, one query per aspect "
             "(challenge, approach, outcome)",
    "qasper": "'question\\n\\nbody' -> blanked span; cloze questions from body sentences stratified "
              "by position (one per decile of the body), so answers lie throughout the paper",
}


# --------------------------------------------------------------------------------------------
# Validation and provenance
# --------------------------------------------------------------------------------------------


def _check_choice(value: str, valid: Sequence[str], what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def check_dataset(dataset: str) -> str:
    """Return ``dataset`` if it is one of :data:`DATASETS`, else raise ``ValueError``."""
    return _check_choice(dataset, DATASETS, "dataset")


def check_source(source: str) -> str:
    """Return ``source`` if it is one of :data:`SOURCES`, else raise ``ValueError``."""
    return _check_choice(source, SOURCES, "data source")


def describe_source(dataset: str, source: str) -> dict[str, Any]:
    """Say where a dataset's rows come from, for records and the book.

    Args:
        dataset: One of :data:`DATASETS`.
        source: One of :data:`SOURCES`.

    Returns:
        A dict with ``dataset``, ``scrolls_name``, ``task``, ``source``, ``stand_in`` (bool),
        ``description`` (one sentence) and ``origin`` (URL or package).
    """
    check_dataset(dataset)
    check_source(source)
    name = SCROLLS_NAMES[dataset]
    if source == "scrolls":
        description = f"SCROLLS {name} (official zip; train and validation splits)."
        origin = SCROLLS_URL.format(name=name)
    else:
        description = (f"Stand-in for {name} built from the 250 ACLSum papers: "
                       f"{_STAND_IN_DESCRIPTIONS[dataset]}. Not the SCROLLS data.")
        origin = "aclsum (PyPI) full-text parses"
    return {
        "dataset": dataset,
        "scrolls_name": name,
        "task": TASKS[dataset],
        "source": source,
        "stand_in": source == "aclsum",
        "description": description,
        "origin": origin,
    }


def set_offline_env(cache_home: Path) -> dict[str, str]:
    """Put the Hugging Face libraries in offline mode with a project-local cache.

    Values already set by the user win. ``huggingface_hub`` and ``datasets`` read these variables
    when first imported, so entry points should call this before importing them; the loaders in
    this module read the environment at call time and do not depend on that order.

    Args:
        cache_home: Folder to use as ``HF_HOME`` when none is set.

    Returns:
        The values now in effect for the three variables.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HOME", str(Path(cache_home)))
    return {key: os.environ[key] for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME")}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _stable_int(text: str) -> int:
    # Python's hash() is salted per process; splits and samples must not change between runs.
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


# --------------------------------------------------------------------------------------------
# Common API
# --------------------------------------------------------------------------------------------


def load_dataset_splits(
    dataset: str,
    source: str = "aclsum",
    data_dir: str | os.PathLike | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike | None = None,
) -> datasets.DatasetDict:
    """Load the train and validation splits of one dataset.

    Args:
        dataset: One of :data:`DATASETS`.
        source: ``"aclsum"`` (offline stand-ins) or ``"scrolls"`` (official zips).
        data_dir: For ``"scrolls"``: a ``{name}.zip``, a folder holding it, a folder holding the
            extracted ``{name}/`` folder, or that folder itself. Without it the zip is fetched from
            the Hub (or its local cache). Ignored for ``"aclsum"``.
        max_train_samples: Keep at most this many unique ids of the train split.
        max_eval_samples: Keep at most this many unique ids of the validation split.
        seed: Seed of the subsample (the same seed gives the same rows).
        cache_dir: Where to keep the downloaded zip, its extraction and the Arrow cache; the
            Hugging Face defaults when ``None``.

    Returns:
        A ``DatasetDict`` with splits ``train`` and ``validation`` and columns ``id``, ``pid``,
        ``input``, ``output``. Each split's ``info.description`` carries the provenance.

    Raises:
        ValueError: Unknown dataset or source.
        DataUnavailableError: SCROLLS data neither local nor downloadable.
    """
    check_dataset(dataset)
    check_source(source)
    if source == "scrolls":
        splits = _load_scrolls(dataset, data_dir, cache_dir)
    else:
        splits = build_stand_in(dataset)
    limits = {"train": max_train_samples, "validation": max_eval_samples}
    description = describe_source(dataset, source)["description"]
    out = {}
    for split in SPLITS:
        ds = subsample_by_id(splits[split], limits[split], seed)
        ds.info.description = description
        out[split] = ds
    return datasets.DatasetDict(out)


def subsample_by_id(split: datasets.Dataset, max_ids: int | None, seed: int = 0) -> datasets.Dataset:
    """Keep a seeded random subset of unique ids, with all rows of each kept id.

    Whole ids are kept so that Qasper's several references per question stay together; row order
    is preserved.

    Args:
        split: Rows with an ``id`` column.
        max_ids: Number of unique ids to keep; ``None`` (or more than there are) keeps all.
        seed: Seed of the choice.

    Returns:
        The selected rows.
    """
    if max_ids is None:
        return split
    if max_ids < 0:
        raise ValueError(f"max samples must be >= 0, got {max_ids}")
    ids = split["id"]
    unique = list(dict.fromkeys(ids))
    if max_ids >= len(unique):
        return split
    chosen = set(random.Random(seed).sample(unique, max_ids))
    return split.select([i for i, id_ in enumerate(ids) if id_ in chosen])


def group_references(split: datasets.Dataset | Iterable[Mapping[str, Any]]) -> datasets.Dataset:
    """Collapse rows that share an ``id`` into one row with all its references.

    SCROLLS scores each id once, taking the best score over its references (Qasper has several
    rows per id when there are several annotators).

    Args:
        split: Rows with ``id``, ``pid``, ``input`` and ``output``.

    Returns:
        A ``Dataset`` with one row per unique id, in first-seen order, and columns ``id``, ``pid``,
        ``input``, ``references`` (list of str).
    """
    rows = split if isinstance(split, datasets.Dataset) else list(split)
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = grouped.get(row["id"])
        if entry is None:
            grouped[row["id"]] = {"id": row["id"], "pid": row.get("pid", row["id"]),
                                  "input": row["input"], "references": [row["output"]]}
        else:
            entry["references"].append(row["output"])
    features = datasets.Features({
        "id": datasets.Value("string"), "pid": datasets.Value("string"),
        "input": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string")),
    })
    return datasets.Dataset.from_list(list(grouped.values()), features=features)


def split_query(text: str) -> tuple[str, str]:
    """Split a SCROLLS query-dataset input into ``(query, document)``.

    Args:
        text: ``"query\\n\\ndocument"``; a text without the separator is all document.

    Returns:
        The query (possibly empty) and the document.
    """
    query, sep, document = text.partition(QUERY_SEPARATOR)
    return (query, document) if sep else ("", text)


# --------------------------------------------------------------------------------------------
# Source "scrolls": the official zips
# --------------------------------------------------------------------------------------------


def _hf_cache(cache_dir: str | os.PathLike | None, sub: str, variable: str, default) -> Path:
    # Resolved at call time: the HF libraries freeze their own defaults when imported.
    if cache_dir is not None:
        return Path(cache_dir) / sub
    if os.environ.get(variable):
        return Path(os.environ[variable])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / sub
    return Path(default())


def _hub_cache(cache_dir: str | os.PathLike | None) -> Path:
    def default():
        from huggingface_hub import constants
        return constants.HF_HUB_CACHE
    return _hf_cache(cache_dir, "hub", "HF_HUB_CACHE", default)


def _datasets_cache(cache_dir: str | os.PathLike | None) -> Path:
    return _hf_cache(cache_dir, "datasets", "HF_DATASETS_CACHE",
                     lambda: datasets.config.HF_DATASETS_CACHE)


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
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        members = {Path(m).name: m for m in archive.namelist()
                   if m.endswith(".jsonl") and Path(m).parent.name == name}
        missing = [f"{name}/{s}.jsonl" for s in SPLITS if f"{s}.jsonl" not in members]
        if missing:
            raise DataUnavailableError(
                f"{zip_path} is not a SCROLLS {name} zip: missing {', '.join(missing)}")
        # Extract to a temporary sibling and rename, so an interrupted run leaves no half folder.
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
        try:
            for split in SPLITS:
                with archive.open(members[f"{split}.jsonl"]) as src, open(tmp / f"{split}.jsonl", "wb") as dst:
                    shutil.copyfileobj(src, dst)
            os.replace(tmp, target)
        except OSError:
            if _has_splits(target):  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
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


def _load_scrolls(dataset: str, data_dir: str | os.PathLike | None,
                  cache_dir: str | os.PathLike | None) -> datasets.DatasetDict:
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
    folder = found if found.is_dir() else _extract(found, name, _datasets_cache(cache_dir))
    files = {split: str(folder / f"{split}.jsonl") for split in SPLITS}
    features = datasets.Features({key: datasets.Value("string") for key in ("id", "pid", "input", "output")})
    loaded = datasets.load_dataset("json", data_files=files, features=features,
                                   cache_dir=str(_datasets_cache(cache_dir)))
    return datasets.DatasetDict({split: loaded[split] for split in SPLITS})


# --------------------------------------------------------------------------------------------
# Source "aclsum": stand-ins from the ACLSum papers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Paragraph:
    start: int  # character offset of the paragraph in the body
    text: str
    protected: tuple[tuple[int, int], ...]  # citation/reference/equation spans, paragraph offsets


@dataclass(frozen=True)
class _Paper:
    id: str
    abstract: str
    summaries: tuple[tuple[str, str], ...]  # (aspect, summary) in ACLSum's aspect order
    body: str
    paragraphs: tuple[_Paragraph, ...]


@functools.lru_cache(maxsize=1)
def _aclsum_papers() -> tuple[_Paper, ...]:
    """All 250 ACLSum papers (its train, val and test pooled), sorted by id."""
    from aclsum import ACLSum
    from aclsum.aclsum import ASPECTS

    papers = []
    for split in ("train", "val", "test"):
        for doc in ACLSum(split):
            parse = doc.get_fulltext_parse()
            lines: list[str] = []
            paragraphs = []
            offset = 0
            previous_section = None
            # The body is body_text only: the abstract is the GovReport stand-in's target.
            for block in parse["pdf_parse"]["body_text"]:
                section = block.get("section") or ""
                if section and section != previous_section:
                    heading = f"{block.get('sec_num') or ''} {section}".strip()
                    lines.append(heading)
                    offset += len(heading) + 1
                previous_section = section
                # Same-length replacement keeps the parse's span offsets valid.
                text = block["text"].replace("\n", " ")
                spans = tuple((s["start"], s["end"]) for key in ("cite_spans", "ref_spans", "eq_spans")
                              for s in block.get(key) or [])
                paragraphs.append(_Paragraph(offset, text, spans))
                lines.append(text)
                offset += len(text) + 1
            body = "\n".join(lines)
            papers.append(_Paper(
                id=doc.id,
                abstract=" ".join((parse.get("abstract") or "").split()),
                summaries=tuple((aspect, doc.summaries[aspect].strip()) for aspect in ASPECTS),
                body=body,
                paragraphs=tuple(paragraphs),
            ))
    return tuple(sorted(papers, key=lambda p: p.id))


def stand_in_split_of(paper_id: str, paper_ids: Sequence[str]) -> str:
    """Return the stand-in split (``train`` or ``validation``) of one ACLSum paper.

    Papers are ranked by a hash of their id; the first 20% are validation. Splits are therefore
    document-disjoint and the same on every machine.

    Args:
        paper_id: The paper's ACL Anthology id.
        paper_ids: All pooled paper ids.

    Returns:
        The split name.
    """
    return _stand_in_splits(tuple(sorted(paper_ids)))[paper_id]


@functools.lru_cache(maxsize=4)
def _stand_in_splits(paper_ids: tuple[str, ...]) -> dict[str, str]:
    ranked = sorted(paper_ids, key=lambda pid: (_stable_int(f"tradeoff-split:{pid}"), pid))
    n_validation = round(_VALIDATION_FRACTION * len(ranked))
    return {pid: ("validation" if rank < n_validation else "train") for rank, pid in enumerate(ranked)}


def build_stand_in(dataset: str) -> datasets.DatasetDict:
    """Build the ACLSum stand-in of one dataset, deterministically.

    Args:
        dataset: One of :data:`DATASETS`.

    Returns:
        A ``DatasetDict`` with ``train`` and ``validation`` (document-disjoint), columns ``id``,
        ``pid``, ``input``, ``output``; every id starts with ``aclsum/``.
    """
    check_dataset(dataset)
    papers = _aclsum_papers()
    assignment = _stand_in_splits(tuple(p.id for p in papers))
    rows: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    for paper in papers:
        rows[assignment[paper.id]].extend(_stand_in_rows(dataset, paper))
    features = datasets.Features({key: datasets.Value("string") for key in ("id", "pid", "input", "output")})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_list(rows[split], features=features) for split in SPLITS})


def _stand_in_rows(dataset: str, paper: _Paper) -> list[dict[str, str]]:
    pid = f"{_STAND_IN_PREFIX}{paper.id}"
    if dataset == "govreport":
        return [{"id": pid, "pid": pid, "input": paper.body, "output": paper.abstract}]
    if dataset == "summscreenfd":
        recap = " ".join(summary for _, summary in paper.summaries)
        return [{"id": pid, "pid": pid, "input": paper.body, "output": recap}]
    if dataset == "qmsum":
        return [{"id": f"{pid}/{aspect}", "pid": pid,
                 "input": f"{_QMSUM_QUERIES[aspect]}{QUERY_SEPARATOR}{paper.body}", "output": summary}
                for aspect, summary in paper.summaries]
    return [{"id": f"{pid}/q{stratum}", "pid": pid,
             "input": f"{question}{QUERY_SEPARATOR}{paper.body}", "output": answer}
            for stratum, question, answer in _cloze_questions(paper)]


# --- Qasper stand-in: cloze questions spread over the whole body ------------------------------

N_STRATA = 10  # one question per decile of the body, so answers lie throughout the paper

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?(?![\w])")
_TERM = re.compile(r"\b[A-Z][A-Za-z0-9-]*[A-Za-z0-9](?: [A-Z][A-Za-z0-9-]*[A-Za-z0-9])+\b")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9-]*[A-Z0-9]s?\b")
_WORD = re.compile(r"\b[a-z][a-z-]{2,}[a-z]\b")
_REFERENCE_WORDS = {"table", "tables", "figure", "figures", "fig", "section", "sections", "sec",
                    "eq", "equation", "equations", "appendix", "algorithm", "step", "line"}
_DETERMINERS = {"the", "a", "an", "of", "our", "their", "its", "this", "these", "each", "every",
                "such", "some", "any", "no", "two", "three", "several", "many", "most"}
_NOUN_SUFFIXES = ("tion", "tions", "sion", "sions", "ment", "ments", "ness", "ity", "ities",
                  "ance", "ence", "ism", "ers", "ors", "ings", "ics", "ogy", "ures")
_STOPWORDS = frozenset("""
about above across after again against also although among another around because been before
being below between both cannot could does doing done down during each either else enough even
ever every few first following from further given have having here hence however into itself
just last least less like made make makes many more most much must neither never next none
nor often once only other others otherwise ours over own perhaps rather same several shall
should show shown shows since some such than that their theirs them themselves then there
therefore these they this those though thus together too toward towards under unless until upon
used uses using very well were what whatever when where whether which while whom whose will
with within without would your yours also based different example further thus i.e. e.g. more
various without able among then above below respectively namely already still always cases case
""".split())


def _sentences(paragraph: _Paragraph) -> Iterable[tuple[int, int]]:
    """Yield ``(start, end)`` of each sentence, in paragraph offsets."""
    start = 0
    for match in _SENTENCE_END.finditer(paragraph.text):
        yield start, match.start()
        start = match.end()
    if start < len(paragraph.text):
        yield start, len(paragraph.text.rstrip())


def _span_candidates(sentence: str, offset: int, protected: Sequence[tuple[int, int]]
                     ) -> dict[str, list[tuple[int, int]]]:
    """Blankable spans of one sentence (sentence offsets), by kind, outside citations etc."""
    def free(start: int, end: int) -> bool:
        return all(end + offset <= a or start + offset >= b for a, b in protected)

    def after_reference_word(start: int) -> bool:
        before = sentence[:start].split()
        return bool(before) and before[-1].strip("().,").lower() in _REFERENCE_WORDS

    found: dict[str, list[tuple[int, int]]] = {"number": [], "term": [], "word": []}
    for m in _NUMBER.finditer(sentence):
        # Single digits are mostly enumerations; numbers after "Table"/"Section" are references.
        if (len(m.group()) >= 2 and free(*m.span()) and not after_reference_word(m.start())):
            found["number"].append(m.span())
    for pattern in (_TERM, _ACRONYM):
        for m in pattern.finditer(sentence):
            # A capital at the sentence start says nothing; skip spans starting there.
            if m.start() > 0 and free(*m.span()) and len(m.group()) >= 3:
                found["term"].append(m.span())
    words, nounish = [], []
    for m in _WORD.finditer(sentence):
        word = m.group()
        if word in _STOPWORDS or word.endswith("ly") or not free(*m.span()):
            continue
        words.append(m.span())
        # Without a tagger, a determiner before the word or a nominal suffix marks a likely noun,
        # which makes a better answer than a verb.
        before = sentence[:m.start()].split()
        if (before and before[-1].lower() in _DETERMINERS) or word.endswith(_NOUN_SUFFIXES):
            nounish.append(m.span())
    found["word"] = nounish or words
    return found


def _cloze_questions(paper: _Paper) -> list[tuple[int, str, str]]:
    """Up to :data:`N_STRATA` ``(stratum, question, answer)`` per paper, one per body decile.

    A question is a body sentence with one content span (a number, a capitalised term or
    acronym, or a content word) replaced by ``____``; the answer is that span. The body keeps the
    sentence intact, as in real QA where the answer is in the document; positions are stratified
    so that truncation to 1024 tokens loses most answers and 4096 fewer.
    """
    body = paper.body
    word_starts = [m.start() for m in re.finditer(r"\S+", body)]
    n_words = max(len(word_starts), 1)
    rng = random.Random(_stable_int(f"tradeoff-cloze:{paper.id}"))
    strata: dict[int, list[tuple[int, int, int, _Paragraph]]] = {}
    for paragraph in paper.paragraphs:
        for start, end in _sentences(paragraph):
            sentence = paragraph.text[start:end]
            words = sentence.split()
            if not 8 <= len(words) <= 60 or "EQUATION" in sentence or CLOZE_BLANK in sentence:
                continue
            # Skip maths and table debris: most tokens must be ordinary words.
            if sum(w.strip(".,;:()").isalpha() for w in words) < 0.7 * len(words):
                continue
            # The filled sentence must locate a single place in the body.
            if body.count(sentence) != 1:
                continue
            position = bisect.bisect_right(word_starts, paragraph.start + start) - 1
            stratum = min(N_STRATA - 1, N_STRATA * max(position, 0) // n_words)
            strata.setdefault(stratum, []).append((start, end, position, paragraph))
    questions = []
    for stratum in sorted(strata):
        for start, end, _, paragraph in rng.sample(strata[stratum], len(strata[stratum])):
            sentence = paragraph.text[start:end]
            candidates = _span_candidates(sentence, start, paragraph.protected)
            kinds = [kind for kind in ("number", "term", "word") if candidates[kind]]
            if not kinds:
                continue
            a, b = rng.choice(candidates[rng.choice(kinds)])
            questions.append((stratum, sentence[:a] + CLOZE_BLANK + sentence[b:], sentence[a:b]))
            break
    return questions


# --------------------------------------------------------------------------------------------
# Length and answer-position statistics
# --------------------------------------------------------------------------------------------


def _token_lengths(texts: Sequence[str], tokenizer: Any | None, batch_size: int = 64) -> list[int]:
    if tokenizer is None:
        return [len(t.split()) for t in texts]
    lengths: list[int] = []
    for i in range(0, len(texts), batch_size):
        # Special tokens included: a text "exceeds L" exactly when max_length=L truncates it.
        encoded = tokenizer(list(texts[i:i + batch_size]), add_special_tokens=True)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def length_stats(texts: Iterable[str], tokenizer: Any | None = None,
                 lengths: Sequence[int] = LENGTHS) -> dict[str, float]:
    """Token-length summary of texts and the fraction that truncation at each length would cut.

    Args:
        texts: Inputs (or outputs) to measure.
        tokenizer: A Hugging Face tokenizer; ``None`` counts whitespace-separated tokens.
        lengths: Input lengths to report ``frac_gt_{L}`` for.

    Returns:
        ``n``, ``mean``, ``median``, ``p90``, ``min``, ``max``, ``frac_gt_{L}`` for each L, and
        ``unit`` (``"tokens"`` or ``"whitespace tokens"``).
    """
    counts = pd.Series(_token_lengths(list(texts), tokenizer), dtype="float64")
    stats: dict[str, Any] = {
        "n": int(counts.size), "mean": float(counts.mean()), "median": float(counts.median()),
        "p90": float(counts.quantile(0.9)), "min": float(counts.min()), "max": float(counts.max()),
    }
    for length in lengths:
        stats[f"frac_gt_{length}"] = float((counts > length).mean())
    stats["unit"] = "tokens" if tokenizer is not None else "whitespace tokens"
    return stats


def answer_positions(dataset_rows: datasets.Dataset | Iterable[Mapping[str, Any]],
                     tokenizer: Any | None = None) -> pd.DataFrame:
    """Locate each QA answer in its document, to show how far into the input answers lie.

    For a cloze row the filled question sentence is found in the document and the blank's place
    gives the answer; otherwise the first occurrence of the answer (case-insensitive) is used.
    Answers not in the document (e.g. Qasper's "Yes", "Unanswerable") get ``found=False``.

    Args:
        dataset_rows: Rows with ``id``, ``input`` (``"question\\n\\ndocument"``) and ``output``.
        tokenizer: A fast Hugging Face tokenizer; ``None`` counts whitespace tokens.

    Returns:
        One row per input row: ``id``, ``pid``, ``answer``, ``found``, ``char_offset`` (in the
        document), ``document_chars``, ``relative_position`` (offset / document length),
        ``token_end`` (input tokens up to and including the answer's last token, counting the
        leading ``<s>`` when the tokenizer adds one; NaN if not found) and ``unit``.
    """
    records = []
    document_ends: dict[str, list[int]] = {}  # per call: documents repeat across questions
    for row in dataset_rows:
        question, document = split_query(row["input"])
        answer = row["output"]
        offset = -1
        if CLOZE_BLANK in question:
            sentence_at = document.find(question.replace(CLOZE_BLANK, answer, 1))
            if sentence_at >= 0:
                offset = sentence_at + question.index(CLOZE_BLANK)
        if offset < 0 and answer.strip():
            offset = document.lower().find(answer.lower())
        found = offset >= 0
        records.append({
            "id": row["id"], "pid": row.get("pid", row["id"]), "answer": answer, "found": found,
            "char_offset": offset if found else None, "document_chars": len(document),
            "relative_position": offset / len(document) if found and document else None,
            "token_end": (_token_end(question, document, offset + len(answer), tokenizer, document_ends)
                          if found else float("nan")),
        })
    frame = pd.DataFrame(records, columns=["id", "pid", "answer", "found", "char_offset",
                                           "document_chars", "relative_position", "token_end"])
    frame["unit"] = "tokens" if tokenizer is not None else "whitespace tokens"
    return frame


def _token_end(question: str, document: str, answer_end: int, tokenizer: Any | None,
               document_ends: dict[str, list[int]]) -> float:
    """Input tokens needed to include the document up to character ``answer_end``."""
    prefix = question + QUERY_SEPARATOR if question else ""
    if tokenizer is None:
        return float(len(prefix.split()) + len(document[:answer_end].split()))
    # Query datasets repeat one document under many questions: tokenize each document once and
    # the question separately. Exact for byte-level BPE, whose pre-tokenizer always splits at
    # the newline before the document.
    ends = document_ends.get(document)
    if ends is None:
        offsets = tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ends = document_ends[document] = [end for _, end in offsets]
    index = bisect.bisect_left(ends, answer_end)
    return float(_leading_specials(tokenizer) + _prefix_tokens(prefix, document, tokenizer) + index + 1)


def _prefix_tokens(prefix: str, document: str, tokenizer: Any) -> int:
    if not prefix:
        return 0
    offsets = tokenizer(prefix + document[:64], add_special_tokens=False,
                        return_offsets_mapping=True)["offset_mapping"]
    return sum(1 for start, _ in offsets if start < len(prefix))


def _leading_specials(tokenizer: Any) -> int:
    mask = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)["special_tokens_mask"]
    return next((i for i, m in enumerate(mask) if not m), len(mask))


def answer_coverage(positions: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> dict[int, float]:
    """Fraction of answers that survive truncation of the input to each length.

    With a tokenizer one slot is left for ``</s>``, which truncation keeps at the end.
    Answers not found in the document count as not covered.

    Args:
        positions: Output of :func:`answer_positions`.
        lengths: Input lengths.

    Returns:
        ``{length: fraction}``.
    """
    if positions.empty:
        return {length: float("nan") for length in lengths}
    reserve = 1 if (positions["unit"] == "tokens").all() else 0
    ends = positions["token_end"]
    return {length: float((ends <= length - reserve).mean()) for length in lengths}


# --------------------------------------------------------------------------------------------
# Tokenizer for random-init models
# --------------------------------------------------------------------------------------------

_TOKENIZER_FORMAT = "bytelevel-bpe-v1"  # bump when the recipe changes, so old caches are not reused


def train_tokenizer(texts: Iterable[str], vocab_size: int, cache_dir: str | os.PathLike,
                    min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train (or load from cache) a byte-level BPE tokenizer in the BART/LED convention.

    Special tokens ``<s>`` (0), ``<pad>`` (1), ``</s>`` (2), ``<unk>`` (3), ``<mask>`` (4); every
    encoding is wrapped as ``<s> ... </s>`` like BART. The result is cached under ``cache_dir``
    keyed by a hash of the texts, the vocabulary size and the recipe, so a second call loads it.

    Args:
        texts: Training texts (consumed once; hashed for the cache key).
        vocab_size: Target vocabulary size including the special tokens and the 256 bytes.
        cache_dir: Folder for cached tokenizers.
        min_frequency: Minimum pair frequency for a merge.

    Returns:
        A ``PreTrainedTokenizerFast`` usable with ``DataCollatorForSeq2Seq``, ``text_target=`` and
        ``batch_decode(skip_special_tokens=True)``.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    digest = hashlib.sha256(f"{_TOKENIZER_FORMAT}|{vocab_size}|{min_frequency}|{len(texts)}".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    path = Path(cache_dir) / f"bpe-{vocab_size}-{digest.hexdigest()[:16]}"
    if (path / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(str(path))

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    # GPT-2's byte-level scheme: no unknown characters, and decoding restores the exact text.
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(texts, trainer=trainer, length=len(texts))
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", backend.token_to_id("</s>")), ("<s>", backend.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".bpe-"))
    tokenizer.save_pretrained(str(tmp))
    (tmp / "training.json").write_text(json.dumps(
        {"format": _TOKENIZER_FORMAT, "vocab_size": vocab_size, "min_frequency": min_frequency,
         "n_texts": len(texts)}, indent=2))
    try:
        os.replace(tmp, path)
    except OSError:  # a concurrent call cached the same tokenizer first
        shutil.rmtree(tmp, ignore_errors=True)
    return PreTrainedTokenizerFast.from_pretrained(str(path))
