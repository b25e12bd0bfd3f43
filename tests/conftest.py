"""Fixtures shared by several test files: the smoke profile (``smoke_profile``), run and ceiling
records built by hand (``make_record``), the pipeline with a fake in place of training and
inference (``fake_execute``), smoke records run once per test run and the smoke book built on
them (``smoke_grid``, ``built_book``: tests/smoke_book.py), and a real one-node SLURM cluster
(tests/slurm_cluster.py)."""

from __future__ import annotations

import pytest
from slurm_cluster import Cluster, ClusterUnavailable

# Three job slots on the node, so that one job of four queues while the others run.
CLUSTER_CPUS = 3


# ----------------------------------------------------------------------------- profiles, records


@pytest.fixture
def smoke_profile(tmp_path):
    """The smoke profile (params/smoke.yaml), its records in ``tmp_path / "results"``."""
    from tradeoff.config import load_profile

    return load_profile("smoke", results_dir=str(tmp_path / "results"))


class RecordFactory:
    """Run and ceiling records built by hand, with the fields the figures and tables read.

    In a run record efficiency falls with length and larger models are slower, so that a test
    knows exactly how many lines, points and bars to expect.
    """

    MODELS = ("led-base", "led-large", "bigbird-large")
    CPU_ENV = {"cpu": "AMD EPYC", "cpu_cores": 2, "gpu": "none", "gpu_count": 0}
    GPU_ENV = {"cpu": "Intel Xeon", "cpu_cores": 16, "gpu": "NVIDIA H100", "gpu_count": 2}
    CPU_REASON = ("RAPL unreadable: CPU energy is an ESTIMATE, process CPU time x 10 W per busy "
                  "core (assumed)")

    def __call__(self, dataset="govreport", model="led-base", length=1024, *, grad_accum=1,
                 seed=0, status="ok", gpu=False, source="aclsum", init="random", scale="mini",
                 energy_kwh=None, power_eff=None, val_loss=None, reason="", variant="none",
                 settings: dict | None = None):
        """One run record. ``settings`` override the profile's (e.g. ``max_target_length``)."""
        from tradeoff.config import Cell, Profile
        from tradeoff.records import RunRecord

        k = length / 1024
        size = {"led-base": 1.0, "led-large": 2.0, "bigbird-large": 3.0}[model]
        params = Cell(dataset, model, length, seed, grad_accum, variant).resolve(
            Profile(source=source, init=init, scale=scale, cpu_watts_per_core=10.0,
                    **(settings or {})))
        env = self.GPU_ENV if gpu else self.CPU_ENV
        if status != "ok":
            return RunRecord(profile="test", label=f"{dataset}/{model}/L{length}",
                             params_hash=f"{dataset}-{model}-{length}-{grad_accum}-{seed}",
                             params=params, status=status, reason=reason, env=env,
                             wall_time_s=1.0)
        efficiency = {
            "train_time_s": 10.0 * size * k,
            "train_samples_per_s": 8.0 / size / k,
            "infer_samples_per_s": 4.0 / size / k,
            "train_energy_j": 36.0 * size * k,
            "train_energy_kwh": energy_kwh if energy_kwh is not None else 1e-5 * size * k,
            "train_avg_power_w": 3.6,
            "power_efficiency_samples_per_s_per_w": power_eff if power_eff is not None
            else 0.2 / size / k,
            "train_cpu_util_mean_pct": 150.0 - 10 * size,
            "train_rss_mean_mib": 1000.0 * size,
            "train_gpu_util_mean_pct": (90.0 - 10 * size) if gpu else None,
            "train_gpu_mem_mean_mib": (20000.0 * size) if gpu else None,
        }
        if gpu:
            trace = [{"t_s": t, "cpu_util_pct": 100.0, "rss_mib": 900.0, "gpu0_power_w": 200.0,
                      "gpu1_power_w": 100.0, "gpu0_util_pct": 80.0, "gpu1_util_pct": 70.0}
                     for t in (0.0, 0.5, 1.0)]
        else:
            trace = [{"t_s": t, "cpu_util_pct": 100.0 + t, "rss_mib": 900.0}
                     for t in (0.0, 0.5, 1.0)]
        loss = val_loss if val_loss is not None else 7.0 - 0.1 * size + 0.01 * k - 0.05 * grad_accum
        metric = "f1" if dataset == "qasper" else "rouge_geomean"
        return RunRecord(
            profile="test", label=f"{dataset}/{model}/L{length}",
            params_hash=f"{dataset}-{model}-{length}-{grad_accum}-{seed}", params=params,
            status="ok", accuracy_metric=metric,
            accuracy={metric: 20.0 + size + k, "val_loss": loss},
            efficiency=efficiency, energy_method="nvml-counter" if gpu else "cpu-time-estimate",
            energy_reason="" if gpu else self.CPU_REASON,
            train={"batch_size": 2, "effective_batch_size": 2 * grad_accum},
            data={"stand_in": source == "aclsum", "description": "test data"},
            traces={"train": trace, "inference": trace}, env=env, wall_time_s=1.0)

    def grid(self, datasets=("govreport",), lengths=(1024, 2048), **kwargs) -> list:
        """A record of every model at every length of every dataset."""
        return [self(d, m, n, **kwargs) for d in datasets for m in self.MODELS for n in lengths]

    def ceiling(self, dataset="govreport", length=1024, method="oracle", score=30.0, cpu_s=0.1,
                *, source="aclsum", tokenizer="bpe-test", **scores):
        """One ceiling record with the fields the chapter figure and tables read."""
        from tradeoff.records import CeilingRecord

        task = "qa" if dataset == "qasper" else "summarization"
        metric = "f1" if task == "qa" else "rouge_geomean"
        return CeilingRecord(
            kind="ceiling" if method == "oracle" else "baseline", profile="test", key="k",
            dataset=dataset, task=task, source=source, length=length, method=method,
            tokenizer=tokenizer, tokenizer_hash="t" * 16, metric=metric, score=score,
            scores={metric: score, **scores}, n_samples=20, n_available=100,
            truncated_share=0.5, kept_tokens_mean=float(length), cpu_s_per_sample=cpu_s,
            cpu_watts_per_core=10.0, env=self.CPU_ENV)


