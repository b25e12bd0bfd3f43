"""What longer inputs can buy: accuracy ceilings and unsupervised baselines per input length.

Everything here is a property of the data and of simple methods, not of LED or BigBird. For one
dataset, one input length and one tokenizer, each input is cut to what a model of that length
sees (:mod:`.truncate`); the ceilings (extractive oracle, best span) and baselines (lead,
LexRank, BM25) read what is left (:mod:`.methods`); :mod:`.run` scores them with the SCROLLS
metric, measures their CPU time and writes one :class:`tradeoff.records.CeilingRecord` per
(dataset, length, method, tokenizer), computing only what no record holds.

This package produces records; it imports neither :mod:`tradeoff.analysis` nor
:mod:`tradeoff.report`, which read the records (:func:`tradeoff.analysis.table.load_ceilings`).
"""

from ..data.tokenizer import tokenizer_digest, tokenizer_label
from .methods import (
    CEILING_METHODS,
    DEFAULT_SPAN_MARGIN,
    METHOD_DESCRIPTIONS,
    METHODS,
    SPLITTER,
    best_span,
    bm25_answer,
    budget_sentences,
    greedy_oracle,
    lead,
    lexrank,
    predict,
    reference_budget,
    sentences,
)
from .run import (
    CODE_VERSION,
    DEFAULT_CPU_WATTS_PER_CORE,
    DEFAULT_MAX_SAMPLES,
    CeilingUpdate,
    cache_key,
    ceiling_records,
    compute_ceilings,
    default_tokenizer,
    rows_digest,
)
from .truncate import VisibleInput, visible_inputs

__all__ = [
    "CEILING_METHODS", "CODE_VERSION", "CeilingUpdate", "DEFAULT_CPU_WATTS_PER_CORE",
    "DEFAULT_MAX_SAMPLES", "DEFAULT_SPAN_MARGIN", "METHODS", "METHOD_DESCRIPTIONS", "SPLITTER",
    "VisibleInput", "best_span", "bm25_answer", "budget_sentences", "cache_key",
    "ceiling_records", "compute_ceilings", "default_tokenizer", "greedy_oracle", "lead",
    "lexrank", "predict", "reference_budget", "rows_digest", "sentences", "tokenizer_digest",
    "tokenizer_label", "visible_inputs",
]
