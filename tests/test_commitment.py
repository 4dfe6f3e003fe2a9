"""The labels' salted commitment: the spec participants hold records sha256(salt || labels), never a plain hash
of the hidden labels; the salt stays in the grading folder until the release publishes it with the labels, and
anyone can then check that the labels are the ones committed at launch."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import datetime, timezone

import nbformat
import pytest
import yaml
from conftest import REPO, SHIPPED

from kit.challenge import LABELS_SALT, commit_labels, load_challenge, new_salt, sha256_file, verify_commitment
from kit.errors import DataIntegrityError

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
CLOSED = datetime(2027, 7, 8, tzinfo=timezone.utc)  # the shipped challenges close on 2027-07-07


def test_verify_commitment_checks_the_bytes_and_the_salt():
    salt = new_salt()
    data = b"case_id,malignant,split\ncase-0001,1,public\ncase-0002,0,private\n"
    commitment = commit_labels(data, salt)
    assert commitment == hashlib.sha256(bytes.fromhex(salt) + data).hexdigest()
    assert commitment != hashlib.sha256(data).hexdigest(), "salted: a guessed file cannot be checked without the salt"
    assert verify_commitment(data, salt, commitment)
    assert verify_commitment(data, f" {salt.upper()}\n", commitment.upper()), "hex, whatever its case and spaces"
    assert not verify_commitment(data.replace(b"0001,1", b"0001,0"), salt, commitment), "one label changed"
    assert not verify_commitment(data + b"\n", salt, commitment), "one byte more"
    assert not verify_commitment(data, new_salt(), commitment), "another salt"
    for bad in ("", salt[:-2], "z" * 64):
        assert not verify_commitment(data, bad, commitment)
    assert len(salt) == 64 and len(bytes.fromhex(salt)) == 32 and salt != new_salt()


@pytest.mark.parametrize("cid", SHIPPED)
def test_shipped_specs_commit_to_their_labels_without_revealing_them(cid):
    ch = load_challenge(cid, root=REPO)
    labels = ch.spec.data.labels
    assert labels.sha256 is None and labels.commitment
    assert ch.labels_salt_path == ch.grading_dir / LABELS_SALT, "hidden with the labels"
    assert verify_commitment(ch.path("labels").read_bytes(), ch.labels_salt(), labels.commitment)
    ch.verify(roles=("labels",))  # what the hidden grading notebook does
    code = "\n".join(c.source for c in nbformat.read(ch.grade_notebook, as_version=4).cells)
    assert 'challenge.verify(roles=("labels",))' in code
    plain = sha256_file(ch.path("labels"))
    for path in ch.starter_dir.rglob("*"):  # what participants receive
        if path.is_file():
            data = path.read_bytes()
            assert plain.encode() not in data and ch.labels_salt().encode() not in data, path


def test_verify_refuses_changed_labels_and_a_lost_salt(tmp_path):
    root = tmp_path / "root"
    for part in ("starter_kits", "grading"):
        shutil.copytree(REPO / part / "diabetes", root / part / "diabetes")
    ch = load_challenge("diabetes", root=root)
    salt = ch.labels_salt_path.read_text()
    ch.labels_salt_path.write_text(new_salt() + "\n")
    with pytest.raises(DataIntegrityError) as info:
        ch.verify(roles=("labels",))
    assert "does not match the commitment" in info.value.problems[0].what
    ch.labels_salt_path.unlink()
    with pytest.raises(DataIntegrityError) as info:
        ch.verify(roles=("labels",))
    assert "salt" in info.value.problems[0].what and "kit prepare diabetes --write-hashes" in info.value.problems[0].fix
    ch.labels_salt_path.write_text("not a salt\n")
    with pytest.raises(DataIntegrityError) as info:
        ch.verify(roles=("labels",))
    assert "64 hex digits" in info.value.problems[0].what
    ch.labels_salt_path.write_text(salt)
    ch.verify()


def test_kit_new_writes_a_salt_and_a_commitment(tmp_path):
    from kit.authoring.new import new_challenge
    from kit.datasets import load_dataset

    table = tmp_path / "table.csv"
    load_dataset("diabetes").frame.to_csv(table, index=False)
    made = new_challenge("fresh", table, target=["progression"], task="regression", root=tmp_path)
    ch = load_challenge("fresh", root=tmp_path)
    assert ch.labels_salt_path in made.files and ch.labels_salt_path.is_file()
    spec = yaml.safe_load(ch.spec_path.read_text(encoding="utf-8"))
    assert set(spec["data"]["labels"]) == {"path", "commitment"}
    assert sha256_file(ch.path("labels")) not in ch.spec_path.read_text(encoding="utf-8")
    assert verify_commitment(ch.path("labels").read_bytes(), ch.labels_salt(), ch.spec.data.labels.commitment)
    ch.verify()


def _change_one_label(labels: bytes) -> bytes:
    """The labels file with the target of its first case changed."""
    head, first, *rest = labels.decode("utf-8").split("\n")
    cells = first.split(",")
    cells[1] = "0" if cells[1] != "0" else "1"
    return "\n".join([head, ",".join(cells), *rest]).encode("utf-8")


def test_a_release_reveals_the_salt_and_anyone_can_check_the_labels(tmp_path):
    from test_release import TEAMS, build_ledger

    from kit.release import LABELS_SALT_FILE, MANIFEST, release
    from kit.release import verify_commitment as release_verify

    ch = load_challenge("diabetes", root=REPO)
    work = tmp_path / "work"
    build_ledger(ch, work, tmp_path / "stored", teams=TEAMS[:2])
    result = release(ch, workdir=work, out_dir=tmp_path / "out", now=CLOSED, n_resamples=50)
    folder = result.folder
    # what anyone holds: the spec published at launch, and the release
    commitment = yaml.safe_load(ch.spec_path.read_text(encoding="utf-8"))["data"]["labels"]["commitment"]
    labels = (folder / "data" / "test_labels.csv").read_bytes()
    salt = (folder / "data" / LABELS_SALT_FILE).read_text(encoding="ascii").strip()
    assert f"data/{LABELS_SALT_FILE}" in result.files and salt == ch.labels_salt()
    assert release_verify is verify_commitment
    assert verify_commitment(labels, salt, commitment), "the released labels are the ones committed at launch"
    assert not verify_commitment(_change_one_label(labels), salt, commitment), "a changed label is caught"
    # the salt is covered by the manifest and shown, with the commitment, in the released card
    manifest = dict(reversed(line.split("  ", 1)) for line in (folder / MANIFEST).read_text().splitlines())
    assert (
        manifest[f"data/{LABELS_SALT_FILE}"]
        == hashlib.sha256((folder / "data" / LABELS_SALT_FILE).read_bytes()).hexdigest()
    )
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert salt in readme and commitment in readme and "verify_commitment" in readme
    assert hashlib.sha256(labels).hexdigest() in readme, "after the close the card gives the labels' checksum too"
    # the card's shell recipe gives the commitment
    if shutil.which("xxd") and shutil.which("sha256sum"):
        out = subprocess.run(
            f"printf '%s' {salt} | xxd -r -p | cat - data/test_labels.csv | sha256sum",
            shell=True,
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.split()[0] == commitment
