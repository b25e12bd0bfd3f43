"""The methods: what each ceiling and baseline predicts from what a model of a given length sees.

Everything here is a property of the data and of simple methods, not of LED or BigBird. Each
method reads one example's :class:`~tradeoff.ceilings.truncate.VisibleInput`:

* **Ceilings** (``kind="ceiling"``, method ``"oracle"``)

  - Summarization: the greedy extractive oracle of the truncated document. Starting from an
    empty summary, add the sentence that most improves the score against the reference; stop
    when no sentence improves it. The search objective is the mean of the ROUGE-1, -2 and -L
    F-measures (the geometric mean is zero whenever one of them is, which would stall the search
    at an empty summary); ROUGE-1 and -L are exact for the joined text, ROUGE-2 counts bigrams
    inside sentences only, as the usual oracle does.
  - QA: the best span. Whether the answer text (normalised as SCROLLS' F1 normalises it)
    occurs as a contiguous run of the truncated document (``recoverable``) and the best token
    F1 any span of it reaches, max over references. Spans are searched over the document part
    only (the query is not evidence), start and end on a token of the reference, and are at
    most ``len(reference) + span_margin`` normalised tokens long; with the F1 bound
    ``2r / (p + r)`` the search stops early once a shorter span is known to be better. For the
    cloze stand-in (short answers copied from the paper) it is exact.

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

Sentence splitting works offline with no downloads: ``pysbd`` (rule-based, English), applied
per line (paragraph breaks always end a sentence). A line's split is computed once per process
and its measured CPU time is charged to every input that reads that line (the line cut by the
truncation is split whole and its sentences clipped at the cut). ``sumy`` gets the pysbd
sentences directly and ``nltk``'s ``NLTKWordTokenizer`` (regular expressions, no data files)
for words, so neither needs nltk's punkt data. :func:`predict` runs one method on one example
and measures its process CPU time, sentence splitting included.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from ..data.rows import CLOZE_BLANK
from .truncate import VisibleInput

#: Methods per task, ceiling first.
METHODS = {"summarization": ("oracle", "lead", "lexrank"), "qa": ("oracle", "bm25")}
CEILING_METHODS = ("oracle",)
#: What each method is, in the words its records carry.
METHOD_DESCRIPTIONS = {
    ("summarization", "oracle"): "extractive oracle: sentences chosen greedily to maximise ROUGE",
    ("summarization", "lead"): "lead: the first sentences, up to the reference length budget",
    ("summarization", "lexrank"): "LexRank (sumy): the k most central sentences",
    ("qa", "oracle"): "best span: the answer span of the input with the highest token F1",
    ("qa", "bm25"): "BM25 sentence retrieval (rank_bm25), answer span from the best sentence",
}
SPLITTER = "pysbd (rule-based, per line)"
DEFAULT_SPAN_MARGIN = 10


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
def _normalizer():
    """SCROLLS' answer normalisation, imported when a QA method first runs.

    The metric's file imports ``evaluate`` (and with it torch, seconds) at its top, as
    ``evaluate`` requires of the single file it copies; importing it here keeps
    ``import tradeoff.ceilings`` light.
    """
    from ..metrics.scrolls.scrolls import normalize_answer

    return normalize_answer


def _normalized_tokens(text: str) -> tuple[list[str], list[str], list[int]]:
    """Whitespace tokens, their non-empty normalised forms and the raw index of each.

    SCROLLS' normalisation (lowercase, drop punctuation, drop a/an/the, split on whitespace)
    acts within whitespace tokens, so normalising each raw token gives the normalised text.
    """
    normalize_answer = _normalizer()
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
    normalize_answer = _normalizer()
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

    normalize_answer = _normalizer()
    corpus = [(s, normalize_answer(s).split()) for s in sentence_texts]
    corpus = [(s, tokens) for s, tokens in corpus if tokens]
    query = normalize_answer(question).split()
    if not corpus or not query:
        return ""
    scores = BM25Okapi([tokens for _, tokens in corpus]).get_scores(query)
    sentence = corpus[max(range(len(corpus)), key=lambda i: scores[i])][0]
    return _cloze_answer(sentence, question) if CLOZE_BLANK in question else sentence


# --------------------------------------------------------------------------------------------
# One example
# --------------------------------------------------------------------------------------------


def reference_budget(train_outputs: Iterable[str]) -> float:
    """The summary length budget of the baselines: the median words of training references."""
    words = [len(o.split()) for o in train_outputs]
    return float(statistics.median(words)) if words else 0.0


def predict(task: str, method: str, view: VisibleInput, refs: Sequence[str],
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

