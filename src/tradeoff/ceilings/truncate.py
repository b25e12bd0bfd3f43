"""Truncation as the models see it: each input cut to what a model of a given input length reads.

For one tokenizer (the model's; offline the BPE tokenizer the setup chapter counts with), an
input is cut to ``length`` minus the special tokens the tokenizer adds (``<s>``, ``</s>``) of its
text, as ``truncation=True, max_length=length`` does; for the query datasets QMSum and Qasper
the query comes first and eats into the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..data.rows import QUERY_SEPARATOR, split_query


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
