import pydantic
import pytest
import yaml
from conftest import REPO, SHIPPED

from kit.challenge import load_challenge, parse_spec, read_spec
from kit.errors import ChallengeNotFound, SpecError


def good():
    return yaml.safe_load((REPO / "starter_kits/breast-cancer/challenge.yml").read_text())


@pytest.mark.parametrize("cid", SHIPPED)
def test_shipped_specs_validate_and_match_their_data(cid):
    ch = load_challenge(cid, root=REPO)
    assert ch.id == cid
    ch.verify()  # every file matches its sha256
    assert ch.spec.metrics.primary in ch.spec.metrics.all
    assert "labels" not in {p.name for p in ch.public_files.values()}
    assert ch.path("labels").is_relative_to(REPO / "grading" / cid)
    assert ch.starter_notebook.exists() and ch.grade_notebook.exists()


def test_one_message_per_problem_naming_field_and_fix():
    d = good()
    d["metrics"]["primary"] = "auc"
    d["split"]["public_fraction"] = 1.5
    d["task"] = "classification"
    del d["seed"]
    d["colour"] = "blue"
    d["phases"][0]["end"] = "2025-01-01T00:00:00Z"
    d["data"]["train"]["sha256"] = "xyz"
    with pytest.raises(SpecError) as exc:
        parse_spec(d)
    where = {p.where: p for p in exc.value.problems}
    assert "metrics.primary" in where and "roc_auc" in where["metrics.primary"].fix
    assert "split.public_fraction" in where
    assert "task" in where and "binary" in where["task"].fix and "classification" in where["task"].what
    assert where["seed"].fix == "add this field"
    assert "colour" in where and "spelling" in where["colour"].fix
    assert "phases[0]" in where and "before it starts" in where["phases[0]"].what
    assert "data.train.sha256" in where and "kit prepare" in where["data.train.sha256"].fix
    assert len(exc.value.problems) == 7
    text = str(exc.value)
    assert "7 problem(s)" in text and "metrics.primary" in text


def test_metric_task_mismatch_and_overlapping_phases():
    d = good()
    d["metrics"]["secondary"] = ["rmse"]
    d["phases"][1]["start"] = "2027-01-01T00:00:00Z"
    with pytest.raises(SpecError) as exc:
        parse_spec(d)
    msg = str(exc.value)
    assert "'rmse' scores regression tasks, not binary" in msg
    assert "overlap" in msg


def test_unquoted_numeric_hash_gets_a_quoting_hint():
    d = good()
    d["data"]["test"]["sha256"] = 123
    with pytest.raises(SpecError) as exc:
        parse_spec(d)
    assert "quoted" in exc.value.problems[0].fix


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "challenge.yml"
    p.write_text("id: x\ntitle: [unclosed\n")
    with pytest.raises(SpecError) as exc:
        read_spec(p)
    assert str(p) in exc.value.where and ":" in exc.value.where


def test_not_a_mapping():
    with pytest.raises(SpecError, match="mapping"):
        parse_spec(["a", "b"])


def test_unknown_challenge_lists_known_ones():
    with pytest.raises(ChallengeNotFound) as exc:
        load_challenge("nope", root=REPO)
    assert "breast-cancer" in exc.value.fix


def test_phases_and_openness():
    from datetime import datetime, timezone

    s = parse_spec(good())
    assert s.is_open(datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert not s.is_open(datetime(2027, 7, 8, tzinfo=timezone.utc))
    assert s.phase_at(datetime(2027, 7, 1, tzinfo=timezone.utc)).name == "final"


def test_spec_is_immutable():
    s = parse_spec(good())
    with pytest.raises(pydantic.ValidationError):
        s.seed = 3
