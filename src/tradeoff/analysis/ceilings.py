"""What longer inputs can buy: accuracy ceilings and unsupervised baselines per input length.

Everything here is a property of the data and of simple methods, not of LED or BigBird. For one
dataset, one input length and one tokenizer (the model's; offline the BPE tokenizer the setup
chapter counts with), each input is cut to what a model of that length sees: ``length`` minus the
special tokens the tokenizer adds (``<s>``, ``</s>``) of the text; for the query datasets QMSum
and Qasper the query comes first and eats into the budget. Then:

* **Ceilings** (``kind="ceiling"``, method ``"oracle"``)

  - Summarization: the greedy extractive oracle of the truncated document. Starting from an
    empty summary, add the sentence that most improves the score against the reference; stop
    when no sentence improves it. The search objective is the mean of the ROUGE-1, -2 and -L
    F-measures (the geometric mean is zero whenever one of them is, which would stall the search
    at an empty summary); ROUGE-1 and -L are exact for the joined text, ROUGE-2 counts bigrams
    inside sentences only, as the usual oracle does. The reported score is the SCROLLS metric
    of the chosen sentences.
  - QA: the share of questions whose answer text (normalised as SCROLLS' F1 normalises it)
    occurs as a contiguous run of the truncated document (``recoverable_share``) and the best
    token F1 any span of it reaches, max over references (``f1``, scored by the SCROLLS metric
    from the best spans). Spans are searched over the document part only (the query is not
    evidence), start and end on a token of the reference, and are at most ``len(reference) +
    span_margin`` normalised tokens long; with the F1 bound ``2r / (p + r)`` the search stops
    early once a shorter span is known to be better. For the cloze stand-in (short answers
    copied from the paper) it is exact. Rows sharing an ``id`` are grouped
    (:func:`tradeoff.data.group_references`). The answer *text* may occur anywhere in the
    visible input, so this share is at least the share of answers whose own sentence is
    visible, and higher for common words. That second share is stored too
    (``answer_coverage``): :func:`tradeoff.data.answer_coverage` of the same rows, the
    measure of the setup chapter, per answer row (not per question) and by the position of
    the answer's first located occurrence.

* **Baselines** (``kind="baseline"``): LexRank and BM25 read the whole truncated input, so
  their cost grows with it; lead reads only its beginning and is the constant-cost reference.

  - ``"lead"``: the first sentences of the truncated document, up to the one that reaches the
    reference length budget (the median words of the training references). It reads and splits
    only those lines, so it is the reference whose cost does not grow with the input.
  - ``"lexrank"``: LexRank (Erkan & Radev, 2004) from ``sumy`` over every sentence of the
    truncated document, its *k* most central sentences in document order, *k* = the budget over
    the mean words of a sentence of that document (at least 1). Both ignore QMSum's query.
  - ``"bm25"`` (QA): BM25 (``rank_bm25.BM25Okapi``) ranks the sentences of the truncated
    document against the question (SCROLLS-normalised tokens); for a cloze question the answer
    is the part of the best sentence between its longest common word prefix and suffix with
    the question around the blank, otherwise the whole sentence.

  Each baseline keeps its predictions; its score is the SCROLLS metric of those predictions.
  Its CPU time per sample is ``time.process_time`` over the work that reads the input
  (sentence splitting included, see below); its energy is the project's labelled estimate
  ``cpu-time-estimate``: CPU seconds x ``cpu_watts_per_core`` W (the profile's setting, the
  same constant :class:`tradeoff.energy.EnergyMeter` uses when RAPL is unreadable). It is an
  estimate, not a measurement. Ceilings get the same columns, for reference only.

Sentence splitting works offline with no downloads: ``pysbd`` (rule-based, English), applied
per line (paragraph breaks always end a sentence). A line's split is computed once per process
and its measured CPU time is charged to every input that reads that line (the line cut by the
truncation is split whole and its sentences clipped at the cut). ``sumy`` gets the pysbd
sentences directly and ``nltk``'s ``NLTKWordTokenizer`` (regular expressions, no data files)
for words, so neither needs nltk's punkt data.

Results are cached per (dataset, length, method) as JSON under ``.cache/ceilings/`` (the
project cache, ``TRADEOFF_CACHE``), keyed by a hash of the rows used, the reference budget, the
length, the tokenizer, the method and :data:`CODE_VERSION`; cached CPU times are those measured
when the entry was computed. :func:`ceiling_records` turns them into records of their own kind
(:class:`tradeoff.records.CeilingRecord`, under ``<results_dir>/ceilings/``), the form the book
reads (:func:`tradeoff.analysis.table.load_ceilings`); a record whose key still matches is never
computed again, whatever the cache holds. By default the validation split is subsampled
(:data:`DEFAULT_MAX_SAMPLES` unique ids per task, seeded; ``ceiling_table(max_samples=...)``),
the same ids at every length.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import Profile
from ..tasks import HEADLINE, TASKS
from ..data import (
    CLOZE_BLANK,
    QUERY_SEPARATOR,
    answer_coverage,
    answer_positions,
    group_references,
    split_query,
    subsample_by_id,
)
from ..env import describe_cpu
from ..errors import RecordError
from ..records import ceiling_record_path, CeilingRecord, load_ceiling_record, save_record

#: Bump when a change alters any cached value, so old cache entries are not reused.
CODE_VERSION = "ceilings-v2"
#: SCROLLS datasets whose input is "query\n\ndocument".
QUERY_DATASETS = ("qmsum", "qasper")
#: Methods per task, ceiling first.
METHODS = {"summarization": ("oracle", "lead", "lexrank"), "qa": ("oracle", "bm25")}
CEILING_METHODS = ("oracle",)
#: Headline score per task (a key of the SCROLLS metric's output).
METHOD_DESCRIPTIONS = {
    ("summarization", "oracle"): "extractive oracle: sentences chosen greedily to maximise ROUGE",
    ("summarization", "lead"): "lead: the first sentences, up to the reference length budget",
    ("summarization", "lexrank"): "LexRank (sumy): the k most central sentences",
    ("qa", "oracle"): "best span: the answer span of the input with the highest token F1",
    ("qa", "bm25"): "BM25 sentence retrieval (rank_bm25), answer span from the best sentence",
}
SPLITTER = "pysbd (rule-based, per line)"
ENERGY_METHOD = "cpu-time-estimate"
#: The project's assumed power of one busy core (the profile default; see tradeoff.energy).
DEFAULT_CPU_WATTS_PER_CORE: float = Profile.model_fields["cpu_watts_per_core"].default
#: Validation ids per dataset by default, per task: the demo stand-ins' 4 datasets x 4 lengths
#: then take about 40 s of CPU on 2 cores (LexRank and the oracle grow quadratically with the
#: input; a QA example is cheaper, and a share needs more of them to be resolved).
DEFAULT_MAX_SAMPLES = {"summarization": 20, "qa": 50}
DEFAULT_SPAN_MARGIN = 10


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CeilingResult:
    """Score and cost of one method on one dataset at one input length.

    Attributes:
        dataset: One of the SCROLLS dataset names.
        task: ``"summarization"`` or ``"qa"``.
        source: ``"aclsum"`` (stand-ins) or ``"scrolls"``.
        length: Input length in tokens (special tokens included, as the models count).
        method: ``"oracle"``, ``"lead"``, ``"lexrank"`` or ``"bm25"``.
        kind: ``"ceiling"`` or ``"baseline"``.
        metric: Name of the headline score (``"rouge_geomean"`` or ``"f1"``).
        score: The headline score, 0-100.
        scores: Every score of the SCROLLS metric (plus ``recoverable_share`` and
            ``answer_coverage`` for the QA ceiling), 0-100.
        n_samples: Examples scored (unique ids).
        n_available: Unique validation ids before subsampling.
        truncated_share: Fraction of inputs longer than ``length`` tokens.
        kept_tokens_mean: Mean input tokens kept (special tokens included).
        cpu_s_per_sample: Mean process CPU seconds per example.
        cpu_watts_per_core: Assumed watts per busy core of the energy estimate.
        tokenizer: Label of the tokenizer that counted the tokens.
        ids: Example ids, in scoring order.
        predictions: One prediction per example.
        references: The references of each example.
        energy_method: Always ``"cpu-time-estimate"``: an estimate, not a measurement.
        splitter: The sentence splitter.
        env: Where the CPU time was measured (:func:`tradeoff.env.describe_cpu`).
    """

    dataset: str
    task: str
    source: str
    length: int
    method: str
    kind: str
    metric: str
    score: float
    scores: Mapping[str, float]
    n_samples: int
    n_available: int
    truncated_share: float
    kept_tokens_mean: float
    cpu_s_per_sample: float
    cpu_watts_per_core: float
    tokenizer: str
    ids: tuple[str, ...] = field(repr=False)
    predictions: tuple[str, ...] = field(repr=False)
    references: tuple[tuple[str, ...], ...] = field(repr=False)
    energy_method: str = ENERGY_METHOD
    splitter: str = SPLITTER
    env: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def energy_j_per_sample(self) -> float:
        """Estimated CPU energy per example: CPU seconds x assumed watts per busy core."""
        return self.cpu_s_per_sample * self.cpu_watts_per_core

    def to_record(self, *, profile: str, key: str, tokenizer_hash: str,
                  seed: int = 0) -> CeilingRecord:
        """This result as a record of its own kind (:class:`tradeoff.records.CeilingRecord`).

        Args:
            profile: Name of the profile whose results folder keeps the record.
            key: :func:`cache_key` of the result (every input it depends on).
            tokenizer_hash: :func:`tokenizer_digest` of the tokenizer.
            seed: Seed of the validation subsample.
        """
        from datetime import datetime, timezone

        def finite(value: float) -> float | None:
            return None if value is None or not math.isfinite(value) else float(value)

        return CeilingRecord(
            kind=self.kind, profile=profile, key=key, dataset=self.dataset, task=self.task,
            source=self.source, length=self.length, method=self.method,
            description=METHOD_DESCRIPTIONS[(self.task, self.method)],
            tokenizer=self.tokenizer, tokenizer_hash=tokenizer_hash, seed=seed,
            metric=self.metric, score=finite(self.score),
            scores={k: finite(v) for k, v in self.scores.items()},
            n_samples=self.n_samples, n_available=self.n_available,
            truncated_share=finite(self.truncated_share),
            kept_tokens_mean=finite(self.kept_tokens_mean),
            cpu_s_per_sample=finite(self.cpu_s_per_sample),
            cpu_watts_per_core=self.cpu_watts_per_core, energy_method=self.energy_method,
            splitter=self.splitter, ids=list(self.ids), predictions=list(self.predictions),
            references=[list(r) for r in self.references], env=dict(self.env),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the cache format)."""
        out = asdict(self)
        out["scores"] = dict(self.scores)
        out["env"] = dict(self.env)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CeilingResult:
        """Inverse of :meth:`to_json`."""
        data = dict(data)
        data["ids"] = tuple(data["ids"])
        data["predictions"] = tuple(data["predictions"])
        data["references"] = tuple(tuple(r) for r in data["references"])
        return cls(**data)


