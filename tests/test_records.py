"""The run record's typed parts: every committed record still loads and writes back the same."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tradeoff.config import REPO_ROOT
from tradeoff.records.run import hardware_label
from tradeoff.records import (
    SCHEMA_VERSION,
    EnvInfo,
    InferenceSummary,
    ModelInfo,
    TrainSummary,
    load_record,
)

# Every run record committed under reference/ (a run record names its parameters' hash).
COMMITTED = sorted(p for p in (REPO_ROOT / "reference").rglob("*.json")
                   if "params_hash" in json.loads(p.read_text()))


def test_the_committed_records_are_found():
    folders = {p.parent.name for p in COMMITTED}
    assert {"cpu-arch", "knobs"} <= folders, folders
    assert all(json.loads(p.read_text())["schema_version"] == SCHEMA_VERSION for p in COMMITTED)


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_committed_record_loads_and_writes_back_key_for_key(path):
    stored = json.loads(path.read_text())
    record = load_record(path)
    written = json.loads(record.model_dump_json())
    # The parameters gained defaulted settings since some records were written; every other
    # part, the typed ones included, comes back with the same keys and values.
    assert {k: v for k, v in written.items() if k != "params"} == \
        {k: v for k, v in stored.items() if k != "params"}
    if record.status == "ok":
        assert record.train.steps > 0 and record.train.batch_size >= 1
        assert record.model.parameters > 0 and record.data.description
        assert record.env.recorded and record.env.cpu_cores >= 1
        assert record.inference.examples and record.measurements["train"].time_s > 0
    else:  # a failed cell: its traceback, and empty parts written back as {}
        assert record.train.traceback.startswith("Traceback")
        assert not record.model.recorded and written["model"] == {}


def test_a_part_writes_only_the_keys_it_was_given():
    failed = TrainSummary(traceback="Traceback ...")
    assert json.loads(failed.model_dump_json()) == {"traceback": "Traceback ..."}
    assert failed.steps is None and failed.step_times_s == []
    # An explicit null stays a null: best_step None means "no early stopping", not "unknown".
    assert json.loads(TrainSummary(steps=3, best_step=None).model_dump_json()) == \
        {"steps": 3, "best_step": None}
    assert ModelInfo().model_dump() == {} and not InferenceSummary().recorded


def test_closed_parts_reject_an_unknown_key_and_the_environment_keeps_it():
    with pytest.raises(ValidationError):
        TrainSummary(batch_sise=2)
    with pytest.raises(ValidationError):
        ModelInfo(parameters=10, heads=4)
    env = EnvInfo.model_validate({"gpu": "none", "gpu_count": 0, "cpu": "AMD EPYC",
                                  "cpu_cores": 2, "version_jupyter-book": "1.0.4",
                                  "numa_nodes": 1})
    assert env.model_extra == {"version_jupyter-book": "1.0.4", "numa_nodes": 1}
    assert json.loads(env.model_dump_json())["numa_nodes"] == 1


def test_the_hardware_label_is_the_same_for_a_record_and_an_environment_dict():
    gpu = {"gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "cpu": "x", "cpu_cores": 16}
    cpu = {"gpu": "none", "gpu_count": 0, "cpu": "AMD EPYC", "cpu_cores": 2}
    assert EnvInfo(**gpu).hardware == hardware_label(gpu) == "1 x NVIDIA H100 80GB HBM3"
    assert EnvInfo(**cpu).hardware == hardware_label(cpu) == "CPU only: 2 cores (AMD EPYC)"
