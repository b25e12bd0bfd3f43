"""Profiles validate before any compute, and a cell's hash tracks what changes its result."""

import pytest

from tradeoff.config import Cell, load_profile, PARAMS_DIR, validate_profile
from tradeoff.errors import ConfigError
from tradeoff.models import check_length, max_input_length


@pytest.mark.parametrize("name", sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
def test_every_shipped_profile_loads(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.cells()


def test_unknown_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="learning_rat"):
        validate_profile({"learning_rat": 1e-4})


def test_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match="batch_size"):
        validate_profile({"batch_size": "big"})


@pytest.mark.parametrize("raw, needle", [
    ({"lengths": [0]}, "positive"),
    ({"datasets": ["arxiv"]}, "datasets"),
    ({"models": ["t5-large"]}, "models"),
    ({"max_new_tokens": {"arxiv": 3}}, "arxiv"),
])
def test_bad_grid_values_fail_with_one_line(raw, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        validate_profile(raw)
    assert "\n" not in str(info.value)


def test_missing_profile_names_the_known_ones():
    with pytest.raises(ConfigError, match="smoke"):
        load_profile("no-such-profile")


def test_yaml_scientific_notation_is_a_float(tmp_path):
    # PyYAML reads '1e-4' as a string; the profile must still accept it as the number meant.
    path = tmp_path / "p.yaml"
    path.write_text("learning_rate: 1e-4\n")
    assert load_profile(path).learning_rate == pytest.approx(1e-4)


def test_grid_expansion_and_batch_study():
    profile = validate_profile({"datasets": ["govreport", "qasper"], "models": ["led-base", "led-large"],
                                "lengths": [1024, 4096], "qasper_grad_accum_study": [4]})
    cells = profile.cells()
    # 2 datasets x 2 models x 2 lengths, plus accumulation 4 for Qasper's LED-base only.
    assert len(cells) == 8 + 2
    assert Cell("qasper", "led-base", 1024, 0, 4) in cells
    assert Cell("qasper", "led-large", 1024, 0, 4) not in cells


def test_scrolls_learning_rate_follows_length_and_profile_wins():
    profile = validate_profile({})
    assert Cell("qmsum", "led-base", 1024).resolve(profile).learning_rate == 5e-5
    assert Cell("qmsum", "led-base", 4096).resolve(profile).learning_rate == 1e-5
    assert Cell("qmsum", "led-base", 3072).resolve(profile).learning_rate == 1e-5
    assert Cell("qmsum", "led-base", 2048).resolve(profile).learning_rate == 5e-5
    assert Cell("qasper", "led-base", 1024).resolve(profile).eval_steps == 10
    assert Cell("govreport", "led-base", 1024).resolve(profile).eval_steps == 500
    custom = validate_profile({"learning_rate": 3e-4})
    assert Cell("qmsum", "led-base", 1024).resolve(custom).learning_rate == 3e-4


def test_hash_changes_with_results_but_not_with_bookkeeping():
    a = validate_profile({"name": "a", "description": "x"})
    b = validate_profile({"name": "b", "description": "y", "results_dir": "elsewhere"})
    c = validate_profile({"name": "a", "max_steps": 7})
    cell = Cell("govreport", "led-base", 1024)
    assert cell.resolve(a).digest == cell.resolve(b).digest
    assert cell.resolve(a).digest != cell.resolve(c).digest
    assert cell.resolve(a).digest != cell._replace(seed=1).resolve(a).digest


def test_a_learning_rate_of_zero_is_kept_not_replaced_by_the_scrolls_rate():
    # 0 freezes the weights (the rehearsal's plateau); only None means "SCROLLS' rate".
    cell = Cell("govreport", "led-base", 1024)
    assert cell.resolve(validate_profile({"learning_rate": 0.0})).learning_rate == 0.0
    assert cell.resolve(validate_profile({})).learning_rate == 1e-4


@pytest.mark.parametrize("model, scale, limit", [
    ("led-base", "full", 16384), ("bigbird-large", "full", 4096), ("led-large", "mini", 4096),
    ("pegasus-x-base", "full", 16384)])
def test_length_limits(model, scale, limit):
    assert max_input_length(model, scale) == limit
    check_length(model, scale, limit)
    for bad in (0, limit + 1):
        with pytest.raises(ConfigError, match="impossible"):
            check_length(model, scale, bad)


def test_longt5_has_no_position_limit():
    # Relative-position buckets: any length is possible as far as positions go.
    assert max_input_length("longt5-base", "full") is None
    check_length("longt5-base", "full", 65536)
    with pytest.raises(ConfigError, match="at least 1 token"):
        check_length("longt5-base", "full", 0)


def test_a_cells_processes_enter_its_hash_and_name_only_when_not_one():
    qa, summ = Cell("qasper", "led-base", 1024), Cell("govreport", "led-base", 1024)
    one = load_profile("smoke")
    eight = load_profile("smoke", qa_gpus_per_cell=8)
    assert qa.resolve(eight).processes == 8 and summ.resolve(eight).processes == 1
    # A Qasper cell on 8 GPUs and on 1 are different runs (8 times the effective batch).
    assert qa.resolve(eight).digest != qa.resolve(one).digest
    assert qa.resolve(eight).record_name.endswith(f"_dp8_{qa.resolve(eight).digest}.json")
    # One process leaves the hash as it was before processes entered it.
    assert summ.resolve(eight).digest == summ.resolve(one).digest
    assert "_dp" not in qa.resolve(one).record_name


def test_committed_records_keep_their_names():
    """The book finds committed records by their hash: a new parameter must not rename them."""
    from tradeoff.config import REPO_ROOT
    from tradeoff.records import load_record

    paths = [p for folder in ("knobs", "cpu-arch")
             for p in sorted((REPO_ROOT / "reference" / folder).glob("*.json"))]
    assert len(paths) >= 30
    for path in paths:
        record = load_record(path)
        assert record.params.digest == record.params_hash, path.name
        assert record.params.record_name == path.name
