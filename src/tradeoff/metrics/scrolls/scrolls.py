"""SCROLLS metric (ROUGE for summarization, token F1 / exact match for QA) as an `evaluate` module.

Loaded by path with `evaluate.load(<this directory>, "<dataset>")`, so it never needs the Hub. As in
SCROLLS' official metric, the config name is the SCROLLS dataset (`gov_report`, `summ_screen_fd`,
`qmsum`: ROUGE; `qasper`, `narrative_qa`, `quality`, `contract_nli`: F1 and exact match) and an
unknown one raises. `task=` at compute time still works (with no config name it selects the
metric; with one it must agree), so no call computes the wrong metric silently. `evaluate` copies
this file alone into its modules cache (under a hash of its contents) and imports the copy, so the
file is deliberately self-contained: all scoring math lives here, and it imports neither
siblings (relative imports) nor the `tradeoff` package. Optional dependencies (nltk) are imported inside functions,
because `evaluate` treats every top-level import as a hard requirement.

The scoring follows SCROLLS (Shaham et al., 2022) and its official metric script:

* Summarization: `rouge_score` ROUGE-1/2/L and ROUGE-Lsum F-measures, no stemming. Each example
  scores the max F over its references, independently per ROUGE type (as `RougeScorer.score_multi`);
  the mean over examples is reported x100. The headline `rouge_geomean` is the geometric mean of the
  mean ROUGE-1, ROUGE-2 and ROUGE-L.
* QA: SQuAD normalisation (lowercase, strip ASCII punctuation, drop the articles a/an/the, collapse
  whitespace), then token-multiset F1 and exact match, max over references, mean x100.
"""

import functools
import math
import re
import string
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence

import datasets
import evaluate
from rouge_score import rouge_scorer

TASKS = ("summarization", "qa")
#: SCROLLS dataset config name -> task. The official metric scores quality and contract_nli by exact
#: match alone (its headline); F1 is reported beside it here.
DATASET_TASKS = {
    "gov_report": "summarization",
    "summ_screen_fd": "summarization",
    "qmsum": "summarization",
    "qasper": "qa",
    "narrative_qa": "qa",
    "quality": "qa",
    "contract_nli": "qa",
}
#: The config name `evaluate` gives a module loaded without one.
DEFAULT_CONFIG = "default"
SENTENCE_SPLITTERS = ("auto", "nltk", "regex")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

_CITATION = """\
@inproceedings{shaham-etal-2022-scrolls,
    title = "{SCROLLS}: Standardized {C}ompa{R}ison Over Long Language Sequences",
    author = "Shaham, Uri and Segal, Elad and Ivgi, Maor and Efrat, Avia and Yoran, Ori and
              Haviv, Adi and Gupta, Ankit and Xiong, Wenhan and Geva, Mor and Berant, Jonathan and
              Levy, Omer",
    booktitle = "Proceedings of EMNLP 2022",
    year = "2022",
}
"""

_DESCRIPTION = """\
SCROLLS scoring for the summarization datasets (GovReport, SummScreenFD, QMSum) and the QA dataset
Qasper: ROUGE-1/2/L/Lsum with their geometric mean, or SQuAD-style token F1 and exact match.
Every example may have several references; the best-matching one counts. Scores are x100.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): one generated text per example.
    references (list of list of str): the reference texts of each example (a single str per
        example is accepted too).
    task (str, optional): "summarization" (ROUGE) or "qa" (F1 / exact match). Implied by the config
        name (the SCROLLS dataset); if given as well it must agree. Required without a config name.
    sentence_splitter (str): how ROUGE-Lsum splits texts into sentences: "auto" (nltk's
        sent_tokenize when its punkt data is installed, else "regex"), "nltk" or "regex".
        Only ROUGE-Lsum depends on it. Defaults to "auto".
Returns:
    summarization: rouge1, rouge2, rougeL, rougeLsum, rouge_geomean (floats, 0-100).
    qa: f1, exact_match (floats, 0-100).
Examples:
    >>> metric = evaluate.load("src/tradeoff/metrics/scrolls", "qasper")
    >>> metric.compute(predictions=["the cat sat"], references=[["a cat sat down"]])
    {'f1': 80.0, 'exact_match': 0.0}
"""


# ---------------------------------------------------------------------------------------------
# QA: SQuAD-style normalisation, token F1, exact match
# ---------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Normalises an answer the way the SQuAD (and SCROLLS) evaluation scripts do.

    Args:
        text: Raw answer text.

    Returns:
        The text lowercased, with ASCII punctuation removed (not replaced, so "don't" becomes
        "dont"), the whole words a/an/the dropped, and whitespace collapsed to single spaces.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    """Token-level F1 between two answers after `normalize_answer`.

    Tokens are compared as multisets, so a repeated token counts at most as often as it appears
    in both texts.

    Args:
        prediction: Predicted answer.
        reference: Reference answer.

    Returns:
        F1 in [0, 1]. If either normalised text is empty, 1.0 when both are empty and 0.0
        otherwise (the SQuAD v2 convention; SQuAD v1 would give 0.0 for two empty texts).
    """
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    common = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    """Exact match after `normalize_answer`.

    Args:
        prediction: Predicted answer.
        reference: Reference answer.

    Returns:
        1.0 if the normalised texts are equal, else 0.0.
    """
    return float(normalize_answer(prediction) == normalize_answer(reference))