# --------------------------------------------------------------------------------------------
# Truncation as the models see it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisibleInput:
    """What a model of a given input length sees of one example.

    Attributes:
        query: The query (empty for plain summarization).
        document: The whole document.
        cut: Characters of ``document`` inside the truncated input (0 when the query fills it).
        kept_tokens: Input tokens kept, special tokens included.
        truncated: Whether the input was longer than the length.
    """

    query: str
    document: str
    cut: int
    kept_tokens: int
    truncated: bool

    @property
    def visible_document(self) -> str:
        """The part of the document the model sees."""
        return self.document[:self.cut]


def tokenizer_label(tokenizer: Any) -> str:
    """A short name for a tokenizer: its folder or hub name."""
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    return Path(name).name or name


def tokenizer_digest(tokenizer: Any) -> str:
    """A hash of a tokenizer's full definition (vocabulary, merges, normalisation, specials)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    return hashlib.sha256(f"{specials}|{text}".encode()).hexdigest()[:16]


def _whitespace_cut(text: str, limit: int) -> int:
    """The last whitespace position at or before ``limit`` (``limit`` if there is none)."""
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    return cut if cut > 0 else limit


def _token_ends(texts: Sequence[str], tokenizer: Any, needed: int) -> list[tuple[list[int], float]]:
    """End character offsets of the first ``needed`` tokens of each text, and its token count.

    A long text is tokenized only up to a whitespace boundary far enough in to hold ``needed``
    tokens and one more: the pre-tokenizers of byte-level BPE and SentencePiece split at
    whitespace, so every token before the boundary's last word is the full text's token. The
    count is ``inf`` for texts known only to be longer than ``needed`` tokens.
    """
    out: list[tuple[list[int], float] | None] = [None] * len(texts)
    todo = list(range(len(texts)))
    chars = 8 * needed + 256
    while todo:
        prefixes = [texts[i][:_whitespace_cut(texts[i], chars)] if len(texts[i]) > chars
                    else texts[i] for i in todo]
        encoded = tokenizer(prefixes, add_special_tokens=False, return_offsets_mapping=True)
        retry = []
        for i, prefix, offsets in zip(todo, prefixes, encoded["offset_mapping"]):
            complete = len(prefix) == len(texts[i])
            if complete or len(offsets) > needed:
                out[i] = ([end for _, end in offsets[:needed]],
                          float(len(offsets)) if complete else math.inf)
            else:
                retry.append(i)
        todo, chars = retry, chars * 2
    return out  # type: ignore[return-value]


def visible_inputs(texts: Sequence[str], lengths: Sequence[int], tokenizer: Any,
                   has_query: bool = False) -> dict[int, list[VisibleInput]]:
    """Cut each input to what a model with each input length sees.

    As the models' tokenization (``truncation=True, max_length=length``) does: the special
    tokens the tokenizer adds (``<s>``, ``</s>``) take their places and the first
    ``length - specials`` tokens of the text remain. The text is tokenized once for all lengths.

    Args:
        texts: Inputs as SCROLLS writes them ("query\\n\\ndocument" when ``has_query``).
        lengths: Input lengths in tokens.
        tokenizer: A fast Hugging Face tokenizer (offsets are needed).
        has_query: Whether the inputs start with a query (QMSum, Qasper).

    Returns:
        ``{length: [VisibleInput per text]}``.
    """
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    budgets = {length: length - specials for length in lengths}
    if min(budgets.values(), default=1) <= 0:
        raise ValueError(f"input lengths {sorted(lengths)} leave no room for text "
                         f"({specials} special tokens)")
    ends = _token_ends(texts, tokenizer, max(budgets.values()))
    out: dict[int, list[VisibleInput]] = {length: [] for length in lengths}
    for text, (token_ends, total) in zip(texts, ends):
        query, document = split_query(text) if has_query else ("", text)
        start = len(query) + len(QUERY_SEPARATOR) if query else len(text) - len(document)
        for length, budget in budgets.items():
            kept = int(min(total, budget))
            cut = len(text) if total <= budget else (token_ends[kept - 1] if kept else 0)
            out[length].append(VisibleInput(query, document, max(0, cut - start),
                                            kept + specials, total > budget))
    return out


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


@functools.lru_cache(maxsize=2**16)
def _line_sentences(line: str) -> tuple[tuple[tuple[int, int], ...], float]:
    """Sentence spans of one line (stripped, non-empty) and the CPU seconds the split took."""
    start_cpu = time.process_time()
    spans, position = [], 0
    for piece in _segmenter().segment(line):
        text = piece.strip()
        if not text:
            continue
        at = line.find(text, position)
        if at < 0:  # pysbd changed the text: keep what can be located, never guess
            continue
        spans.append((at, at + len(text)))
        position = at + len(text)
    return tuple(spans), time.process_time() - start_cpu


def sentences(document: str, cut: int | None = None,
              max_words: float | None = None) -> tuple[list[str], float]:
    """Sentences of ``document[:cut]`` by pysbd, one line at a time.

    Args:
        document: The whole document.
        cut: Characters visible (None: all). The line the cut falls in is split whole and its
            sentences are clipped at the cut, so a truncated sentence keeps its visible words.
        max_words: Stop after the line where the sentences reach this many words (a reader of
            the beginning only, such as the lead baseline, splits no more than it reads).

    Returns:
        The visible sentences in document order and the CPU seconds their splitting cost
        (each line's split is measured once per process and charged to every reader).
    """
    cut = len(document) if cut is None else cut
    out, cpu_s, start, words = [], 0.0, 0, 0
    for line in document.split("\n"):
        if start >= cut or (max_words is not None and words >= max_words):
            break
        if line.strip():
            spans, line_cpu = _line_sentences(line)
            cpu_s += line_cpu
            for a, b in spans:
                if start + a >= cut:
                    break
                text = line[a:min(b, cut - start)].strip()
                if text:
                    out.append(text)
                    words += len(text.split())
        start += len(line) + 1
    return out, cpu_s


# --------------------------------------------------------------------------------------------
# Summarization: the greedy oracle and the baselines
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _rouge_tokenizer():
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=False)  # SCROLLS: no stemming


def _f(overlap: float, predicted: int, reference: int) -> float:
    if overlap <= 0 or predicted == 0 or reference == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


class _Reference:
    """A reference prepared for fast ROUGE: n-gram counts and bit masks for LCS."""

    def __init__(self, text: str):
        tokens = _rouge_tokenizer().tokenize(text)
        self.n = len(tokens)
        self.unigrams = Counter(tokens)
        self.bigrams = Counter(zip(tokens, tokens[1:]))
        self.n_bigrams = max(len(tokens) - 1, 0)
        self.masks: dict[str, int] = {}
        for i, token in enumerate(tokens):
            self.masks[token] = self.masks.get(token, 0) | (1 << i)
        self.full = (1 << self.n) - 1

    def lcs(self, token_lists: Iterable[Sequence[str]]) -> int:
        """LCS length of the concatenated tokens with the reference (bit-parallel, Hyyro 2004)."""
        v, masks, full = self.full, self.masks, self.full
        for tokens in token_lists:
            for token in tokens:
                m = masks.get(token)
                if m:
                    u = v & m
                    v = ((v + u) | (v - u)) & full
        return self.n - v.bit_count()


def greedy_oracle(sentence_texts: Sequence[str], references: Sequence[str]) -> list[int]:
    """Indices (document order) of the greedy extractive oracle of a document.

    Add the sentence that most raises the mean of ROUGE-1, -2 and -L F (each the max over the
    references); stop when no sentence raises it.

    Args:
        sentence_texts: The document's sentences, in order.
        references: The reference summaries.

    Returns:
        The chosen sentence indices, sorted.
    """
    refs = [_Reference(r) for r in references if r.strip()]
    if not refs or not sentence_texts:
        return []
    tokenize = _rouge_tokenizer().tokenize
    tokens = [tokenize(s) for s in sentence_texts]
    vocab = set().union(*(r.unigrams for r in refs))
    # A sentence sharing no word with any reference only lowers precision.
    candidates = [i for i, t in enumerate(tokens) if vocab.intersection(t)]
    unigrams = [Counter(t) for t in tokens]
    bigrams = [Counter(zip(t, t[1:])) for t in tokens]

    chosen: list[int] = []
    sel1, sel2 = Counter(), Counter()  # n-gram counts of the chosen sentences
    base1, base2 = [0] * len(refs), [0] * len(refs)  # their overlaps with each reference
    n1 = n2 = 0
    best = 0.0
    while candidates:
        best_i, best_score = -1, best
        for i in candidates:
            c1 = n1 + len(tokens[i])
            c2 = n2 + max(len(tokens[i]) - 1, 0)
            order = sorted(chosen + [i])
            score_types = [0.0, 0.0, 0.0]
            for r, ref in enumerate(refs):
                # Overlap gained by adding sentence i: only its own n-grams can change it.
                o1 = base1[r] + sum(
                    min(sel1[t] + k, ref.unigrams[t]) - min(sel1[t], ref.unigrams[t])
                    for t, k in unigrams[i].items() if t in ref.unigrams)
                o2 = base2[r] + sum(
                    min(sel2[g] + k, ref.bigrams[g]) - min(sel2[g], ref.bigrams[g])
                    for g, k in bigrams[i].items() if g in ref.bigrams)
                lcs = ref.lcs(tokens[j] for j in order)
                score_types[0] = max(score_types[0], _f(o1, c1, ref.n))
                score_types[1] = max(score_types[1], _f(o2, c2, ref.n_bigrams))
                score_types[2] = max(score_types[2], _f(lcs, c1, ref.n))
            score = sum(score_types) / 3
            if score > best_score:
                best_i, best_score = i, score
        if best_i < 0:
            break
        chosen.append(best_i)
        candidates.remove(best_i)
        sel1 += unigrams[best_i]
        sel2 += bigrams[best_i]
        n1 += len(tokens[best_i])
        n2 += max(len(tokens[best_i]) - 1, 0)
        for r, ref in enumerate(refs):
            base1[r] = sum(min(k, ref.unigrams[t]) for t, k in sel1.items() if t in ref.unigrams)
            base2[r] = sum(min(k, ref.bigrams[g]) for g, k in sel2.items() if g in ref.bigrams)
        best = best_score
    return sorted(chosen)


def budget_sentences(sentence_texts: Sequence[str], budget_words: float) -> int:
    """Sentences to extract so the summary has about ``budget_words`` words (at least 1)."""
    if not sentence_texts:
        return 0
    mean_words = statistics.fmean(len(s.split()) for s in sentence_texts) or 1.0
    return max(1, min(len(sentence_texts), round(budget_words / mean_words)))


def lead(sentence_texts: Sequence[str], budget_words: float) -> list[str]:
    """The first sentences, up to and including the one that reaches ``budget_words`` words."""
    out, words = [], 0
    for sentence in sentence_texts:
        if words >= budget_words and out:
            break
        out.append(sentence)
        words += len(sentence.split())
    return out


class _SumyTokenizer:
    """sumy's tokenizer interface over pysbd sentences and nltk's data-free word tokenizer."""

    language = "english"

    def __init__(self):
        from nltk.tokenize import NLTKWordTokenizer

        self._words = NLTKWordTokenizer()

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(sentences(paragraph)[0])

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(w for w in self._words.tokenize(sentence) if any(c.isalnum() for c in w))


@functools.lru_cache(maxsize=1)
def _lexrank():
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.utils import get_stop_words

    summarizer = LexRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    return summarizer, _SumyTokenizer()


def lexrank(sentence_texts: Sequence[str], k: int) -> list[str]:
    """The ``k`` most central sentences by sumy's LexRank, in document order."""
    if not sentence_texts or k <= 0:
        return []
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence

    summarizer, tokenizer = _lexrank()
    document = ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentence_texts])])
    return [str(s) for s in summarizer(document, k)]


