import pytest
import yaml
from conftest import SHIPPED

from kit.challenge import commit_labels, load_challenge, sha256_file
from kit.errors import DataIntegrityError, SpecError
from kit.prepare import prepare

ROLES = ("train", "test", "sample_submission", "labels")


@pytest.mark.parametrize("cid", SHIPPED)
def test_prepare_is_deterministic_and_matches_the_spec(root, cid):
    ch = load_challenge(cid, root=root)
    before = {r: ch.path(r).read_bytes() for r in ROLES}
    salt = ch.labels_salt_path.read_bytes()
    for role in before:
        ch.path(role).unlink()
    results = prepare(cid, root=root)
    assert all(r.matches for r in results)
    assert {r: ch.path(r).read_bytes() for r in ROLES} == before, "byte for byte"
    assert ch.labels_salt_path.read_bytes() == salt, "the salt is kept"
    digests = {r.role: r.digest for r in results}
    assert digests["labels"] == ch.spec.data.labels.commitment == commit_labels(before["labels"], salt.decode())
    assert sha256_file(ch.path("labels")) not in digests.values(), "the labels' plain hash is never reported"
    assert {r: digests[r] for r in ROLES[:3]} == {r: sha256_file(ch.path(r)) for r in ROLES[:3]}
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
    salt = ch.labels_salt_path.read_bytes()
    with pytest.raises(DataIntegrityError) as exc:
        prepare("diabetes", root=root)
    assert "nothing was overwritten" in exc.value.what
    assert "--write-hashes" in exc.value.fix
    assert ch.path("train").read_bytes() == before
    results = prepare("diabetes", root=root, write_hashes=True)
    ch2 = load_challenge("diabetes", root=root)
    ch2.verify()
    assert ch2.spec.data.train.sha256 == next(r.digest for r in results if r.role == "train")
    assert ch2.spec.data.labels.commitment == next(r.digest for r in results if r.role == "labels")
    assert ch2.labels_salt_path.read_bytes() == salt, "a rebuild with new hashes keeps the salt"
    assert "# Challenge spec" in spec.read_text(), "comments are kept"


def test_verify_names_the_tampered_file(root):
    ch = load_challenge("breast-cancer", root=root)
    with open(ch.path("labels"), "a") as f:
        f.write("case-9999,1,public\n")
    with pytest.raises(DataIntegrityError) as exc:
        ch.verify()
    assert "labels" in str(exc.value) and "kit prepare breast-cancer" in str(exc.value)
    assert "commitment" in str(exc.value)


def test_a_missing_salt_is_made_only_with_write_hashes(root):
    ch = load_challenge("breast-cancer", root=root)
    ch.labels_salt_path.unlink()
    with pytest.raises(DataIntegrityError) as exc:
        ch.verify(roles=("labels",))
    assert "salt" in exc.value.problems[0].what and "kit prepare breast-cancer --write-hashes" in str(exc.value)
    with pytest.raises(DataIntegrityError) as exc:
        prepare("breast-cancer", root=root)
    assert "salt of the commitment is missing" in str(exc.value) and not ch.labels_salt_path.exists()
    results = prepare("breast-cancer", root=root, write_hashes=True)
    salt = ch.labels_salt_path.read_text().strip()
    assert len(salt) == 64 and int(salt, 16) >= 0
    ch2 = load_challenge("breast-cancer", root=root)
    assert ch2.spec.data.labels.commitment == commit_labels(ch.path("labels").read_bytes(), salt)
    assert ch2.spec.data.labels.commitment != ch.spec.data.labels.commitment, "a new salt, a new commitment"
    assert [r.role for r in results if not r.matches] == ["labels"]
    ch2.verify()


def test_an_old_spec_with_the_labels_sha256_is_migrated(root):
    """A spec written before commitments still loads (with a warning) and verifies;
    `kit prepare --write-hashes` replaces the plain hash by a salted commitment."""
    ch = load_challenge("diabetes", root=root)
    path = ch.spec_path
    plain = sha256_file(ch.path("labels"))
    old = path.read_text().replace(f'commitment: "{ch.spec.data.labels.commitment}"', f'sha256: "{plain}"')
    path.write_text(old)
    ch.labels_salt_path.unlink()
    with pytest.warns(FutureWarning, match="guessed labels file"):
        legacy = load_challenge("diabetes", root=root)
    legacy.verify()
    with pytest.warns(FutureWarning):
        assert all(r.matches for r in prepare("diabetes", root=root))  # kept as it is without --write-hashes
    assert path.read_text() == old and not ch.labels_salt_path.exists()
    with pytest.warns(FutureWarning):
        prepare("diabetes", root=root, write_hashes=True)
    text = path.read_text()
    assert plain not in text and "commitment:" in text and "# Challenge spec" in text
    migrated = load_challenge("diabetes", root=root)
    assert migrated.spec.data.labels.sha256 is None
    assert migrated.spec.data.labels.commitment == commit_labels(ch.path("labels").read_bytes(), migrated.labels_salt())
    migrated.verify()


def test_labels_need_a_commitment_and_not_both(root):
    from kit.challenge import parse_spec

    data = yaml.safe_load((root / "starter_kits/diabetes/challenge.yml").read_text())
    del data["data"]["labels"]["commitment"]
    with pytest.raises(SpecError) as exc:
        parse_spec(data)
    (problem,) = exc.value.problems
    assert problem.where == "data.labels" and "kit prepare ID --write-hashes" in problem.fix
    data["data"]["labels"]["commitment"] = "xyz"
    with pytest.raises(SpecError) as exc:
        parse_spec(data)
    assert exc.value.problems[0].where == "data.labels.commitment" and "--write-hashes" in exc.value.problems[0].fix
    data["data"]["labels"].update(commitment="0" * 64, sha256="1" * 64)
    with pytest.raises(SpecError) as exc:
        parse_spec(data)
    assert "remove data.labels.sha256" in exc.value.problems[0].fix
