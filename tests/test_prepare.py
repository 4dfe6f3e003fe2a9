import pytest
from conftest import SHIPPED

from kit.challenge import load_challenge, sha256_file
from kit.errors import DataIntegrityError
from kit.prepare import prepare


@pytest.mark.parametrize("cid", SHIPPED)
def test_prepare_is_deterministic_and_matches_the_spec(root, cid):
    ch = load_challenge(cid, root=root)
    before = {r: sha256_file(ch.path(r)) for r in ("train", "test", "sample_submission", "labels")}
    for role in before:
        ch.path(role).unlink()
    results = prepare(cid, root=root)
    assert all(r.matches for r in results)
    assert {r.role: r.sha256 for r in results} == before
    import pandas as pd

    spec = ch.spec
    train, test = pd.read_csv(ch.path("train")), pd.read_csv(ch.path("test"))
    labels = pd.read_csv(ch.path("labels"))
    assert set(spec.target) <= set(train.columns)
    assert not set(spec.target) & set(test.columns), "test features must not carry the target"
    assert list(labels[spec.id_column]) == list(test[spec.id_column])
    assert not set(train[spec.id_column]) & set(test[spec.id_column])
    share = (labels["split"] == "public").mean()
    assert share == pytest.approx(spec.split.public_fraction, abs=0.02)


def test_mismatch_overwrites_nothing(root):
    ch = load_challenge("diabetes", root=root)
    spec = root / "starter_kits/diabetes/challenge.yml"
    spec.write_text(spec.read_text().replace("seed: 1994", "seed: 7"))
    before = ch.path("train").read_bytes()
    with pytest.raises(DataIntegrityError) as exc:
        prepare("diabetes", root=root)
    assert "nothing was overwritten" in exc.value.what
    assert "--write-hashes" in exc.value.fix
    assert ch.path("train").read_bytes() == before
    results = prepare("diabetes", root=root, write_hashes=True)
    ch2 = load_challenge("diabetes", root=root)
    ch2.verify()
    assert ch2.spec.data.train.sha256 == next(r.sha256 for r in results if r.role == "train")
    assert "# Challenge spec" in spec.read_text(), "comments are kept"


def test_verify_names_the_tampered_file(root):
    ch = load_challenge("breast-cancer", root=root)
    with open(ch.path("labels"), "a") as f:
        f.write("case-9999,1,public\n")
    with pytest.raises(DataIntegrityError) as exc:
        ch.verify()
    assert "labels" in str(exc.value) and "kit prepare breast-cancer" in str(exc.value)
