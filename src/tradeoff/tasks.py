"""The study's datasets and models: the one place for the constants every layer reads.

One row per SCROLLS dataset (:class:`Task`) holds its names, its task kind and headline metric,
SCROLLS' learning rates and generation budget, and the mean reference length the cost model
uses. The dictionaries below the table are views of it, kept for the code that indexes by name.
The paper's three models, in the paper's order, the memory budgets of the cards the cost
model sizes batches for, and the batch sizes the paper reports, live here too. This module
imports nothing from the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

TaskKind = Literal["summarization", "qa"]

# The validation metric each task reports as its one number (SCROLLS, PAPER.md).
HEADLINE: dict[str, str] = {"summarization": "rouge_geomean", "qa": "f1"}
HEADLINE_LABEL: dict[str, str] = {"rouge_geomean": "ROUGE (geometric mean of R1/R2/RL)",
                                  "f1": "F1"}
# The same metrics in a few words, for axis labels and table headers.
HEADLINE_WORDS: dict[str, str] = {"rouge_geomean": "ROUGE geometric mean", "f1": "token F1"}


@dataclass(frozen=True)
class Task:
    """One SCROLLS dataset of the study."""

    name: str  # the study's name, as profiles and records write it
    label: str  # the name printed on pages
    scrolls_name: str  # the configuration name in the SCROLLS release (tau/scrolls)
    kind: TaskKind
    # SCROLLS' LED-base learning rates at input length 1024 and 4096 (PAPER.md); lengths in
    # between take the nearer anchor (ties go to the shorter one).
    learning_rates: dict[int, float] = field(compare=False)
    # Generation budget: SCROLLS decodes up to the 1024-token target limit; QA answers are short.
    max_new_tokens: int
    # Mean words per reference output, SCROLLS (Shaham et al. 2022, arXiv 2201.03533) Table 1,
    # as PAPER.md quotes it.
    reference_words: float
    # Whether the SCROLLS input is "query\n\ndocument" (QMSum's query, Qasper's question).
    has_query: bool = False

    @property
    def headline(self) -> str:
        """The metric this dataset's one number is."""
        return HEADLINE[self.kind]

    @property
    def target_tokens(self) -> int:
        """The cost model's target: training target tokens and greedy tokens generated at
        inference, both the mean reference length. No tokenizer is available offline, so this is
        one token per word, rounded up: a lower bound on the subword targets, since BPE and
        SentencePiece give every word at least one token."""
        return math.ceil(self.reference_words)


TASK_TABLE: dict[str, Task] = {t.name: t for t in (
    Task("govreport", "GovReport", "gov_report", "summarization",
         {1024: 1e-4, 4096: 1e-4}, 1024, 492.5),
    Task("summscreenfd", "SummScreenFD", "summ_screen_fd", "summarization",
         {1024: 5e-5, 4096: 2e-5}, 1024, 99.6),
    Task("qmsum", "QMSum", "qmsum", "summarization",
         {1024: 5e-5, 4096: 1e-5}, 1024, 69.7, has_query=True),
    Task("qasper", "Qasper", "qasper", "qa",
         {1024: 2e-5, 4096: 5e-5}, 128, 11.4, has_query=True),
)}

# Views of the table, by dataset name.
DATASETS = tuple(TASK_TABLE)
Dataset = Literal[DATASETS]  # the type of a dataset name, for the typed settings and records
TASKS = {name: t.kind for name, t in TASK_TABLE.items()}
SUMMARIZATION = tuple(name for name, t in TASK_TABLE.items() if t.kind == "summarization")
DATASET_LABELS = {name: t.label for name, t in TASK_TABLE.items()}
SCROLLS_NAMES = {name: t.scrolls_name for name, t in TASK_TABLE.items()}
SCROLLS_LEARNING_RATES = {name: t.learning_rates for name, t in TASK_TABLE.items()}
DEFAULT_MAX_NEW_TOKENS = {name: t.max_new_tokens for name, t in TASK_TABLE.items()}
REFERENCE_WORDS = {name: t.reference_words for name, t in TASK_TABLE.items()}
COST_TARGET_TOKENS = {name: t.target_tokens for name, t in TASK_TABLE.items()}
QUERY_DATASETS = tuple(name for name, t in TASK_TABLE.items() if t.has_query)
# Greedy tokens generated in the cost model's inference count (tradeoff.cost): the released code
# cuts training targets at 128 tokens (``max_output_length``) and Qasper's generation budget is
# 128; summarization budgets of up to 1024 tokens are a ``new_tokens`` away.
DEFAULT_NEW_TOKENS = 128

# The paper's three models, in the paper's order (tradeoff.models has their architectures and
# the models the paper did not study).
MODELS = ("led-base", "led-large", "bigbird-large")
ModelName = Literal[MODELS]
LENGTHS = (1024, 2048, 3072, 4096)  # the paper's input lengths (tokens)
# The paper validates every 500 steps for summarization, every 10 for QA.
PAPER_EVAL_STEPS = {"summarization": 500, "qa": 10}
# SCROLLS trains 10 epochs for summarization, 20 for Qasper.
SCROLLS_EPOCHS = {"summarization": 10.0, "qa": 20.0}

GIB = 2**30
JOULES_PER_KWH = 3.6e6
# The cards of the batch-fit columns, in GiB as the rest of the project reads "GB"
# (``set_per_process_memory_fraction(gpu_memory_gb * 2**30 / total)``): the paper's RTX A6000
# (the ``paper`` profile's ``gpu_memory_gb``) and an 80 GB H100.
PAPER_CARD_GB = 48.0
H100_MEMORY_GB = 80.0
CARDS_GB = {"48gb": PAPER_CARD_GB, "80gb": H100_MEMORY_GB}


@dataclass(frozen=True)
class PaperBatch:
    """A batch size the paper or its released code reports."""

    model: str
    length: int
    dataset: str
    batch_size: int
    gpus: int
    source: str


# From ../shared/PAPER.md: the only batch sizes the paper and its code state.
PAPER_BATCHES = (
    PaperBatch("led-base", 1024, "govreport", 24, 1,
               "released code, run_training.sh (the one batch size it shows)"),
    PaperBatch("led-base", 1024, "qasper", 24, 1,
               "paper, preliminary study: batch 24 on one GPU gave F1 17.68"),
)


def paper_batch(model: str, length: int) -> int | None:
    """The paper's batch at a cell when PAPER.md states one (and its sources agree)."""
    sizes = {b.batch_size for b in PAPER_BATCHES if b.model == model and b.length == length}
    return sizes.pop() if len(sizes) == 1 else None
