"""The SCROLLS metric, kept in the repo as an `evaluate` module and loaded by path.

Loading by an absolute directory path makes `evaluate` take its local-module branch, which never
contacts the Hub, so the metric works with HF_HUB_OFFLINE=1 and without a network. `evaluate` is
imported only inside `load_scrolls_metric`, so `import tradeoff.metrics` stays cheap.

The scoring functions (`token_f1`, `rouge_per_example`, ...) live in `scrolls/scrolls.py` itself,
because `evaluate` copies that single file into its modules cache and imports the copy.
"""

from pathlib import Path

__all__ = ["SCROLLS_METRIC_PATH", "load_scrolls_metric"]

#: Absolute path of the directory holding `scrolls.py` (a str, as `evaluate.load` expects).
SCROLLS_METRIC_PATH = str(Path(__file__).resolve().parent / "scrolls")


def load_scrolls_metric(**kwargs):
    """Loads the SCROLLS metric from this package, offline.

    Args:
        **kwargs: Passed to `evaluate.load` (e.g. `keep_in_memory=True`, `cache_dir`,
            `experiment_id`, `num_process`/`process_id` for distributed evaluation).

    Returns:
        An `evaluate.Metric`; call `.compute(predictions=..., references=..., task=...)` with
        `task` "summarization" (rouge1, rouge2, rougeL, rougeLsum, rouge_geomean) or "qa"
        (f1, exact_match). Scores are floats in 0-100.
    """
    import evaluate  # lazy: pulls in datasets, pyarrow and pandas

    return evaluate.load(SCROLLS_METRIC_PATH, **kwargs)
