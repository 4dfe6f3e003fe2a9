"""``kit.check``: a participant's local check of a predictions file, shown as an HTML report.

It validates the file exactly as the grader will (same code, same messages)
and, when given validation labels and predictions from the participant's own
hold-out split, shows every metric of the challenge. It never reads hidden
labels: a participant has none.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from .challenge import SPEC_FILENAME, Challenge, load_challenge
from .errors import ChallengeNotFound, MetricError, SubmissionError
from .metrics import Metric, get_metric
from .submission import read_for_challenge, read_ids


@dataclass
class CheckReport:
    challenge: Challenge
    predictions_path: str
    problems: list = field(default_factory=list)
    n_predictions: int = 0
    validation_scores: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    #: what the grader accepts but costs the participant score (hard labels for a ranking metric)
    warnings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __repr__(self) -> str:
        spec = self.challenge.spec
        lines = [f"kit.check: {spec.title} ({spec.id})", f"predictions: {self.predictions_path}"]
        if self.ok:
            lines.append(f"format: OK, {self.n_predictions} predictions, ready to submit")
        else:
            lines.append(f"format: {len(self.problems)} problem(s), the grader would reject this file")
            lines += [f"  - {p}" for p in self.problems]
        lines += [f"warning: {w}" for w in self.warnings]
        for name, value in self.validation_scores.items():
            m = get_metric(name)
            lines.append(f"validation {name} {m.arrow}: {m.format(value)}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        spec = self.challenge.spec
        if self.ok:
            status = (
                f'<p style="color:#137333"><b>&#10004; Format OK</b>: {self.n_predictions} predictions, '
                f"ready to submit.</p>"
            )
        else:
            items = "".join(
                f"<li><b>{e(p.where)}</b>: {e(p.what)}" + (f"<br><i>Fix:</i> {e(p.fix)}" if p.fix else "") + "</li>"
                for p in self.problems
            )
            status = (
                f'<p style="color:#b3261e"><b>&#10008; {len(self.problems)} problem(s)</b>: the grader '
                f"would reject this file.</p><ul>{items}</ul>"
            )
        warnings = "".join(f'<p style="color:#9a6700"><b>&#9888; Warning</b>: {e(w)}</p>' for w in self.warnings)
        table = ""
        if self.validation_scores:
            rows = []
            for name, value in self.validation_scores.items():
                m = get_metric(name)
                primary = " (primary)" if name == spec.metrics.primary else ""
                rows.append(
                    f"<tr><td>{e(name)}{primary}</td><td>{e(m.arrow)}</td>"
                    f"<td style='text-align:right'>{e(m.format(value))}</td>"
                    f"<td>{e(m.description)}</td></tr>"
                )
            table = (
                "<p><b>Local validation scores</b> (your own hold-out split of the training data; "
                "the leaderboard uses the hidden test labels):</p>"
                "<table><thead><tr><th>metric</th><th></th><th>score</th><th>meaning</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>"
            )
        notes = "".join(f"<p><i>{e(n)}</i></p>" for n in self.notes)
        return (
            f"<div><h4>kit.check &mdash; {e(spec.title)} <code>{e(spec.id)}</code></h4>"
            f"<p>Predictions: <code>{e(str(self.predictions_path))}</code></p>{status}{warnings}{table}{notes}</div>"
        )

    def raise_for_problems(self) -> None:
        if self.problems:
            raise SubmissionError(
                f"{len(self.problems)} problem(s) in the predictions",
                where=str(self.predictions_path),
                problems=self.problems,
            )


def _find_challenge(data_dir, challenge, root=None) -> Challenge:
    if challenge is not None:
        return load_challenge(challenge, root=root)
    if data_dir is None:
        raise ChallengeNotFound(
            "kit.check needs to know the challenge", fix="pass data_dir= (the folder of train.csv) or challenge='ID'"
        )
    d = Path(data_dir).resolve()
    for cand in (d / SPEC_FILENAME, d.parent / SPEC_FILENAME):
        if cand.exists():
            return load_challenge(cand)
    raise ChallengeNotFound(
        f"no {SPEC_FILENAME} in {d} or its parent folder", fix="pass challenge='ID' or the data_dir of the starter kit"
    )


def _test_ids(ch: Challenge, data_dir) -> list[str]:
    """The ids of the test cases: from ``data_dir`` when given, else from the challenge's own files."""
    path = Path(data_dir) / Path(ch.spec.data.test.path).name if data_dir else ch.path("test")
    if not path.is_file():
        raise ChallengeNotFound(
            f"no {path.name} in {path.parent}",
            where=str(path.parent),
            fix="pass the data_dir the notebook was given (the folder of train.csv and test.csv)",
        )
    return read_ids(path, ch.spec.id_column)