# --------------------------------------------------------------------------------------------
# QA: the best span and the retrieval baseline
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _qa_functions():
    from ..metrics.scrolls.scrolls import normalize_answer, token_f1

    return normalize_answer, token_f1


def _normalized_tokens(text: str) -> tuple[list[str], list[str], list[int]]:
    """Whitespace tokens, their non-empty normalised forms and the raw index of each.

    SCROLLS' normalisation (lowercase, drop punctuation, drop a/an/the, split on whitespace)
    acts within whitespace tokens, so normalising each raw token gives the normalised text.
    """
    normalize_answer, _ = _qa_functions()
    raw = text.split()
    norm, index = [], []
    for i, token in enumerate(raw):
        for piece in normalize_answer(token).split():
            norm.append(piece)
            index.append(i)
    return raw, norm, index


def best_span(document: str, references: Sequence[str],
              span_margin: int = DEFAULT_SPAN_MARGIN) -> tuple[str, float, bool]:
    """The span of ``document`` with the highest token F1 against any reference.

    Spans start and end on a normalised token of the reference (any other boundary token only
    lowers precision) and are at most ``len(reference) + span_margin`` normalised tokens long;
    since F1 <= 2r / (p + r), spans longer than ``r (2 / best - 1)`` cannot beat the best one
    found, which ends the search from a start early.

    Args:
        document: The visible document.
        references: The reference answers.
        span_margin: Spans may be this many normalised tokens longer than the reference.

    Returns:
        ``(span text, F1 in [0, 1], recoverable)``: recoverable when some reference's
        normalised tokens occur contiguously in the normalised document. An empty prediction
        is returned when nothing overlaps (it scores 1 against an empty reference, as in SCROLLS).
    """
    normalize_answer, _ = _qa_functions()
    raw, norm, index = _normalized_tokens(document)
    best_f1, best_at = 0.0, None  # best_at: (first, last) normalised token of the best span
    recoverable = False
    for reference in references:
        ref = normalize_answer(reference).split()
        if not ref:
            recoverable = True
            if best_f1 < 1.0:
                best_f1, best_at = 1.0, None
            continue
        r, ref_counts = len(ref), Counter(ref)
        positions = [k for k, t in enumerate(norm) if t in ref_counts]
        exact = next((k for k in positions if norm[k:k + r] == ref), None)
        if exact is not None:
            recoverable = True
            if best_f1 < 1.0:
                best_f1, best_at = 1.0, (exact, exact + r - 1)
            continue
        for a, start in enumerate(positions):
            seen: Counter = Counter()
            common = 0
            for end in positions[a:]:
                p = end - start + 1
                if p > r + span_margin or (best_f1 > 0 and p >= r * (2 / best_f1 - 1)):
                    break
                token = norm[end]
                seen[token] += 1
                if seen[token] <= ref_counts[token]:
                    common += 1
                f1 = 2 * common / (p + r)
                if f1 > best_f1:
                    best_f1, best_at = f1, (start, end)
    if best_at is None:
        return "", best_f1, recoverable
    first, last = best_at
    return " ".join(raw[index[first]:index[last] + 1]), best_f1, recoverable


