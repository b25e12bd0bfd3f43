"""Fixtures shared by several test files: a real one-node SLURM cluster (tests/slurm_cluster.py)."""

from __future__ import annotations

import pytest
from slurm_cluster import Cluster, ClusterUnavailable

# Three job slots on the node, so that one job of four queues while the others run.
CLUSTER_CPUS = 3


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