@pytest.fixture(scope="session")
def make_record() -> RecordFactory:
    """The record factory: ``make_record(dataset, model, length, ...)``, ``make_record.grid()``,
    ``make_record.ceiling()``."""
    return RecordFactory()


# ----------------------------------------------------------------------------- a fake pipeline


class FakeExecute:
    """Stands for ``pipeline._execute``: notes ``(dataset, length)`` of each cell it is asked to
    run, raises ``fail[length]`` where given, and else returns a finished cell's results."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []
        self.fail: dict[int, BaseException] = {}

    def __call__(self, params, data, show_progress):
        self.calls.append((params.dataset, params.length))
        if params.length in self.fail:
            raise self.fail[params.length]
        metric = "f1" if params.dataset == "qasper" else "rouge_geomean"
        return dict(accuracy_metric=metric, accuracy={metric: 1.0}, efficiency={})


@pytest.fixture
def fake_execute(monkeypatch) -> FakeExecute:
    """The pipeline with no training: cells 'run' at once through :class:`FakeExecute`."""
    from tradeoff import pipeline

    fake = FakeExecute()
    monkeypatch.setattr(pipeline, "_execute", fake)
    return fake


# ----------------------------------------------------------------------------- grid and book


@pytest.fixture(scope="session")
def smoke_grid(tmp_path_factory):
    """The shared smoke records (tests/smoke_book.py), run once per test run."""
    from smoke_book import run_smoke_grid

    return run_smoke_grid(tmp_path_factory.mktemp("smoke-grid"))


@pytest.fixture(scope="session")
def built_book(smoke_grid, tmp_path_factory):
    """The smoke book built twice on the shared grid (tests/smoke_book.py)."""
    from smoke_book import build_smoke_book

    return build_smoke_book(smoke_grid, tmp_path_factory.mktemp("book"))


# ----------------------------------------------------------------------------- SLURM


@pytest.fixture(scope="session", params=["accounting", "no-accounting"])
def slurm_cluster(request, tmp_path_factory):
    """A one-node SLURM, once with accounting (slurmdbd: sacct works) and two GRES GPUs, once
    without accounting (sacct fails) on a CPU-only node, as many small clusters are.

    Skipped, with the reason, where it cannot run (not root, packages not installable). Every
    daemon it started is stopped at the end, by pid, whatever the tests did.
    """
    accounting = request.param == "accounting"
    cluster = Cluster(tmp_path_factory.mktemp(f"slurm-{request.param}"), accounting=accounting,
                      gpus=2 if accounting else 0, cpus=CLUSTER_CPUS)
    try:
        cluster.start()
    except ClusterUnavailable as err:
        pytest.skip(f"no one-node SLURM here: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()
