"""Source ``"aclsum"``: offline stand-ins built from the 250 ACL papers shipped with the ``aclsum``
package (full-text parses), one per SCROLLS dataset, deterministic on every machine.

They are *not* the SCROLLS data: every row's ``id`` starts with ``aclsum/`` and
:func:`describe` says what was built. Splits are document-disjoint (20% of the papers, ranked by
a hash of their id, are validation). The Qasper stand-in asks cloze questions whose answers lie
throughout the paper, one per decile of the body.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import importlib.metadata
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from ..tasks import SCROLLS_NAMES
from . import rows
from .rows import (
    CLOZE_BLANK,
    QUERY_SEPARATOR,
    SPLITS,
    check_dataset,
    datasets_cache,
    folder_written_atomically,
    row_features,
    stable_int,
)

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


def describe(dataset: str) -> tuple[str, str]:
    """``(description, origin)`` of one dataset's stand-in, for records and the book."""
    return (f"Stand-in for {SCROLLS_NAMES[dataset]} built from the 250 ACLSum papers: "
            f"{_STAND_IN_DESCRIPTIONS[dataset]}. Not the SCROLLS data.",
            "aclsum (PyPI) full-text parses")


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
    ranked = sorted(paper_ids, key=lambda pid: (stable_int(f"tradeoff-split:{pid}"), pid))
    n_validation = round(_VALIDATION_FRACTION * len(ranked))
    return {pid: ("validation" if rank < n_validation else "train") for rank, pid in enumerate(ranked)}


@functools.lru_cache(maxsize=4)
def build_stand_in(dataset: str) -> datasets.DatasetDict:
    """The ACLSum stand-in of one dataset: built once per machine, kept in the ``datasets``
    cache, and read from there by every later process (once per process: the cells of a grid
    share it).

    The cached copy is keyed by :func:`stand_in_version` (this module's and the row layout's
    source, the ``aclsum`` and ``datasets`` versions), so a change to any of them builds it
    again. An unwritable cache only means building it each time.

    Args:
        dataset: One of :data:`tradeoff.tasks.DATASETS`.

    Returns:
        A ``DatasetDict`` with ``train`` and ``validation`` (document-disjoint), columns ``id``,
        ``pid``, ``input``, ``output``; every id starts with ``aclsum/``. In memory, as built.
    """
    check_dataset(dataset)
    folder = datasets_cache() / "tradeoff-stand-ins" / f"{dataset}-{stand_in_version()}"
    if (folder / datasets.config.DATASETDICT_JSON_FILENAME).is_file():
        return datasets.load_from_disk(str(folder), keep_in_memory=True)
    splits = _build_stand_in(dataset)
    with contextlib.suppress(OSError):  # a cache it cannot write to
        _save(splits, folder)
    return splits


def _save(splits: datasets.DatasetDict, folder: Path) -> None:
    """Save without ``datasets``' progress bars, which a cache write does not need to show."""
    bars_shown = not datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        with folder_written_atomically(folder) as tmp:
            splits.save_to_disk(str(tmp))
    finally:
        if bars_shown:
            datasets.enable_progress_bars()


@functools.cache
def stand_in_version() -> str:
    """A hash of everything a stand-in's rows depend on: the source of this module and of the
    row layout, and the versions of ``aclsum`` (the papers) and ``datasets`` (the format)."""
    digest = hashlib.sha256()
    for module_file in (__file__, rows.__file__):
        digest.update(Path(module_file).read_bytes())
    for package in ("aclsum", "datasets"):
        digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
    return digest.hexdigest()[:16]


def _build_stand_in(dataset: str) -> datasets.DatasetDict:
    """Build one dataset's stand-in from the ACLSum papers, deterministically."""
    papers = _aclsum_papers()
    assignment = _stand_in_splits(tuple(p.id for p in papers))
    rows_of: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    for paper in papers:
        rows_of[assignment[paper.id]].extend(_stand_in_rows(dataset, paper))
    features = row_features()
    return datasets.DatasetDict({
        split: datasets.Dataset.from_list(rows_of[split], features=features) for split in SPLITS})


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
    rng = random.Random(stable_int(f"tradeoff-cloze:{paper.id}"))
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
