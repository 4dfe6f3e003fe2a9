"""Trusted scoring of validated prediction files: what the hidden grading notebook runs.

Scoring only ever reads parsed prediction files (numbers in a CSV), never
anything a participant's notebook displayed or returned. For each submission it
computes every metric of the spec on the public and on the private split,
keeps the per-case losses, and writes a machine-readable result.

This module imports nothing of :mod:`kit.grading`: the trusted kernel that runs the
grading notebook imports it (and the metrics, the spec and the labels) and nothing more.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from .challenge import Challenge, load_challenge
from .errors import KitError, MetricError
from .labels import SPLITS, Labels, read_labels
from .manifest import END_OF_MANIFEST, follow_manifest, read_manifest  # noqa: F401 - also kit.scoring's API
from .submission import read_predictions


@dataclass
class ScoreResult:
    status: str  # "scored" | "invalid"
    scores: dict = field(default_factory=dict)  # {"public": {metric: value}, "private": {...}}
    error: dict | None = None
    per_case: pd.DataFrame | None = None
    warnings: list = field(default_factory=list)


def score_file(challenge: Challenge, labels: Labels, predictions_path, name=None) -> ScoreResult:
    """Validate one prediction file and score it on both splits."""
    spec = challenge.spec
    try:
        preds = read_predictions(
            predictions_path,
            id_column=spec.id_column,
            prediction_column=spec.prediction_columns,
            expected_ids=labels.ids,
            task=spec.task,
            spec=spec,
            max_bytes=spec.limits.file_size_mb * 1024 * 1024,
            name=name,
        )
    except KitError as exc:
        return ScoreResult(status="invalid", error=exc.to_dict())
    p = spec.task_type.normalise_predictions(preds[spec.prediction_columns].to_numpy(dtype=float), spec)
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        # read_predictions has checked ids, types, finiteness and ranges: sklearn's own
        # re-validation of our fixed, well-formed calls was a tenth of the scoring time
        return _score_arrays(challenge, labels, p)


def _score_arrays(challenge: Challenge, labels: Labels, p: np.ndarray) -> ScoreResult:
    spec = challenge.spec
    y = labels.y_true()
    split = labels.split
    per_case = pd.DataFrame({spec.id_column: labels.frame[spec.id_column], "split": split})
    for col, values in prediction_columns(spec, p).items():
        per_case[col] = values
    result = ScoreResult(status="scored", per_case=per_case)
    for name in spec.metrics.all:
        metric = spec.metric(name)
        if metric.per_case is not None:
            per_case[f"loss.{name}"] = metric.case_losses(y, p)
        for s in SPLITS:
            mask = split == s
            try:
                value = metric(y[mask], p[mask])
            except MetricError as exc:
                value = None
                result.warnings.append(f"{name} on the {s} split: {exc.what}")
            result.scores.setdefault(s, {})[name] = value
    return result


def prediction_columns(spec, p: np.ndarray) -> dict[str, np.ndarray]:
    """The prediction columns of ``per_case.csv``: ``prediction`` (one value per case), or
    ``prediction.<column>`` for each column of a multi-column prediction (class probabilities,
    a risk and a survival curve)."""
    if p.ndim == 1:
        return {"prediction": p}
    return {f"prediction.{c}": p[:, j] for j, c in enumerate(spec.prediction_columns)}


def score_batch(spec_path, labels_path, manifest, results_path=None) -> dict:
    """Score every entry of a manifest ``[{"key", "predictions", "out_dir", "name"}]``.

    ``manifest`` is a list, the path of a JSON list, or the path of a JSON-lines file
    that the grader appends to while this runs (ended by ``{"end": true}``; see
    :func:`follow_manifest`). Writes ``scores.json`` and ``per_case.csv`` into each
    entry's ``out_dir`` and, when ``results_path`` is given, one JSON of all results
    keyed by ``key``.
    """
    challenge = load_challenge(spec_path)
    labels = read_labels(challenge, labels_path)
    results = {}
    for entry in read_manifest(manifest):
        res = score_file(challenge, labels, entry["predictions"], name=entry.get("name"))
        out = {"status": res.status, "scores": res.scores, "error": res.error, "warnings": res.warnings}
        if entry.get("out_dir"):
            out_dir = Path(entry["out_dir"])
            out_dir.mkdir(parents=True, exist_ok=True)
            if res.per_case is not None:
                res.per_case.to_csv(out_dir / "per_case.csv", index=False, lineterminator="\n")
                out["per_case_path"] = str(out_dir / "per_case.csv")
            (out_dir / "scores.json").write_text(json.dumps(_jsonable(out), indent=2, sort_keys=True))
        results[str(entry["key"])] = out
    if results_path:
        Path(results_path).write_text(json.dumps(_jsonable(results), indent=2, sort_keys=True))
    return results


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def results_table(results: dict, challenge: Challenge, split: str = "public") -> pd.DataFrame:
    """A readable table of a batch's results (for the grading notebook)."""
    rows = []
    for key, r in results.items():
        row = {"submission": key, "status": r["status"]}
        for name in challenge.spec.metrics.all:
            row[name] = (r.get("scores") or {}).get(split, {}).get(name)
        if r.get("error"):
            row["error"] = r["error"]["what"]
        rows.append(row)
    return pd.DataFrame(rows)