def _scores_more_than_labels(metric: Metric, n_columns: int) -> bool:
    """Whether *metric* tells apart two predictions of the same labels, on a fixed example.

    The labels are what a classifier's ``predict`` returns: the side of 0.5 of one probability
    column, or the most probable of several. Two prediction sets with the same labels but
    different probabilities get the same score from a metric of the labels (accuracy, F1) and
    different scores from one that ranks the cases or scores the probabilities (ROC AUC, log
    loss): the latter loses information when it is given hard 0/1 labels. Metrics whose true
    values are not class codes (survival) cannot be asked and count as label metrics.
    """
    import numpy as np

    n_classes = max(n_columns, 2)
    n = 6 * n_classes
    codes = np.arange(n) % n_classes
    truth = np.where(np.arange(n) % 4 < 2, codes, (codes + 1) % n_classes).astype(float)  # right and wrong labels
    hard = codes[:, None].astype(float) if n_columns == 1 else np.eye(n_columns)[codes]
    pull = np.random.default_rng(0).uniform(0.05, 0.95, (n, 1))  # toward the middle, never across it
    soft = (1 - pull) * hard + pull * (0.5 if n_columns == 1 else 1 / n_columns)
    if n_columns == 1:
        hard, soft = hard[:, 0], soft[:, 0]
    try:
        return not np.isclose(metric(truth, hard), metric(truth, soft))
    except (MetricError, TypeError, ValueError):
        return False


def _hard_label_warning(ch: Challenge, values) -> str | None:
    """A warning when every prediction is 0 or 1 and a metric of the challenge scores more than labels."""
    import numpy as np

    spec = ch.spec
    if values.size == 0 or not np.isin(values, (0.0, 1.0)).all():
        return None
    k = values.shape[1]
    if not spec.task_type.check_predictions(np.full((1, k), 1.5), spec):
        return None  # the predictions are not probabilities (regression, a risk score): 0 and 1 are numbers
    losing = [name for name in spec.metrics.all if _scores_more_than_labels(spec.metric(name), k)]
    if not losing:
        return None
    named = [f"{n} (the primary metric)" if n == spec.metrics.primary else n for n in losing]
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return (
        f"every prediction is 0 or 1: labels, not probabilities. {listed} use the probabilities (to rank "
        "the cases, or as they are): given labels, cases tie and the score loses information, usually for "
        "the worse. Fix: write the probabilities (model.predict_proba), not the labels (model.predict)"
    )


def validation_arrays(spec, y_val, p_val):
    """A participant's hold-out values and predictions as the metrics take them.

    ``y_val``: the target values (a Series or array; survival: a frame or array of event and
    time). ``p_val``: the predictions (a frame with the prediction columns, or an array).
    """
    import numpy as np
    import pandas as pd

    if isinstance(y_val, pd.DataFrame):
        frame = y_val.copy()
        if list(frame.columns) != list(spec.target):
            frame.columns = list(spec.target)[: frame.shape[1]]
    else:
        arr = np.asarray(y_val)
        if arr.dtype.names:  # a scikit-survival structured array (event, time)
            arr = np.column_stack([arr[n] for n in arr.dtype.names])
        frame = pd.DataFrame(arr.reshape(len(arr), -1), columns=list(spec.target))
    y = spec.task_type.y_true(frame, spec)
    if isinstance(p_val, pd.DataFrame):
        cols = spec.prediction_columns
        values = p_val[cols].to_numpy(dtype=float) if set(cols) <= set(p_val.columns) else p_val.to_numpy(dtype=float)
    else:
        values = np.asarray(p_val, dtype=float)
    values = values.reshape(len(values), -1)
    return y, spec.task_type.normalise_predictions(values, spec)


def check(predictions_path, data_dir=None, *, challenge=None, root=None, validation=None, strict=False) -> CheckReport:
    """Validate a predictions file as the grader will, and show local validation scores.

    Parameters
    ----------
    predictions_path : path of the predictions CSV.
    data_dir : the folder holding ``test.csv`` (the starter notebook's ``data_dir`` parameter).
    challenge : a challenge id or spec path, when ``data_dir`` does not lead to the spec.
    root : the folder holding ``starter_kits/`` (default: found from the current folder).
    validation : optional ``(y_true, y_pred)`` from the participant's own hold-out split.
    strict : raise :class:`~kit.errors.SubmissionError` when the file has problems.
    """
    ch = _find_challenge(data_dir, challenge, root)
    report = CheckReport(challenge=ch, predictions_path=str(predictions_path))
    expected = _test_ids(ch, data_dir)
    try:
        preds = read_for_challenge(predictions_path, ch, expected_ids=expected)
    except SubmissionError as exc:
        report.problems = exc.as_problems()
    else:
        report.n_predictions = len(preds)
        warning = _hard_label_warning(ch, preds[ch.spec.prediction_columns].to_numpy(dtype=float))
        if warning:
            report.warnings.append(warning)
    if validation is not None:
        y_val, p_val = validation
        try:
            y, p = validation_arrays(ch.spec, y_val, p_val)
        except (KeyError, TypeError, ValueError) as exc:
            report.notes.append(
                f"validation scores not computed: {exc}; pass validation=(y_val, p_val) with the true values "
                f"and the predictions ({', '.join(ch.spec.prediction_columns)}) of your hold-out cases"
            )
        else:
            for name in ch.spec.metrics.all:
                try:
                    report.validation_scores[name] = ch.spec.metric(name)(y, p)
                except MetricError as exc:
                    report.notes.append(f"{name} not computed on the validation split: {exc.what}")
    if strict:
        report.raise_for_problems()
    return report