def max_over_references(
    score_fn: Callable[[str, str], float], prediction: str, references: Sequence[str]
) -> float:
    """Best score of a prediction against any of its references.

    Args:
        score_fn: Function `(prediction, reference) -> float`, e.g. `token_f1`.
        prediction: Predicted text.
        references: The example's reference texts (at least one).

    Returns:
        The maximum of `score_fn` over the references.

    Raises:
        ValueError: If `references` is empty.
    """
    if not references:
        raise ValueError("every example needs at least one reference")
    return max(score_fn(prediction, reference) for reference in references)


def qa_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> Dict[str, float]:
    """SCROLLS QA scores of a set of predictions.

    Args:
        predictions: One predicted answer per example.
        references: The reference answers of each example.

    Returns:
        `{"f1": ..., "exact_match": ...}`: means over examples of the per-example maxima, x100.
    """
    _check_lengths(predictions, references)
    f1 = [max_over_references(token_f1, p, r) for p, r in zip(predictions, references)]
    em = [max_over_references(exact_match, p, r) for p, r in zip(predictions, references)]
    return {"f1": 100.0 * _mean(f1), "exact_match": 100.0 * _mean(em)}


# ---------------------------------------------------------------------------------------------
# Summarization: ROUGE
# ---------------------------------------------------------------------------------------------

# Sentence ends for the fallback splitter: ., ! or ? followed by whitespace, or any line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@functools.lru_cache(maxsize=None)
def nltk_punkt_available() -> bool:
    """Whether nltk and its punkt sentence model are installed (checked once, never downloads).

    Returns:
        True if `nltk.sent_tokenize` works offline.
    """
    try:
        import nltk  # imported here: evaluate would make a top-level import a hard requirement

        nltk.sent_tokenize("One. Two.")
    except (ImportError, LookupError):
        return False
    return True


def split_sentences(text: str, splitter: str = "auto") -> List[str]:
    """Splits a text into sentences for ROUGE-Lsum.

    Args:
        text: Text to split.
        splitter: "nltk" (`nltk.sent_tokenize`, as the SCROLLS and HF summarization scripts do),
            "regex" (split after ., ! or ? followed by whitespace, and at line breaks), or "auto"
            ("nltk" when its punkt data is installed, else "regex"; nltk is never downloaded
            because runs must work offline).

    Returns:
        The non-empty sentences, stripped.

    Raises:
        ValueError: If `splitter` is unknown.
        LookupError: If "nltk" is asked for and its punkt data is missing.
    """
    if splitter not in SENTENCE_SPLITTERS:
        raise ValueError(f"sentence_splitter must be one of {SENTENCE_SPLITTERS}, got {splitter!r}")
    if splitter == "nltk" or (splitter == "auto" and nltk_punkt_available()):
        import nltk

        pieces = nltk.sent_tokenize(text)
    else:
        pieces = _SENTENCE_END.split(text)
    return [piece.strip() for piece in pieces if piece.strip()]


@functools.lru_cache(maxsize=None)
def _scorer(rouge_types: tuple) -> rouge_scorer.RougeScorer:
    # No stemming, as SCROLLS; the default tokenizer lowercases and keeps only [a-z0-9] runs.
    return rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=False)


