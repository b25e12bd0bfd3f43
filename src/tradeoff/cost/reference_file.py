"""The cost rows' reference file: rows merged into ``reference/cost/cost-rows.json`` with what
they were counted with, beside the recorded extrapolation checks.

The file's schema and reader are :mod:`tradeoff.records.reference`; the rows come from
:func:`tradeoff.cost.architecture.cost_rows`. ``python -m tradeoff cost --write-reference``
calls :func:`write_reference` (and :func:`check_extrapolation` unless ``--skip-check``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from ..models import MINI_VOCAB_SIZE, PRESETS
from ..tasks import DEFAULT_NEW_TOKENS
from ..records.reference import (
    COST_FILE,
    CostEntry,
    CostFile,
    CostReference,
    CostRow,
    ExtrapolationCheck,
    load_cost_reference,
    read_cost_file,
    write_reference_file,
)
from .architecture import (
    counted_with,
    extrapolation_check,
    paper_defaults,
)


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _file_order(entry: CostEntry) -> tuple:
    order = list(PRESETS)  # the paper's three first, then the ones it did not study
    rank = order.index(entry.model) if entry.model in order else len(order)
    return entry.target_length, rank, entry.model, entry.length


def check_extrapolation(model: str, length: int, target_length: int,
                        new_tokens: int = DEFAULT_NEW_TOKENS, dropout: float | None = None,
                        scale: str = "full", vocab_size: int = MINI_VOCAB_SIZE,
                        cache_dir: Path | str | None = None) -> ExtrapolationCheck:
    """:func:`extrapolation_check` as a record for the reference file (counts are cached).

    A full-depth count at full scale takes a minute or two for LED-base at 1024 tokens.
    """
    dropout = paper_defaults()[2] if dropout is None else dropout
    differences = extrapolation_check(model, length, target_length, new_tokens, dropout,
                                      scale=scale, vocab_size=vocab_size, cache_dir=cache_dir)
    return ExtrapolationCheck(model=model, length=length, target_length=target_length,
                              relative_difference=differences, counted_with=counted_with(),
                              written=_today())


def write_reference(rows: Sequence[CostRow], path: Path | str | None = None,
                    checks: Sequence[ExtrapolationCheck] = ()) -> CostReference:
    """Merge rows (and extrapolation checks) into the reference file, atomically.

    A row replaces the file's row of the same model, length and target length; other rows stay,
    so the paper's targets and the released code's can be written by separate calls. Rows are
    tagged with the torch and transformers versions of this process (a cache hit implies the same
    versions: they are part of the count's key) and today's date.

    Args:
        rows: rows from :func:`cost_rows`.
        path: the reference file (default :data:`tradeoff.records.reference.COST_FILE`).
        checks: extrapolation checks to record (see :func:`check_extrapolation`).

    Returns:
        The reference as written, read back through
        :func:`tradeoff.records.reference.load_cost_reference`.

    Raises:
        ReferenceFileError: the existing file is malformed (it is not overwritten).
    """
    path = Path(COST_FILE if path is None else path)
    existing = read_cost_file(path) if path.exists() else CostFile()
    entries = {entry.key: entry for entry in existing.rows}
    counted, today = counted_with(), _today()
    for row in rows:
        entries[row.key] = CostEntry.model_validate(
            row.model_dump() | {"counted_with": counted, "written": today})
    merged = {(c.model, c.length, c.target_length): c for c in existing.extrapolation_checks}
    merged |= {(c.model, c.length, c.target_length): c for c in checks}
    write_reference_file(path, CostFile(
        rows=tuple(sorted(entries.values(), key=_file_order)),
        extrapolation_checks=tuple(check for _, check in sorted(merged.items()))))
    return load_cost_reference(path)