def _cloze_answer(sentence: str, question: str) -> str:
    """The part of ``sentence`` that the blank of a cloze ``question`` replaced."""
    left, _, right = question.partition(CLOZE_BLANK)
    words, left_w, right_w = sentence.split(), left.split(), right.split()
    a = 0
    while a < min(len(words), len(left_w)) and words[a] == left_w[a]:
        a += 1
    b = 0
    while b < min(len(words) - a, len(right_w)) and words[-1 - b] == right_w[-1 - b]:
        b += 1
    middle = words[a:len(words) - b]
    return " ".join(middle) if middle else sentence


def bm25_answer(sentence_texts: Sequence[str], question: str) -> str:
    """BM25's best sentence for the question, cut to the blank for a cloze question."""
    from rank_bm25 import BM25Okapi

    normalize_answer, _ = _qa_functions()
    corpus = [(s, normalize_answer(s).split()) for s in sentence_texts]
    corpus = [(s, tokens) for s, tokens in corpus if tokens]
    query = normalize_answer(question).split()
    if not corpus or not query:
        return ""
    scores = BM25Okapi([tokens for _, tokens in corpus]).get_scores(query)
    sentence = corpus[max(range(len(corpus)), key=lambda i: scores[i])][0]
    return _cloze_answer(sentence, question) if CLOZE_BLANK in question else sentence


