"""Models named by checkpoint: a profile runs LongT5 and Pegasus-X from a config.json, offline, and
rejects what the grid cannot run before any compute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tradeoff import cli
from tradeoff.config import Cell, load_profile
from tradeoff.errors import ConfigError
from tradeoff.grid import run_grid, validate_cells

# CPU-sized configs of the two families, as a user would write them for a quick run.
LONGT5 = {"model_type": "longt5", "d_model": 16, "d_kv": 8, "num_heads": 2, "d_ff": 32,
          "num_layers": 1, "num_decoder_layers": 1, "encoder_attention_type": "transient-global",
          "local_radius": 15, "global_block_size": 8, "feed_forward_proj": "gated-gelu",
          "vocab_size": 32128}
PEGASUS_X = {"model_type": "pegasus_x", "d_model": 16, "encoder_layers": 1, "decoder_layers": 1,
             "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 32,
             "decoder_ffn_dim": 32, "block_size": 32, "num_global_tokens": 4,
             "max_position_embeddings": 512, "vocab_size": 96103}


def _folder(root: Path, name: str, config: dict) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def _profile_file(tmp_path: Path, checkpoints: dict, **settings) -> Path:
    """The smoke profile with models by checkpoint, at their config's size (scale full)."""
    raw = yaml.safe_load(Path("params/smoke.yaml").read_text())
    raw |= {"name": "by-checkpoint", "scale": "full", "models": list(checkpoints),
            "checkpoints": checkpoints, "datasets": ["qasper"], "lengths": [128],
            "qasper_grad_accum_study": [], "results_dir": str(tmp_path / "results")} | settings
    path = tmp_path / "by-checkpoint.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.e2e
def test_longt5_and_pegasus_x_by_checkpoint_run_a_smoke_cell_offline(tmp_path, capsys):
    checkpoints = {"longt5-tiny": _folder(tmp_path, "longt5", LONGT5),
                   "pegasus-x-tiny": _folder(tmp_path, "pegasus-x", PEGASUS_X)}
    path = _profile_file(tmp_path, checkpoints)

    assert cli.main(["grid", "--list", "--profile", str(path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[3] for line in listed] == ["longt5-tiny", "pegasus-x-tiny"]

    profile = load_profile(path)
    records = run_grid(profile, show_progress=False)
    assert [r.status for r in records] == ["ok", "ok"], [r.reason for r in records]
    longt5, pegasus_x = (r.model for r in records)
    # Random init from the written configs: their sizes, the trained tokenizer's vocabulary.
    assert (longt5.model_type, longt5.d_model, longt5.encoder_layers) == ("longt5", 16, 1)
    assert longt5.attention == "transient-global" and longt5.position_limit is None
    assert (pegasus_x.model_type, pegasus_x.block_size) == ("pegasus_x", 32)
    assert pegasus_x.position_limit == 512
    # The vocabulary is the tokenizer's trained for the random-init model, not the config's.
    assert all(m.by_checkpoint and m.vocab_size <= profile.vocab_size == 1000
               for m in (longt5, pegasus_x))
    # The checkpoint string is part of the cell's parameters, and so of its hash.
    assert [r.params.checkpoint for r in records] == list(checkpoints.values())
    moved = profile.model_copy(update={"checkpoints": {
        "longt5-tiny": checkpoints["longt5-tiny"] + "/", "pegasus-x-tiny": "x"}})
    cell = Cell("qasper", "longt5-tiny", 128)
    assert cell.resolve(moved).digest != cell.resolve(profile).digest
    assert all(r.efficiency.train_samples_per_s > 0 for r in records)


@pytest.mark.parametrize("config, message", [
    ({"model_type": "gpt2", "n_layer": 1, "n_embd": 16, "n_head": 2},
     "model_type 'gpt2', which is not an encoder-decoder the grid can run"),
    ({"model_type": "not-a-model"}, "cannot read the config of checkpoint"),
])
def test_a_model_type_the_grid_cannot_run_fails_before_compute_with_one_line(
        tmp_path, capsys, monkeypatch, config, message):
    path = _profile_file(tmp_path, {"mine": _folder(tmp_path, "mine", config)})
    # Any compute would build a model: make that impossible.
    for where in ("tradeoff.pipeline.run_cell", "tradeoff.grid.run_cell"):
        monkeypatch.setattr(where, lambda *a, **k: pytest.fail("ran a cell"))
    assert cli.main(["grid", "--profile", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_lengths_and_scales_a_checkpoint_cannot_take_are_config_errors(tmp_path):
    checkpoints = {"pegasus-x-tiny": _folder(tmp_path, "pegasus-x", PEGASUS_X),
                   "longt5-tiny": _folder(tmp_path, "longt5", LONGT5)}
    too_long = load_profile(_profile_file(tmp_path, checkpoints, lengths=[1024]))
    with pytest.raises(ConfigError, match="between 1 and 512 tokens"):
        validate_cells(too_long, too_long.cells())
    # Relative positions: no position limit, so LongT5 takes 1024 (only memory bounds it).
    validate_cells(too_long, [Cell("qasper", "longt5-tiny", 1024)])
    mini = too_long.model_copy(update={"scale": "mini"})
    with pytest.raises(ConfigError, match="has only its config's size"):
        Cell("qasper", "longt5-tiny", 128).resolve(mini)
    with pytest.raises(ConfigError, match="unknown model 'nope'.*by checkpoint: longt5-tiny, pegasus-x-tiny"):
        _write(tmp_path, checkpoints, models=["nope"])
    with pytest.raises(ConfigError, match="'led-base' is a preset"):
        _write(tmp_path, {"led-base": "allenai/led-base-16384"})
    with pytest.raises(ConfigError, match="no config.json"):
        empty = tmp_path / "empty"
        empty.mkdir()
        Cell("qasper", "e", 128).resolve(_write(tmp_path, {"e": str(empty)}))


def _write(tmp_path: Path, checkpoints: dict, **settings):
    folder = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    folder.mkdir()
    return load_profile(_profile_file(folder, checkpoints, **settings))


def test_a_checkpoint_missing_offline_is_named_in_the_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from tradeoff.models import build_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(OSError, match="checkpoint 'allenai/led-base-16384' could not be loaded"):
        build_model("led-base", "pretrained", "full")