def rouge_per_example(
    prediction: str, references: Sequence[str], sentence_splitter: str = "auto"
) -> Dict[str, float]:
    """ROUGE F-measures of one prediction, each the max over the example's references.

    The max is taken per ROUGE type, so ROUGE-1 and ROUGE-2 may come from different references
    (as `RougeScorer.score_multi`, which SCROLLS uses). ROUGE-Lsum scores newline-joined
    sentences; the other types ignore sentence boundaries.

    Args:
        prediction: Generated summary.
        references: The example's reference summaries (at least one).
        sentence_splitter: See `split_sentences`.

    Returns:
        `{"rouge1", "rouge2", "rougeL", "rougeLsum"}` -> F-measure in [0, 1]. An empty prediction
        scores 0 on every type.

    Raises:
        ValueError: If `references` is empty.
    """
    if not references:
        raise ValueError("every example needs at least one reference")
    flat = _scorer(("rouge1", "rouge2", "rougeL"))
    summary_level = _scorer(("rougeLsum",))
    pred_lines = "\n".join(split_sentences(prediction, sentence_splitter))
    best = dict.fromkeys(ROUGE_TYPES, 0.0)
    for reference in references:
        scores = flat.score(reference, prediction)
        ref_lines = "\n".join(split_sentences(reference, sentence_splitter))
        scores.update(summary_level.score(ref_lines, pred_lines))
        for rouge_type in ROUGE_TYPES:
            best[rouge_type] = max(best[rouge_type], scores[rouge_type].fmeasure)
    return best


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of non-negative numbers (0 if any is 0).

    Args:
        values: Non-empty sequence of non-negative numbers.

    Returns:
        `(v1 * v2 * ... * vn) ** (1 / n)`.
    """
    if not values:
        raise ValueError("geometric mean of no values")
    if min(values) < 0:
        raise ValueError(f"geometric mean needs non-negative values, got {values}")
    if min(values) == 0:
        return 0.0
    # Logs rather than a product so long inputs cannot overflow.
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summarization_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]], sentence_splitter: str = "auto"
) -> Dict[str, float]:
    """SCROLLS summarization scores of a set of predictions.

    Args:
        predictions: One generated summary per example.
        references: The reference summaries of each example.
        sentence_splitter: See `split_sentences`; affects ROUGE-Lsum only.

    Returns:
        `rouge1`, `rouge2`, `rougeL`, `rougeLsum`: means over examples of the per-example maxima,
        x100; `rouge_geomean`: geometric mean of the mean `rouge1`, `rouge2` and `rougeL`.
    """
    _check_lengths(predictions, references)
    per_example = [
        rouge_per_example(p, r, sentence_splitter) for p, r in zip(predictions, references)
    ]
    result = {t: 100.0 * _mean([s[t] for s in per_example]) for t in ROUGE_TYPES}
    result["rouge_geomean"] = geometric_mean([result["rouge1"], result["rouge2"], result["rougeL"]])
    return result


# ---------------------------------------------------------------------------------------------
# Helpers and the evaluate module
# ---------------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def _check_lengths(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("no examples to score")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def check_config_name(config_name: str) -> None:
    """Rejects a config name that is neither a SCROLLS dataset nor `evaluate`'s default.

    Args:
        config_name: The name given to `evaluate.load(path, config_name)`.

    Raises:
        ValueError: If the name is unknown (SCROLLS' own metric raises too).
    """
    if config_name != DEFAULT_CONFIG and config_name not in DATASET_TASKS:
        raise ValueError(
            f"unknown SCROLLS config name {config_name!r}: name the dataset, one of "
            f"{sorted(DATASET_TASKS)} (or load without a name and pass task= to compute)"
        )


def resolve_task(config_name: str, task: Optional[str] = None) -> str:
    """The task a call scores, from the config name and the `task=` argument.

    Args:
        config_name: A SCROLLS dataset config name, or `evaluate`'s "default" (no name given).
        task: The `task=` passed to `compute`, or None.

    Returns:
        "summarization" or "qa".

    Raises:
        ValueError: If the config name is unknown, neither names a task, `task` is unknown, or
            `task` contradicts the dataset's task (e.g. "qasper" with task="summarization").
    """
    check_config_name(config_name)
    if config_name == DEFAULT_CONFIG:
        if task is None:
            raise ValueError(
                "no SCROLLS dataset given: load with evaluate.load(path, '<dataset>'), one of "
                f"{sorted(DATASET_TASKS)}, or pass task= ({' or '.join(TASKS)}) to compute"
            )
        _check_task(task)
        return task
    expected = DATASET_TASKS[config_name]
    if task is not None and task != expected:
        raise ValueError(
            f"config {config_name!r} is scored as {expected!r}, but task={task!r} was passed; "
            "drop task= or load the metric with the matching dataset"
        )
    return expected


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Scrolls(evaluate.Metric):
    """SCROLLS metric: ROUGE for summarization, F1 and exact match for QA (x100)."""

    def _info(self) -> evaluate.MetricInfo:
        # `evaluate` sets config_name before calling _info, so a bad name fails at load time.
        check_config_name(self.config_name)
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # The first schema is the documented one; the second lets single-reference callers
            # pass plain strings.
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
                ),
            ],
            reference_urls=["https://github.com/tau-nlp/scrolls", "https://arxiv.org/abs/2201.03533"],
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Checks `task` against the config name and `sentence_splitter`, then scores.

        Checked here rather than only in `_compute` so that a mistake fails at once, before
        `evaluate` encodes and writes a whole validation set to its cache.
        """
        splitter = kwargs.get("sentence_splitter", "auto")
        if splitter not in SENTENCE_SPLITTERS:
            raise ValueError(f"sentence_splitter must be one of {SENTENCE_SPLITTERS}, got {splitter!r}")
        resolve_task(self.config_name, kwargs.get("task"))
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self, predictions, references, task: Optional[str] = None, sentence_splitter: str = "auto"
    ) -> Dict[str, float]:
        task = resolve_task(self.config_name, task)
        references = [[r] if isinstance(r, str) else list(r) for r in references]
        if task == "qa":
            return qa_scores(predictions, references)
        return summarization_scores(predictions, references, sentence_splitter)