# --------------------------------------------------------------------------------------------
# One dataset at given lengths
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _metric():
    from ..metrics import load_scrolls_metric

    return load_scrolls_metric(keep_in_memory=True)


def reference_budget(train_outputs: Iterable[str]) -> float:
    """The summary length budget of the baselines: the median words of training references."""
    words = [len(o.split()) for o in train_outputs]
    return float(statistics.median(words)) if words else 0.0


def _run_method(task: str, method: str, view: VisibleInput, refs: Sequence[str],
                budget_words: float, span_margin: int) -> tuple[str, float, bool]:
    """One example: ``(prediction, CPU seconds, recoverable)``.

    The CPU time is the method's own, measured here, plus the measured cost of splitting the
    lines it reads (memoised, so it is charged rather than timed again).
    """
    split_cpu, sents = 0.0, []
    if method == "lead":
        sents, split_cpu = sentences(view.document, view.cut, max_words=budget_words)
    elif not (task == "qa" and method == "oracle"):  # the span search reads raw text
        sents, split_cpu = sentences(view.document, view.cut)
    recoverable = False
    start = time.process_time()
    if task == "summarization":
        if method == "oracle":
            prediction = " ".join(sents[i] for i in greedy_oracle(sents, refs))
        elif method == "lead":
            prediction = " ".join(lead(sents, budget_words))
        elif method == "lexrank":
            prediction = " ".join(lexrank(sents, budget_sentences(sents, budget_words)))
        else:
            raise ValueError(f"unknown summarization method {method!r}")
    elif method == "oracle":
        prediction, _, recoverable = best_span(view.visible_document, refs, span_margin)
    elif method == "bm25":
        prediction = bm25_answer(sents, view.query)
    else:
        raise ValueError(f"unknown QA method {method!r}")
    return prediction, time.process_time() - start + split_cpu, recoverable


