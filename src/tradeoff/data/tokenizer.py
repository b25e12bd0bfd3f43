"""Tokenizers trained on the data: the byte-level BPE of the random-init models, the one the
setup chapter and the ceilings count lengths with, and the labels that name a tokenizer in
records.

Pretrained checkpoints bring their own tokenizer (LED: 50k BPE); only random-init models, and
the length counts that stand for them, use the tokenizers trained here.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .rows import folder_written_atomically, split_query

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# BART/LED convention, so a random-init LED built on this vocabulary uses the usual ids.
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

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
    with folder_written_atomically(path) as tmp:  # a concurrent call may cache it first
        tokenizer.save_pretrained(str(tmp))
        (tmp / "training.json").write_text(json.dumps(
            {"format": _TOKENIZER_FORMAT, "vocab_size": vocab_size,
             "min_frequency": min_frequency, "n_texts": len(texts)}, indent=2))
    return PreTrainedTokenizerFast.from_pretrained(str(path))


def run_tokenizer(train: Any, vocab_size: int, cache_dir: str | os.PathLike) -> PreTrainedTokenizerFast:
    """The tokenizer of a random-init run: trained on its training rows, inputs and outputs.

    Args:
        train: The run's train split (columns ``input`` and ``output``).
        vocab_size: The profile's vocabulary size.
        cache_dir: Folder for cached tokenizers.

    Returns:
        :func:`train_tokenizer` of the inputs followed by the outputs.
    """
    return train_tokenizer(list(train["input"]) + list(train["output"]), vocab_size, cache_dir)


def length_tokenizer(splits: Mapping[str, Any], vocab_size: int,
                     cache_dir: str | os.PathLike | None = None,
                     sample: int = 200) -> PreTrainedTokenizerFast | None:
    """A byte-level BPE tokenizer trained on (a sample of) the training inputs, for counting.

    The random-init runs train the same kind of tokenizer on their training rows; pretrained
    checkpoints bring their own (LED: 50k BPE), which gives somewhat fewer tokens. The setup
    chapter counts input lengths with it, and the ceilings truncate with it.

    Args:
        splits: :func:`tradeoff.data.load_splits` output (error texts are skipped).
        vocab_size: vocabulary size (the profile's).
        cache_dir: where the trained tokenizer is cached (None: the system temp folder).
        sample: at most this many distinct training documents per dataset.

    Returns:
        A ``PreTrainedTokenizerFast``, or None when no data is available.
    """
    texts: list[str] = []
    for split in splits.values():
        if isinstance(split, str):
            continue
        # Query datasets repeat one document under many queries: count each document once.
        documents = dict.fromkeys(split_query(text)[1] for text in split["train"]["input"])
        texts += list(documents)[:sample]
    texts = list(dict.fromkeys(texts))
    if not texts:
        return None
    folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "tradeoff-tokenizers"
    return train_tokenizer(texts, vocab_size, folder)


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
