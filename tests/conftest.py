"""Fixtures shared by the test files, the e2e mark, and the order of files in a parallel run.

Shared fixtures:

* ``smoke_profile``: the smoke profile, its records in a fresh folder;
* ``make_record``: run and ceiling records built by hand (no run), for figures and tables;
* ``fake_execute``: the pipeline's training and inference replaced by a fake that records the
  cells it was asked to run and raises where a test tells it to;
* ``smoke_grid``: smoke cells run once per test run (tests/smoke_book.py), whose records the
  end-to-end tests copy; ``built_book``: the smoke book built on them, once;
* ``slurm_cluster``: a real one-node SLURM (tests/slurm_cluster.py).

Every test that uses the grid, the book or the cluster is marked ``e2e`` here (some others are
marked in their files), so ``pytest -m "not e2e"`` is the quick unit run.

The suite runs in two processes (pytest-xdist, ``-n 2 --dist loadfile`` in pyproject.toml): the
tests of a file run in one process, in order, so that a file's fixtures are made once (the built
book in test_book.py, both clusters in test_slurm.py) and the documented commands of a block can
build on each other (test_docs.py). The files with the longest fixtures start first, and the
unit tests fill both processes at the end. The grid is run by the first process that needs it
while the other waits for it (a file lock). Groups of single tests (``--dist loadgroup``) would
be finer, but pytest-xdist 3.8 loses them under pytest 9.2 (pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

import gc
import os

# One intra-op thread in every process of a test run (set before anything imports torch; the
# cells' jobs, commands and notebook kernels inherit it): the tests run several processes at
# once on a few cores (two pytest processes, SLURM's two job slots, two kernels of the book),
# and a second thread per process then spins at barriers (two concurrent smoke grids took 7x
# as long as with one thread each). Threads change no tested value; a value set outside wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from slurm_cluster import Cluster, ClusterUnavailable  # noqa: E402

# Two job slots on the node (the accounting one also has two GPUs), so that of the SLURM drill's
# three jobs one queues while the others run.
CLUSTER_CPUS = 2
# Fixtures whose tests are end to end.
E2E_FIXTURES = {"smoke_grid", "built_book", "slurm_cluster"}
# The files that start first in a parallel run, longest first (measured): the book, which runs
# the grid; the clusters, the local jobs and the documented commands in the other process; then
# the other end-to-end files. The unit tests fill both processes at the end.
FIRST_FILES = ("test_book.py", "test_slurm.py", "test_executors.py", "test_docs.py",
               "test_grid.py", "test_gpu_session.py", "test_knobs.py", "test_checkpoints.py",
               "test_rehearsal.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if set(item.fixturenames) & E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the order in which files are handed out
        items[:] = sorted(items, key=_run_order)


def _run_order(item) -> int:
    name = item.path.name
    return FIRST_FILES.index(name) if name in FIRST_FILES else len(FIRST_FILES)


@pytest.fixture(scope="module", autouse=True)
def frozen_heap():
    """What a test file finds in memory is frozen (``gc.freeze``) before its tests, for good.

    A full garbage collection then scans only what was made since: the Trainer collects at the
    start of every training run and test_energy after every test, and in a process that holds
    torch, transformers and a built book a full collection of everything takes 0.3 to 0.5 s. The
    pipeline freezes once per process at its first cell (``pipeline._freeze_imported_objects``);
    this fixture also covers what later files load (the book, Sphinx, the figures). Each file's
    start first collects what the earlier files left, over the part made since the last freeze
    (their tests' objects and their module fixtures, torn down by then). Never unfreezing keeps
    that collection short: unfrozen, the whole heap would be scanned again at every file. The
    price: an object alive at a file's start that later becomes cyclic garbage stays in memory
    until the process ends.
    """
    gc.collect()
    gc.freeze()


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
    """The shared smoke records (tests/smoke_book.py), run once per test run.

    Under pytest-xdist the processes share one folder: the first to get here runs the grid
    while holding a lock, the others wait and find every cell recorded.
    """
    from smoke_book import run_smoke_grid

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run_smoke_grid(tmp_path_factory.mktemp("smoke-grid"))
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / "smoke-grid"
    with FileLock(f"{folder}.lock"):
        folder.mkdir(exist_ok=True)
        return run_smoke_grid(folder)


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