def compute_ceilings(
    dataset: str,
    split: Any,
    lengths: int | Sequence[int],
    tokenizer: Any,
    *,
    methods: Sequence[str] | None = None,
    budget_words: float | None = None,
    source: str = "aclsum",
    cpu_watts_per_core: float = DEFAULT_CPU_WATTS_PER_CORE,
    span_margin: int = DEFAULT_SPAN_MARGIN,
    n_available: int | None = None,
    on_length: Callable[[int], None] | None = None,
) -> list[CeilingResult]:
    """Ceilings and baselines of one dataset's rows at each input length.

    Args:
        dataset: One of the SCROLLS dataset names (its task and query layout follow).
        split: Rows with ``id``, ``input`` and ``output`` (a ``datasets.Dataset`` or dicts);
            rows sharing an id are one example with several references.
        lengths: Input length(s) in tokens.
        tokenizer: The model's fast tokenizer.
        methods: Subset of :data:`METHODS` for the task (None: all).
        budget_words: Summary budget of ``lead``/``lexrank`` in words (see
            :func:`reference_budget`); required for those.
        source: Data source, recorded.
        cpu_watts_per_core: Assumed watts per busy core of the energy estimate.
        span_margin: See :func:`best_span`.
        n_available: Unique ids before subsampling, recorded (None: those given).
        on_length: Called with each length when its results are done (progress bars).

    Returns:
        One :class:`CeilingResult` per (length, method), lengths outer.
    """
    task = TASKS[dataset]
    methods = tuple(methods or METHODS[task])
    unknown = set(methods) - set(METHODS[task])
    if unknown:
        raise ValueError(f"unknown {task} method(s) {sorted(unknown)}; valid: {METHODS[task]}")
    if task == "summarization" and budget_words is None and set(methods) - {"oracle"}:
        raise ValueError("lead and lexrank need budget_words (see reference_budget)")
    lengths = [lengths] if isinstance(lengths, int) else list(lengths)
    grouped = group_references(split)
    ids, texts = list(grouped["id"]), list(grouped["input"])
    references = [tuple(r) for r in grouped["references"]]
    if not ids:
        raise ValueError(f"no rows to score for {dataset}")
    views = visible_inputs(texts, lengths, tokenizer, has_query=dataset in QUERY_DATASETS)
    label = tokenizer_label(tokenizer)
    coverage = (answer_coverage(answer_positions(split, tokenizer), lengths)
                if task == "qa" and "oracle" in methods else {})
    env = dict(describe_cpu())
    results = []
    for length in lengths:
        for method in methods:
            predictions, cpu, recoverable = [], [], []
            for view, refs in zip(views[length], references):
                prediction, cpu_s, found = _run_method(
                    task, method, view, refs, budget_words or 0.0, span_margin)
                predictions.append(prediction)
                cpu.append(cpu_s)
                recoverable.append(found)
            scores = _metric().compute(predictions=predictions,
                                       references=[list(r) for r in references], task=task)
            scores = {k: float(v) for k, v in scores.items()}
            if task == "qa" and method == "oracle":
                scores["recoverable_share"] = 100.0 * statistics.fmean(recoverable)
                scores["answer_coverage"] = 100.0 * coverage[length]
            results.append(CeilingResult(
                dataset=dataset, task=task, source=source, length=length, method=method,
                kind="ceiling" if method in CEILING_METHODS else "baseline",
                metric=HEADLINE[task], score=scores[HEADLINE[task]], scores=scores,
                n_samples=len(ids), n_available=n_available or len(ids),
                truncated_share=statistics.fmean(v.truncated for v in views[length]),
                kept_tokens_mean=statistics.fmean(v.kept_tokens for v in views[length]),
                cpu_s_per_sample=statistics.fmean(cpu), cpu_watts_per_core=cpu_watts_per_core,
                tokenizer=label, ids=tuple(ids), predictions=tuple(predictions),
                references=tuple(references), env=env))
        if on_length is not None:
            on_length(length)
    return results


# --------------------------------------------------------------------------------------------
# All lengths of a profile, cached
# --------------------------------------------------------------------------------------------


def _default_cache_dir() -> Path:
    from ..config import CACHE_DIR

    return Path(CACHE_DIR) / "ceilings"


def _rows_digest(split: Any, budget_words: float | None) -> str:
    digest = hashlib.sha256(f"{budget_words!r}".encode())
    for row in split:
        digest.update(json.dumps([row["id"], row["input"], row["output"]]).encode())
    return digest.hexdigest()[:16]


