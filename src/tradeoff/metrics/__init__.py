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


def load_scrolls_metric(config_name=None, **kwargs):
    """Loads the SCROLLS metric from this package, offline.

    Args:
        config_name: The SCROLLS dataset config ("gov_report", "summ_screen_fd", "qmsum",
            "qasper", "narrative_qa", "quality", "contract_nli"), which selects ROUGE or F1 /
            exact match, as with SCROLLS' official metric. None loads it without a dataset:
            `compute` then needs `task=`.
        **kwargs: Passed to `evaluate.load` (e.g. `keep_in_memory=True`, `cache_dir`,
            `experiment_id`, `num_process`/`process_id` for distributed evaluation).

    Returns:
        An `evaluate.Metric`; `.compute(predictions=..., references=...)` returns rouge1, rouge2,
        rougeL, rougeLsum, rouge_geomean (summarization) or f1, exact_match (QA), 0-100. A `task=`
        ("summarization" or "qa") that contradicts the dataset raises.

    Raises:
        ValueError: If `config_name` is not a SCROLLS dataset.
    """
    import evaluate  # lazy: pulls in datasets, pyarrow and pandas

    return evaluate.load(SCROLLS_METRIC_PATH, config_name, **kwargs)
