"""Timed greedy inference on the validation set, as the paper measures it (batch size 16).

A short generation runs before the measured window opens, so one-off costs (memory allocation,
kernel selection, lazy initialisation) do not count against the model; the window itself is
synchronised with the accelerator at both edges by the energy meter.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .models import global_attention_mask


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _encode(tokenizer, texts: list[str], length: int, global_first_token: bool, device):
    enc = tokenizer(texts, max_length=length, truncation=True, padding="max_length",
                    return_tensors="pt")
    if global_first_token:
        enc["global_attention_mask"] = global_attention_mask(enc["input_ids"])
    return {k: v.to(device) for k, v in enc.items()}


@torch.inference_mode()
def timed_generate(model, tokenizer, inputs: list[str], *, length: int, batch_size: int,
                   max_new_tokens: int, num_beams: int, meter, global_first_token: bool,
                   fixed_length: bool = False, min_length: int = 0, no_repeat_ngram_size: int = 0,
                   show_progress: bool = True):
    """Generate for every input inside one energy window.

    Args:
        model: the fine-tuned model.
        tokenizer: its tokenizer.
        inputs: one validation input per unique id.
        length: input tokens (truncated or padded, as in training).
        batch_size: inference batch (paper: 16).
        max_new_tokens: generation budget.
        num_beams: 1 for greedy decoding (SCROLLS).
        meter: energy meter; the window is named ``inference``.
        global_first_token: LED's global attention on the first token.
        fixed_length: generate exactly ``max_new_tokens`` (no early stop at end-of-sequence), so
            random-weight models of different families decode the same number of tokens.
        min_length: ``generate(min_length=...)``, the decoder start token included (the
            released code sets 3 in the model config); 0 sets no minimum.
        no_repeat_ngram_size: ``generate(no_repeat_ngram_size=...)`` (the released code: 2);
            0 allows repeats.
        show_progress: show a progress bar.

    Returns:
        ``(predictions, measurement, generated_tokens)``.
    """
    if not inputs:
        raise ValueError("no validation inputs to generate for")
    model.eval()
    device = next(model.parameters()).device
    settings = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False,
                    min_new_tokens=max_new_tokens if fixed_length else None,
                    min_length=min_length, no_repeat_ngram_size=no_repeat_ngram_size)

    # One example and two tokens suffice to trigger the one-off costs, at a fraction of a batch.
    warmup = _encode(tokenizer, inputs[:1], length, global_first_token, device)
    model.generate(**warmup, **settings | {"max_new_tokens": 2, "min_new_tokens": None,
                                           "min_length": 0})

    predictions, generated_tokens = [], 0
    meter.begin("inference")
    for batch in tqdm(list(_batches(inputs, batch_size)), desc="inference", unit="batch",
                      disable=not show_progress, leave=False):
        encoded = _encode(tokenizer, batch, length, global_first_token, device)
        output = model.generate(**encoded, **settings)
        # Column 0 is the decoder start token, which is given, not generated.
        generated_tokens += int((output[:, 1:] != tokenizer.pad_token_id).sum())
        predictions += tokenizer.batch_decode(output, skip_special_tokens=True)
    measurement = meter.end("inference")
    return [p.strip() for p in predictions], measurement, generated_tokens