def cache_key(dataset: str, source: str, length: int, method: str, rows_digest: str,
              tokenizer_hash: str, span_margin: int) -> str:
    """The hash naming one cached result: every input that can change it, and the code version."""
    payload = {"version": CODE_VERSION, "dataset": dataset, "source": source, "length": length,
               "method": method, "rows": rows_digest, "tokenizer": tokenizer_hash,
               "span_margin": span_margin if TASKS[dataset] == "qa" else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _cache_path(cache_dir: Path, dataset: str, length: int, method: str, key: str) -> Path:
    return cache_dir / f"{dataset}-L{length}-{method}-{key}.json"


def _load_cached(path: Path, cpu_watts_per_core: float) -> CeilingResult | None:
    try:
        result = CeilingResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None  # absent or unreadable: compute again
    # The watts are an assumption applied to the measured CPU time, not part of the result.
    return replace(result, cpu_watts_per_core=cpu_watts_per_core)


def _save(path: Path, result: CeilingResult) -> None:
    from ..records import write_atomically

    write_atomically(path, json.dumps(result.to_json()))


def default_tokenizer(profile: Profile, cache_dir: str | os.PathLike | None = None,
                      splits: Mapping[str, Any] | None = None):
    """The tokenizer the setup chapter counts lengths with (the profile's vocabulary size).

    Args:
        profile: Gives the datasets, source, data folder and vocabulary size.
        cache_dir: Where the trained tokenizer is cached (None: the project cache).
        splits: The profile's splits when already loaded (:func:`tradeoff.data.load_splits`).

    Returns:
        A ``PreTrainedTokenizerFast`` (see :func:`tradeoff.data.length_tokenizer`).
    """
    from ..config import CACHE_DIR
    from ..data import length_tokenizer, load_splits

    folder = Path(cache_dir) if cache_dir else Path(CACHE_DIR) / "tokenizers"
    splits = dict(splits) if splits is not None else load_splits(profile)
    return length_tokenizer(splits, profile.vocab_size, folder)


def _tokenizer_and_splits(profile: Profile, tokenizer: Any) -> tuple[Any, dict[str, Any]]:
    """The tokenizer (default: :func:`default_tokenizer`) and the splits loaded for it, if any.

    Building the stand-ins takes seconds; loading them once for both keeps a run that finds
    everything done short.
    """
    if tokenizer is not None:
        return tokenizer, {}
    from ..data import load_splits

    splits = load_splits(profile)
    return default_tokenizer(profile, splits=splits), splits


@dataclass(frozen=True)
class CeilingUpdate:
    """What :func:`ceiling_records` found, computed and wrote.

    Attributes:
        records: One record per (dataset, length, method) of the selection, in table order.
        paths: Their files under ``<results_dir>/ceilings/``.
        computed: Results computed now (in neither a record nor the cache).
        written: Record files written now (new results, or a changed key or wattage).
    """

    records: list[CeilingRecord]
    paths: list[Path]
    computed: int
    written: int


def _resolve(
    profile: Profile,
    tokenizer: Any,
    *,
    datasets: Sequence[str] | None,
    lengths: Sequence[int] | None,
    methods: Sequence[str] | None,
    max_samples: int | Mapping[str, int | None] | None,
    seed: int,
    span_margin: int,
    cache_dir: str | os.PathLike | None,
    show_progress: bool,
    known: Callable[[str, int, str, str], bool] | None = None,
    splits: Mapping[str, Any] | None = None,
) -> tuple[list[tuple[str, int, str, str, CeilingResult | None]], int]:
    """Every (dataset, length, method) of a selection with its key and result.

    A result is skipped when ``known(dataset, length, method, key)`` says the caller already
    holds it (returned as None), read from the cache when its key matches, and computed
    otherwise (then cached). ``splits`` holds datasets already loaded (an error text where
    one was not available: it is loaded again, so the error is raised here).

    Returns:
        ``([(dataset, length, method, key, result or None)], number computed)``, per dataset
        in :data:`METHODS` order, then length.
    """
    from tqdm.auto import tqdm

    from ..data import load_dataset_splits

    datasets = list(datasets or profile.datasets)
    lengths = sorted(lengths or profile.lengths)
    cache = Path(cache_dir) if cache_dir else _default_cache_dir()
    tokenizer_hash = tokenizer_digest(tokenizer)
    watts = profile.cpu_watts_per_core
    out: list[tuple[str, int, str, str, CeilingResult | None]] = []
    computed = 0
    total = len(datasets) * len(lengths)
    with tqdm(total=total, desc="ceilings", disable=not show_progress) as bar:
        for dataset in datasets:
            task = TASKS[dataset]
            wanted = [m for m in METHODS[task] if methods is None or m in methods]
            loaded = (splits or {}).get(dataset)
            if loaded is None or isinstance(loaded, str):
                loaded = load_dataset_splits(dataset, profile.source, profile.data_dir)
            validation = loaded["validation"]
            n_available = len(set(validation["id"]))
            limit = DEFAULT_MAX_SAMPLES if max_samples is None else max_samples
            limit = limit.get(task) if isinstance(limit, Mapping) else limit
            validation = subsample_by_id(validation, limit, seed)
            budget = (reference_budget(loaded["train"]["output"]) if task == "summarization"
                      else None)
            digest = _rows_digest(validation, budget)
            keys = {(length, method): cache_key(dataset, profile.source, length, method, digest,
                                                tokenizer_hash, span_margin)
                    for length in lengths for method in wanted}
            found: dict[tuple[int, str], CeilingResult | None] = {}
            missing: dict[int, list[str]] = {}
            for (length, method), key in keys.items():
                if known is not None and known(dataset, length, method, key):
                    found[(length, method)] = None
                    continue
                cached = _load_cached(_cache_path(cache, dataset, length, method, key), watts)
                if cached is None:
                    missing.setdefault(length, []).append(method)
                else:
                    found[(length, method)] = cached
            bar.update(len(lengths) - len(missing))
            # Lengths missing the same methods are computed together: one tokenization.
            groups: dict[tuple[str, ...], list[int]] = {}
            for length, todo in missing.items():
                groups.setdefault(tuple(todo), []).append(length)
            for todo, todo_lengths in groups.items():
                for result in compute_ceilings(
                        dataset, validation, todo_lengths, tokenizer, methods=todo,
                        budget_words=budget, source=profile.source, cpu_watts_per_core=watts,
                        span_margin=span_margin, n_available=n_available,
                        on_length=lambda _: bar.update(1)):
                    key = keys[(result.length, result.method)]
                    _save(_cache_path(cache, dataset, result.length, result.method, key), result)
                    found[(result.length, result.method)] = result
                    computed += 1
            out += [(dataset, length, method, keys[(length, method)], found[(length, method)])
                    for method in wanted for length in lengths]
    return out, computed


def ceiling_table(
    profile: Profile,
    tokenizer: Any = None,
    *,
    datasets: Sequence[str] | None = None,
    lengths: Sequence[int] | None = None,
    methods: Sequence[str] | None = None,
    max_samples: int | Mapping[str, int | None] | None = None,
    seed: int = 0,
    span_margin: int = DEFAULT_SPAN_MARGIN,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Ceilings and baselines of every dataset and input length of a profile, as a tidy table.

    Each (dataset, length, method) is read from the cache when its key matches and computed
    otherwise. The validation split is subsampled to ``max_samples`` unique ids (seeded, the
    same ids at every length), so every length scores the same examples. Nothing is written
    to a results folder (:func:`ceiling_records` does that).

    Args:
        profile: Gives datasets, lengths, source, data folder and ``cpu_watts_per_core``.
        tokenizer: The tokenizer counting the tokens (None: :func:`default_tokenizer`).
        datasets: Override the profile's datasets.
        lengths: Override the profile's lengths.
        methods: Restrict the methods (names of :data:`METHODS`; each task keeps its own).
        max_samples: Unique validation ids per dataset: a number, ``{task: number}``, or None
            for :data:`DEFAULT_MAX_SAMPLES`. A number larger than the split keeps all; use
            ``{"summarization": None, "qa": None}`` for every id.
        seed: Seed of the subsample.
        span_margin: See :func:`best_span`.
        cache_dir: Cache folder (None: ``.cache/ceilings`` of the project cache).
        show_progress: Show a tqdm bar over (dataset, length).

    Returns:
        :func:`tradeoff.analysis.table.tidy_ceilings` of the results: one row per (dataset,
        length, method), ceilings first, then by method and length.
    """
    from .table import tidy_ceilings

    tokenizer, splits = _tokenizer_and_splits(profile, tokenizer)
    tokenizer_hash = tokenizer_digest(tokenizer)
    items, _ = _resolve(profile, tokenizer, datasets=datasets, lengths=lengths, methods=methods,
                        max_samples=max_samples, seed=seed, span_margin=span_margin,
                        cache_dir=cache_dir, show_progress=show_progress, splits=splits)
    return tidy_ceilings([result.to_record(profile=profile.name, key=key,
                                           tokenizer_hash=tokenizer_hash, seed=seed)
                          for *_, key, result in items])


def ceiling_records(
    profile: Profile,
    results_dir: str | os.PathLike | None = None,
    tokenizer: Any = None,
    *,
    datasets: Sequence[str] | None = None,
    lengths: Sequence[int] | None = None,
    methods: Sequence[str] | None = None,
    max_samples: int | Mapping[str, int | None] | None = None,
    seed: int = 0,
    span_margin: int = DEFAULT_SPAN_MARGIN,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool = True,
) -> CeilingUpdate:
    """The profile's ceilings and baselines as records, computing only what is missing.

    For each (dataset, length, method) of the selection, a record under
    ``<results_dir>/ceilings/`` whose key matches is kept as it is (never computed again, and
    not rewritten unless the profile's ``cpu_watts_per_core`` changed, which only rescales the
    energy estimate); otherwise the result comes from the cache or is computed, and its record
    is written atomically (:func:`tradeoff.records.save_record`). An unreadable record is
    replaced. Records of other lengths, methods or tokenizers are left alone.

    Args:
        profile: As for :func:`ceiling_table`; names the records' profile.
        results_dir: The results folder (None: the profile's).
        tokenizer: The tokenizer counting the tokens (None: :func:`default_tokenizer`).
        datasets, lengths, methods, max_samples, seed, span_margin, cache_dir, show_progress:
            As for :func:`ceiling_table`.

    Returns:
        A :class:`CeilingUpdate`.
    """
    results_dir = Path(results_dir) if results_dir is not None else profile.results_path
    tokenizer, splits = _tokenizer_and_splits(profile, tokenizer)
    tokenizer_hash = tokenizer_digest(tokenizer)
    watts = profile.cpu_watts_per_core
    existing: dict[Path, CeilingRecord] = {}

    def known(dataset: str, length: int, method: str, key: str) -> bool:
        path = ceiling_record_path(results_dir, dataset, length, method, tokenizer_hash)
        try:
            record = load_ceiling_record(path)
        except RecordError:
            return False  # absent, unreadable or of another schema: made again
        if record.key != key:
            return False
        existing[path] = record
        return True

    items, computed = _resolve(
        profile, tokenizer, datasets=datasets, lengths=lengths, methods=methods,
        max_samples=max_samples, seed=seed, span_margin=span_margin, cache_dir=cache_dir,
        show_progress=show_progress, known=known, splits=splits)
    records, paths, written = [], [], 0
    for dataset, length, method, key, result in items:
        path = ceiling_record_path(results_dir, dataset, length, method, tokenizer_hash)
        record = existing.get(path)
        if record is not None and record.cpu_watts_per_core == watts:
            pass
        elif record is not None:  # the same measurement under another assumed wattage
            record = record.model_copy(update={"cpu_watts_per_core": watts})
            save_record(record, path)
            written += 1
        else:
            record = result.to_record(profile=profile.name, key=key,
                                      tokenizer_hash=tokenizer_hash, seed=seed)
            save_record(record, path)
            written += 1
        records.append(record)
        paths.append(path)
    return CeilingUpdate(records, paths, computed, written)
