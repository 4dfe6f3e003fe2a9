"""The challenge spec: one YAML file per challenge, validated by a typed, versioned schema.

The spec lives at ``starter_kits/<id>/challenge.yml`` (participants see it);
the hidden part of a challenge (labels, the labels' salt, the grading notebook) lives in
``grading/<id>/``. :func:`load_challenge` finds both and returns a
:class:`Challenge` that knows the paths of every part.

The spec records the sha256 of each participant file, but never a plain hash of the
hidden labels: one could check a guessed labels file against it. It records a *salted
commitment* instead, ``data.labels.commitment = sha256(salt || labels bytes)`` in hex,
with the 32 random bytes of the salt kept, in hex, in ``grading/<id>/labels.salt``
(:data:`LABELS_SALT`). The release publishes the labels and the salt: anyone can then
check with :func:`verify_commitment` that the labels are the ones committed at launch.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ChallengeNotFound, DataIntegrityError, KitError, Problem, SpecError
from .metrics import get_metric, get_metric_names
from .remedies import Remedy, remedy_problems
from .yamlfile import read_yaml

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import Metric
    from .tasks import Task

SCHEMA_VERSION = 1
SPEC_FILENAME = "challenge.yml"
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
HEX64 = r"^[0-9a-f]{64}$"
#: the hidden salt of the labels' commitment, beside the labels in ``grading/<id>/``
LABELS_SALT = "labels.salt"
#: bytes of a salt (written as 64 hex digits)
SALT_BYTES = 32


class _FieldError(ValueError):
    """A field problem with its fix, reported by :func:`spec_problems`."""

    def __init__(self, what: str, fix: str = ""):
        self.what, self.fix = what, fix
        super().__init__(what)


def _known_metric(name: str) -> str:
    try:
        get_metric(name)
    except KitError as exc:
        raise _FieldError(exc.what, exc.fix) from None
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metrics(_Model):
    primary: str = Field(description="registry name of the metric that ranks teams")
    secondary: list[str] = Field(default_factory=list, description="other metrics shown beside it")

    @field_validator("primary")
    @classmethod
    def _known_primary(cls, v):
        return _known_metric(v)

    @field_validator("secondary")
    @classmethod
    def _known_secondary(cls, v):
        for name in v:
            _known_metric(name)
        if len(set(v)) != len(v):
            raise ValueError("a metric is listed twice; list each metric once")
        return v

    @property
    def all(self) -> list[str]:
        return [self.primary] + [m for m in self.secondary if m != self.primary]


class Temporal(_Model):
    column: str = Field(min_length=1, description="date or time column of the source table")
    cutoff: str = Field(
        min_length=1, description="rows at or after this value are the test set (ISO date, or a number)"
    )


class Split(_Model):
    test_fraction: float = Field(gt=0, lt=1, description="share of the cases held out as the test set")
    public_fraction: float = Field(gt=0, lt=1, description="share of the test set scored on the public board")
    group_column: str | None = Field(
        default=None, description="patient (or other group) column: no group is in two of train/public/private"
    )
    stratify: bool = Field(default=True, description="stratify the split on the target where the task allows")
    temporal: Temporal | None = Field(
        default=None, description="train before the cut-off, test after (then test_fraction is not used)"
    )


class SubmissionRules(_Model):
    per_day: int = Field(ge=1, description="submissions a team may make per UTC day")
    total: int = Field(ge=1, description="submissions a team may make over the whole challenge")
    final_selections: int = Field(ge=1, description="submissions a team may select for the private board")

    @model_validator(mode="after")
    def _consistent(self):
        if self.per_day > self.total:
            raise ValueError(f"per_day ({self.per_day}) exceeds total ({self.total}); lower per_day or raise total")
        if self.final_selections > self.total:
            raise ValueError("final_selections exceeds total; a team cannot select more than it may submit")
        return self


class Phase(_Model):
    name: str = Field(min_length=1)
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime):
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError(
                f"phase {self.name!r} ends ({self.end:%Y-%m-%d}) before it starts "
                f"({self.start:%Y-%m-%d}); set end after start"
            )
        return self


class Limits(_Model):
    """Resource limits for running one participant notebook. Sizes are in MiB (2**20 bytes), as
    every message says, although the fields keep their historical ``_mb`` names."""

    wall_seconds: float = Field(default=300, gt=0, description="whole-notebook wall-clock limit")
    cell_seconds: float = Field(default=120, gt=0, description="per-cell limit")
    cpu_seconds: float = Field(default=300, gt=0, description="CPU time of the kernel and what it starts")
    memory_mb: int = Field(default=2048, ge=64, description="address space of the kernel, in MiB")
    processes: int = Field(default=64, ge=1, description="processes and threads at once")
    file_size_mb: int = Field(default=100, ge=1, description="largest file written or handed in, in MiB")
    output_mb: int = Field(default=10, ge=1, description="largest executed notebook / captured output kept, in MiB")


class _File(_Model):
    path: str = Field(description="path relative to the starter kit (public files) or grading folder (labels)")

    @field_validator("path")
    @classmethod
    def _relative(cls, v):
        p = Path(v)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError(f"{v!r} must be a relative path inside the challenge folder")
        return v


class DataFile(_File):
    """A participant file: its path in the starter kit and the sha256 of its bytes."""

    sha256: str = Field(pattern=HEX64, description="hex sha256 of the file's bytes")


class LabelsFile(_File):
    """The hidden labels file: its path in ``grading/<id>/`` and a salted commitment of its bytes.

    ``commitment`` is ``sha256(salt || the file's bytes)`` in hex, the salt being the 32 bytes
    written in hex in ``grading/<id>/labels.salt`` (hidden until the release publishes it).
    A plain ``sha256`` (specs written before commitments) is still read, with a warning: it lets
    anyone holding the spec check a guessed labels file; ``kit prepare ID --write-hashes``
    replaces it by a commitment.
    """

    commitment: str | None = Field(
        default=None,
        pattern=HEX64,
        description="hex sha256(salt || the labels file's bytes); the salt is in grading/<id>/labels.salt",
    )
    sha256: str | None = Field(
        default=None,
        pattern=HEX64,
        description="deprecated (an exact check for a guessed labels file): use commitment",
    )

    @model_validator(mode="after")
    def _one_check(self):
        if self.commitment is None and self.sha256 is None:
            raise _FieldError(
                "data.labels needs the commitment of the labels",
                fix="run `kit prepare ID --write-hashes` to make a salt and record the commitment",
            )
        if self.commitment is not None and self.sha256 is not None:
            raise _FieldError(
                "data.labels has both a commitment and a plain sha256",
                fix="remove data.labels.sha256: the plain hash lets anyone check a guessed labels file",
            )
        if self.sha256 is not None:
            warnings.warn(
                "data.labels.sha256 lets anyone holding the spec check a guessed labels file; run "
                "`kit prepare ID --write-hashes` to replace it by a salted commitment",
                FutureWarning,
                stacklevel=2,
            )
        return self

    @property
    def expected(self) -> str:
        """What the spec holds for the labels: the commitment (or, in an old spec, the plain sha256)."""
        return self.commitment if self.commitment is not None else str(self.sha256)


class DataFiles(_Model):
    train: DataFile
    test: DataFile
    sample_submission: DataFile
    labels: LabelsFile = Field(
        description="hidden: test labels and public/private split, in grading/<id>/, with a salted commitment"
    )


class Source(_Model):
    """Where a challenge's cases come from: a bundled dataset, or the organiser's own table."""

    dataset: str | None = Field(default=None, description="name of a bundled dataset loader (kit.datasets)")
    file: str | None = Field(
        default=None, description="the organiser's table (CSV, Parquet, Excel): relative to the root, or absolute"
    )
    sha256: str | None = Field(default=None, pattern=HEX64, description="hex sha256 of the source file")
    sheet: str | None = Field(default=None, description="Excel: the sheet to read (default: the first)")
    id_column: str | None = Field(
        default=None, description="column of the source holding the case ids (default: ids are generated)"
    )
    drop: list[str] = Field(default_factory=list, description="source columns left out of every file")
    remedies: list[Remedy] = Field(
        default_factory=list,
        description="generalisation of source columns before the split (kit.remedies: age_bands, top_code, "
        "date, departement, merge_rare)",
    )

    @field_validator("remedies", mode="before")
    @classmethod
    def _remedies(cls, v):
        from .remedies import parse_remedies

        if not isinstance(v, list):
            raise ValueError("source.remedies is a list of {kind: ..., column: ...}")
        try:
            return parse_remedies(v)
        except KitError as exc:
            raise _FieldError("; ".join(f"{p.where}: {p.what}" for p in exc.problems), exc.problems[0].fix) from None

    @field_validator("dataset")
    @classmethod
    def _known(cls, v):
        from .datasets import get_dataset_names

        if v is not None and v not in get_dataset_names():
            raise ValueError(f"{v!r} is not a bundled dataset; use one of {', '.join(get_dataset_names())}")
        return v

    @model_validator(mode="after")
    def _one_source(self):
        if (self.dataset is None) == (self.file is None):
            raise ValueError("give exactly one of source.dataset (a bundled dataset) and source.file (your table)")
        if self.file is not None and self.sha256 is None:
            raise _FieldError("source.file needs its sha256", fix="run `kit prepare ID --write-hashes` to record it")
        return self


class SurvivalOptions(_Model):
    times: list[float] = Field(
        min_length=1, description="follow-up times at which time-dependent metrics and survival probabilities are taken"
    )

    @field_validator("times")
    @classmethod
    def _increasing(cls, v):
        if any(t <= 0 for t in v) or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("survival.times must be positive and increasing")
        return v


#: spec fields that belong to some task types only (:attr:`kit.tasks.Task.spec_fields`)
TASK_FIELDS = ("classes", "ordinal", "survival")


class ChallengeSpec(_Model):
    schema_version: Literal[1] = Field(description="version of this schema; 1")
    id: str = Field(pattern=ID_PATTERN, description="lower-case id, also the folder name")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    task: str = Field(description="task type: binary, multiclass, regression or survival (kit.tasks)")
    id_column: str = Field(min_length=1)
    target: list[str] = Field(min_length=1, description="target column(s); survival: [event, time]")
    prediction_column: str | None = Field(
        default=None, description="column participants predict; default: the target (binary, regression) or 'risk'"
    )
    positive_label: str | None = Field(default=None, description="binary: what the positive class means")
    classes: list[str] | None = Field(
        default=None, description="multiclass: the classes, in order (ordinal: from lowest to highest)"
    )
    ordinal: bool = Field(default=False, description="multiclass: the classes are ordered (a grade, a stage)")
    survival: SurvivalOptions | None = Field(default=None, description="survival: the times of time-dependent metrics")
    metrics: Metrics
    split: Split
    seed: int = Field(ge=0)
    submissions: SubmissionRules
    phases: list[Phase] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    source: Source
    data: DataFiles

    @model_validator(mode="after")
    def _coherent(self):
        from .tasks import get_task, get_task_names

        problems = []
        task = self.task_type
        for name in self.metrics.all:
            m = get_metric(name)
            if m.task != self.task:
                problems.append(
                    f"metric {name!r} scores {m.task} tasks, not {self.task}; use one of "
                    f"{', '.join(get_metric_names(self.task))}"
                )
            elif m.ordinal_only and not self.ordinal:
                problems.append(f"metric {name!r} needs ordered classes; set ordinal: true or choose another metric")
        if len(self.target) != task.n_targets:
            problems.append(
                f"a {self.task} task has {task.n_targets} target column(s) ({task.target_help}); got {len(self.target)}"
            )
        for name in TASK_FIELDS:
            if getattr(self, name) not in (None, False) and name not in task.spec_fields:
                owners = [t for t in get_task_names() if name in get_task(t).spec_fields]
                problems.append(f"{name} applies to {' and '.join(owners)} tasks only; remove it")
        if not problems:
            problems += task.spec_problems(self)
        if self.id_column in self.target:
            problems.append("id_column is also a target column; use a separate id column")
        protected = {c: "target" for c in self.target}
        if self.source.id_column:
            protected[self.source.id_column] = "id column"
        if self.split.group_column:
            protected[self.split.group_column] = "patient (group) column, replaced by pseudonyms"
        problems += [
            f"source.remedies: {p}"
            for p in remedy_problems(self.source.remedies, protected=protected, drop=self.source.drop)
        ]
        for a, b in zip(self.phases, self.phases[1:], strict=False):
            if b.start < a.end:
                problems.append(f"phases {a.name!r} and {b.name!r} overlap; start {b.name!r} after {a.name!r} ends")
        if len({p.name for p in self.phases}) != len(self.phases):
            problems.append("two phases have the same name; give each phase its own name")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("task")
    @classmethod
    def _known_task(cls, v):
        from .tasks import TASKS

        try:
            TASKS.get(v)
        except KitError as exc:
            raise _FieldError(exc.what, exc.fix) from None
        return v

    # -- derived --------------------------------------------------------------
    @property
    def task_type(self) -> Task:
        """The :class:`~kit.tasks.Task` of this challenge."""
        from .tasks import get_task

        return get_task(self.task)

    @property
    def prediction_columns(self) -> list[str]:
        """The columns of a prediction file besides the id, in order."""
        return self.task_type.prediction_columns(self)

    @property
    def survival_times(self) -> tuple[float, ...]:
        return tuple(self.survival.times) if self.survival else ()

    def metric(self, name: str) -> Metric:
        """The registered metric *name*, bound to this challenge's parameters (e.g. survival times)."""
        return get_metric(name).bind(times=self.survival_times)

    @property
    def opens(self) -> datetime:
        return self.phases[0].start

    @property
    def closes(self) -> datetime:
        return self.phases[-1].end

    def is_open(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return now < self.closes

    def phase_at(self, now: datetime | None = None) -> Phase | None:
        now = now or datetime.now(timezone.utc)
        for p in self.phases:
            if p.start <= now < p.end:
                return p
        return None


# -- parsing with one message per problem ----------------------------------------
def _loc(loc) -> str:
    parts = []
    for x in loc:
        if isinstance(x, int):
            parts.append(f"[{x}]")
        else:
            parts.append(("." if parts else "") + str(x))
    return "".join(parts) or "(top level)"


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove this field or check its spelling",
    "literal_error": "use one of the allowed values",
    "string_pattern_mismatch": "use the required format",
}


def spec_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for e in error.errors():
        msg = e["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        if e["type"] == "value_error" and isinstance(e.get("ctx", {}).get("error"), Exception):
            exc = e["ctx"]["error"]
            fix = getattr(exc, "fix", "")
            msg = getattr(exc, "what", msg)
        else:
            fix = _FIXES.get(e["type"], "")
        last = e["loc"][-1] if e["loc"] else None
        if e["type"] == "string_pattern_mismatch" and last == "sha256":
            fix = "run `kit prepare ID --write-hashes` to record the real checksum"
        elif e["type"] == "string_pattern_mismatch" and last == "commitment":
            fix = "run `kit prepare ID --write-hashes` to record the labels' commitment (64 hex digits)"
        elif e["type"] == "string_type" and last in ("sha256", "commitment"):
            fix = f'write the checksum as a quoted string: {last}: "…"'
        elif e["type"] == "string_pattern_mismatch" and e["loc"] == ("id",):
            fix = "use 2-63 lower-case letters, digits and dashes, starting with a letter or digit"
        problems.append(Problem(what=msg, where=_loc(e["loc"]), fix=fix))
    return problems


def parse_spec(data, *, source: str = "challenge spec") -> ChallengeSpec:
    if not isinstance(data, dict):
        raise SpecError(
            "the spec must be a YAML mapping of fields",
            where=source,
            fix="start from starter_kits/breast-cancer/challenge.yml",
        )
    try:
        return ChallengeSpec.model_validate(data)
    except ValidationError as exc:
        problems = spec_problems(exc)
        raise SpecError(f"{len(problems)} problem(s) in the challenge spec", where=source, problems=problems) from None


def read_spec(path: str | os.PathLike) -> ChallengeSpec:
    path = Path(path)
    data = read_yaml(
        path,
        error=SpecError,
        missing=ChallengeNotFound(f"no spec file at {path}", fix="check the path or the challenge id"),
    )
    return parse_spec(data, source=str(path))


# -- locating challenges ----------------------------------------------------------
def find_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``starter_kits/`` and ``grading/``.

    Order: the ``root`` argument, ``$KIT_ROOT``, the current folder or one of its
    parents, then the checkout that holds this package.
    """
    if root is not None:
        return Path(root).resolve()
    if os.environ.get("KIT_ROOT"):
        return Path(os.environ["KIT_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "starter_kits").is_dir():
            return cand
    return Path(__file__).resolve().parent.parent


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_salt() -> str:
    """A fresh salt for the labels' commitment: 32 random bytes (:mod:`secrets`), as 64 hex digits."""
    return secrets.token_hex(SALT_BYTES)


def _salt_bytes(salt_hex: str) -> bytes:
    text = salt_hex.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError("a salt is 64 hex digits (32 bytes)")
    return bytes.fromhex(text)


def commit_labels(labels_bytes: bytes, salt_hex: str) -> str:
    """The commitment of a labels file: ``sha256(salt || labels bytes)`` in hex, the salt given in hex."""
    return hashlib.sha256(_salt_bytes(salt_hex) + labels_bytes).hexdigest()


def verify_commitment(labels_bytes: bytes, salt_hex: str, commitment: str) -> bool:
    """True when ``labels_bytes`` are the labels committed to: ``sha256(salt || labels bytes) == commitment``.

    What anyone can check once a release publishes the labels (``data/test_labels.csv``), the
    salt (``data/test_labels.salt``, 64 hex digits) and the spec's ``data.labels.commitment``.
    A malformed salt or commitment verifies nothing (False).
    """
    try:
        digest = commit_labels(labels_bytes, salt_hex)
    except ValueError:
        return False
    return hmac.compare_digest(digest, commitment.strip().lower())


def read_salt(path: str | os.PathLike) -> str:
    """The salt written in a salt file (64 hex digits); :class:`DataIntegrityError` when missing or malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip().lower()
    except FileNotFoundError:
        raise DataIntegrityError(
            "the salt of the labels' commitment is missing",
            where=str(path),
            fix="restore it from a backup of the grading folder; or make a new salt and commitment with "
            "`kit prepare ID --write-hashes` (the spec participants hold changes)",
        ) from None
    except UnicodeDecodeError:
        text = ""
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise DataIntegrityError(
            "the salt of the labels' commitment is not 64 hex digits",
            where=str(path),
            fix="restore it from a backup of the grading folder; or make a new salt and commitment with "
            "`kit prepare ID --write-hashes`",
        )
    return text


def write_salt(path: str | os.PathLike, salt_hex: str) -> None:
    """Write a salt file (64 hex digits and a newline), replacing any file atomically."""
    path = Path(path)
    _salt_bytes(salt_hex)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(salt_hex.strip().lower() + "\n", encoding="ascii")
    tmp.replace(path)


class Challenge:
    """A validated spec plus the paths of the challenge's public and hidden parts."""

    def __init__(self, spec: ChallengeSpec, root: Path):
        self.spec = spec
        self.root = Path(root)

    def __repr__(self):
        return f"Challenge({self.id!r}, root={str(self.root)!r})"

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def starter_dir(self) -> Path:
        return self.root / "starter_kits" / self.id

    @property
    def grading_dir(self) -> Path:
        return self.root / "grading" / self.id

    @property
    def spec_path(self) -> Path:
        return self.starter_dir / SPEC_FILENAME

    @property
    def starter_notebook(self) -> Path:
        return self.starter_dir / "starter.ipynb"

    @property
    def grade_notebook(self) -> Path:
        return self.grading_dir / "grade.ipynb"

    def path(self, role: str) -> Path:
        f: DataFile = getattr(self.spec.data, role)
        base = self.grading_dir if role == "labels" else self.starter_dir
        return base / f.path

    @property
    def labels_salt_path(self) -> Path:
        """The hidden salt of the labels' commitment: ``grading/<id>/labels.salt``."""
        return self.grading_dir / LABELS_SALT

    def labels_salt(self) -> str:
        """The salt of the labels' commitment (64 hex digits); :class:`DataIntegrityError` when missing."""
        return read_salt(self.labels_salt_path)

    @property
    def public_files(self) -> dict[str, Path]:
        """Participant-visible data files by role (never the labels)."""
        return {r: self.path(r) for r in ("train", "test", "sample_submission")}

    @property
    def data_dir(self) -> Path:
        """The folder of participant-visible data (train, test, sample submission)."""
        return self.path("train").parent

    def verify(self, roles=("train", "test", "sample_submission", "labels")) -> None:
        """Check every data file against the spec: the sha256 of each participant file, and the
        labels against their salted commitment (with the hidden salt, ``grading/<id>/labels.salt``)."""
        problems = []
        for role in roles:
            p = self.path(role)
            if not p.exists():
                problems.append(Problem(f"{role} file is missing", where=str(p), fix=f"run `kit prepare {self.id}`"))
                continue
            if role == "labels":
                problems += self._labels_problems(p)
            elif (got := sha256_file(p)) != (expected := getattr(self.spec.data, role).sha256):
                problems.append(
                    Problem(
                        f"{role} file has sha256 {got[:12]}…, the spec says {expected[:12]}…",
                        where=str(p),
                        fix=f"run `kit prepare {self.id}` to regenerate it",
                    )
                )
        if problems:
            raise DataIntegrityError(
                f"data files of {self.id!r} do not match the spec", where=str(self.spec_path), problems=problems
            )

    def _labels_problems(self, path: Path) -> list[Problem]:
        labels = self.spec.data.labels
        if labels.commitment is None:  # an old spec: the plain sha256
            got = sha256_file(path)
            if got == labels.sha256:
                return []
            return [
                Problem(
                    f"labels file has sha256 {got[:12]}…, the spec says {str(labels.sha256)[:12]}…",
                    where=str(path),
                    fix=f"run `kit prepare {self.id}` to regenerate it",
                )
            ]
        try:
            salt = self.labels_salt()
        except DataIntegrityError as exc:
            return [Problem(exc.what, where=exc.where, fix=exc.fix.replace("ID", self.id))]
        if verify_commitment(path.read_bytes(), salt, labels.commitment):
            return []
        return [
            Problem(
                "labels file does not match the commitment in the spec (sha256 of the salt and the file)",
                where=str(path),
                fix=f"run `kit prepare {self.id}` to regenerate it",
            )
        ]


def load_challenge(challenge: str | os.PathLike | Challenge, root=None) -> Challenge:
    """Load a challenge by id (``breast-cancer``) or by the path of its spec file or folder."""
    if isinstance(challenge, Challenge):
        return challenge
    text = str(challenge)
    p = Path(text)
    if p.suffix in (".yml", ".yaml") or p.is_dir() and (p / SPEC_FILENAME).exists():
        spec_path = p if p.suffix in (".yml", ".yaml") else p / SPEC_FILENAME
        spec = read_spec(spec_path)
        # starter_kits/<id>/challenge.yml -> root is two levels up
        return Challenge(spec, spec_path.resolve().parent.parent.parent)
    base = find_root(root)
    spec_path = base / "starter_kits" / text / SPEC_FILENAME
    if not spec_path.exists():
        known = list_challenges(base)
        raise ChallengeNotFound(
            f"no challenge {text!r} under {base / 'starter_kits'}",
            fix=f"use one of: {', '.join(known) or '(none found)'}, or pass --root / set KIT_ROOT",
        )
    spec = read_spec(spec_path)
    if spec.id != text:
        raise SpecError(
            f"the spec's id is {spec.id!r} but its folder is {text!r}",
            where=str(spec_path),
            fix="make the folder name and the id the same",
        )
    return Challenge(spec, base)


def list_challenges(root=None) -> list[str]:
    base = find_root(root)
    kits = base / "starter_kits"
    if not kits.is_dir():
        return []
    return sorted(d.name for d in kits.iterdir() if (d / SPEC_FILENAME).exists())


def safe_name(text: str, default: str = "x") -> str:
    """A file-system-safe slug for a team or file name (names are data, never paths)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:60]
    return slug or default
