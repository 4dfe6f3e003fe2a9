"""Multiclass and survival metrics on real data, against scikit-learn and scikit-survival.

The German Breast Cancer Study Group 2 data (``sksurv.datasets.load_gbsg2``, 686 patients)
gives both targets: recurrence-free survival (``cens``, ``time``), scored with Cox models'
risk scores and survival curves, and the tumour grade ``tgrade`` (I < II < III), an
ordinal 3-class target, scored with logistic regressions' ``predict_proba``. Then the
board statistics on 3-d predictions (teams × cases × columns): resampled scores equal the
metric recomputed on the resampled cases, and the fast exact scorers (Harrell's C, the
one-vs-rest AUCs, the K × K confusion matrices) equal the metric recomputed on every resample
(:func:`~kit.metrics.resampling.generic_scores`), ties and undefined resamples included.
"""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    log_loss,
    roc_auc_score,
)
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.preprocessing import OneHotEncoder
from sksurv.util import Surv

from kit.errors import MetricError
from kit.leaderboard import stats
from kit.metrics import check_inputs, get_metric, get_metric_names
from kit.metrics import resampling as rs

MULTICLASS = [
    "macro_roc_auc",
    "multiclass_log_loss",
    "multiclass_brier",
    "multiclass_balanced_accuracy",
    "macro_f1",
    "quadratic_kappa",
]
SURVIVAL = ["c_index", "uno_c_index", "cumulative_auc", "integrated_brier"]
TIMES = (1000.0, 500.0, 1500.0)  # days; unsorted on purpose: the curves' columns follow this order
N_TRAIN = 400


# -- data: GBSG2, models fitted on the first 400 patients, scored on the other 286 --------------
@pytest.fixture(scope="module")
def gbsg2():
    X, y = load_gbsg2()
    return OneHotEncoder().fit_transform(X), X["tgrade"], y


@pytest.fixture(scope="module")
def survival(gbsg2):
    """(y as an (n, 2) array, predictions (teams, cases, 1 + times), team names)."""
    X, _, y = gbsg2
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    teams, P = [], []
    for name, cols in (("all", list(X.columns)), ("nodes", ["pnodes", "age"]), ("size", ["tsize"])):
        cox = CoxPHSurvivalAnalysis(alpha=0.1).fit(X[cols].iloc[train], y[train])
        risk = cox.predict(X[cols].iloc[test])
        curves = np.stack([f(np.array(TIMES)) for f in cox.predict_survival_function(X[cols].iloc[test])])
        teams.append(name)
        P.append(np.c_[risk, curves])
    y_test = y[test]
    return np.c_[y_test["cens"], y_test["time"]], np.stack(P), teams


@pytest.fixture(scope="module")
def multiclass(gbsg2):
    """(class codes of tgrade, predictions (teams, cases, 3), team names)."""
    X, grade, _ = gbsg2
    codes = grade.cat.codes.to_numpy().astype(float)  # I, II, III -> 0, 1, 2
    features = X.drop(columns=[c for c in X.columns if c.startswith("tgrade")])
    features = (features - features.mean()) / features.std()
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    teams, P = [], []
    for name, cols in (("all", list(features.columns)), ("receptors", ["estrec", "progrec"]), ("age", ["age"])):
        model = LogisticRegression(max_iter=2000).fit(features[cols].iloc[train], codes[train])
        teams.append(name)
        P.append(model.predict_proba(features[cols].iloc[test]))
    return codes[test], np.stack(P), teams


def surv(y):
    return Surv.from_arrays(y[:, 0].astype(bool), y[:, 1])


def sorted_curves(p):
    """The survival probabilities of predictions ``p`` in the order of the sorted times."""
    return p[:, 1:][:, np.argsort(TIMES)]


# -- multiclass ---------------------------------------------------------------------------------
def test_multiclass_metrics_are_registered_with_their_task():
    assert set(MULTICLASS) <= set(get_metric_names("multiclass"))
    assert [n for n in MULTICLASS if get_metric(n).ordinal_only] == ["quadratic_kappa"]
    assert get_metric("quadratic_kappa").lower == -1.0 and get_metric("multiclass_brier").upper == 2.0
    for name in MULTICLASS:
        m = get_metric(name)
        assert m.description and m.params == () and not m.needs_survival_curve
    per_case = {n for n in MULTICLASS if get_metric(n).per_case is not None}
    assert per_case == {"multiclass_log_loss", "multiclass_brier"}


def test_multiclass_metrics_agree_with_scikit_learn(multiclass):
    y, P, _ = multiclass
    labels = [0, 1, 2]
    for p in P:
        hard = p.argmax(axis=1)
        want = {
            "macro_roc_auc": roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels),
            "multiclass_log_loss": log_loss(y, p, labels=labels),
            "multiclass_brier": brier_score_loss(y, p, labels=labels),
            "multiclass_balanced_accuracy": balanced_accuracy_score(y, hard),
            "macro_f1": f1_score(y, hard, average="macro", labels=labels),
            "quadratic_kappa": cohen_kappa_score(y, hard, weights="quadratic", labels=labels),
        }
        for name, value in want.items():
            assert get_metric(name)(y, p) == pytest.approx(value, rel=1e-10, abs=1e-12), name


@pytest.mark.parametrize("name", ["multiclass_log_loss", "multiclass_brier"])
def test_multiclass_case_losses_average_to_the_score(multiclass, name):
    y, P, _ = multiclass
    m = get_metric(name)
    for p in P:
        losses = m.case_losses(y, p)
        assert losses.shape == (len(y),) and np.all(losses >= 0)
        assert m.from_mean_loss(losses.mean()) == pytest.approx(m(y, p), rel=1e-12)
    onehot = np.eye(3)[y.astype(int)]
    np.testing.assert_allclose(get_metric("multiclass_brier").case_losses(y, P[0]), ((P[0] - onehot) ** 2).sum(axis=1))


def test_multiclass_undefined_and_bad_inputs_raise_metric_errors(multiclass):
    y, P, _ = multiclass
    p = P[0]
    no_top = y != 2
    with pytest.raises(MetricError, match=r"class\(es\) 2 absent from y_true"):
        get_metric("macro_roc_auc")(y[no_top], p[no_top])
    with pytest.raises(MetricError, match="quadratic_kappa is undefined"):
        get_metric("quadratic_kappa")(np.ones(5), np.tile([0.1, 0.8, 0.1], (5, 1)))
    with pytest.raises(MetricError, match="sum to 1"):
        get_metric("multiclass_log_loss")(y, p * 0.9)
    with pytest.raises(MetricError, match="class codes 0 to 2"):
        get_metric("macro_f1")(y + 1, p)
    with pytest.raises(MetricError, match="one probability per class"):
        get_metric("macro_f1")(y, p[:, 0])
    # within the rounding of a CSV file, rows are rescaled: the score is that of the exact rows
    rounded = np.round(p, 4)
    exact = rounded / rounded.sum(axis=1, keepdims=True)
    m = get_metric("multiclass_log_loss")
    assert m(y, rounded) == pytest.approx(m(y, exact), rel=1e-12)


# -- survival -----------------------------------------------------------------------------------
def test_survival_metrics_are_registered_with_their_needs():
    assert set(SURVIVAL) <= set(get_metric_names("survival"))
    assert [n for n in SURVIVAL if get_metric(n).needs_survival_curve] == ["integrated_brier"]
    assert {n for n in SURVIVAL if get_metric(n).params} == {"uno_c_index", "cumulative_auc", "integrated_brier"}
    assert get_metric("integrated_brier").greater_is_better is False
    for name in ("uno_c_index", "cumulative_auc", "integrated_brier"):
        assert "scored cases themselves" in get_metric(name).description


def test_survival_metrics_agree_with_scikit_survival(survival):
    y, P, _ = survival
    s = surv(y)
    t = np.sort(TIMES)
    for p in P:
        want = {
            "c_index": concordance_index_censored(s["event"], s["time"], p[:, 0])[0],
            "uno_c_index": concordance_index_ipcw(s, s, p[:, 0], tau=max(TIMES))[0],
            "cumulative_auc": cumulative_dynamic_auc(s, s, p[:, 0], t)[1],
            "integrated_brier": integrated_brier_score(s, s, sorted_curves(p), t),
        }
        for name, value in want.items():
            assert get_metric(name).bind(times=TIMES)(y, p) == pytest.approx(value, rel=1e-12), name
        assert get_metric("c_index")(y, p[:, 0]) == want["c_index"]  # risk scores alone, too
        assert get_metric("uno_c_index").bind(times=TIMES)(y, p[:, 0]) == want["uno_c_index"]
    # the models are ordered as expected: every feature beats tumour size alone
    ibs = get_metric("integrated_brier").bind(times=TIMES)
    assert ibs(y, P[0]) < ibs(y, P[2])


def test_survival_metrics_with_fewer_times(survival):
    y, P, _ = survival
    s, p = surv(y), P[0]
    uno = get_metric("uno_c_index").bind(times=())  # no times: no truncation
    assert uno(y, p) == pytest.approx(concordance_index_ipcw(s, s, p[:, 0])[0], rel=1e-12)
    one = get_metric("integrated_brier").bind(times=(500.0,))  # one time: the Brier score at that time
    curve = p[:, [TIMES.index(500.0) + 1]]
    assert one(y, np.c_[p[:, 0], curve]) == pytest.approx(brier_score(s, s, curve, [500.0])[1][0], rel=1e-12)
    with pytest.raises(MetricError, match="needs the challenge's survival times"):
        get_metric("cumulative_auc").bind(times=())(y, p)


def test_bind_and_unbound_time_metrics(survival):
    y, P, _ = survival
    for name in ("uno_c_index", "cumulative_auc", "integrated_brier"):
        m = get_metric(name)
        with pytest.raises(MetricError, match="not bound") as exc:
            m(y, P[0])
        assert f"spec.metric({name!r})" in exc.value.fix and "bind(times=...)" in exc.value.fix
        with pytest.raises(MetricError, match="not bound"):
            stats.paired_bootstrap(y, P, ["a", "b", "c"], name, n_resamples=2)
        with pytest.raises(MetricError, match="needs times"):
            m.bind()
        b = m.bind(times=TIMES, other="ignored")
        assert b is not m and b.name == name and b.params == () and get_metric(name) is m
        assert isinstance(b.func, partial) and b.func.keywords == {"times": TIMES}
    c = get_metric("c_index")
    assert c.bind(times=TIMES) is c  # a metric without params is itself


def test_survival_bad_predictions_raise_metric_errors(survival):
    y, P, _ = survival
    ibs = get_metric("integrated_brier").bind(times=TIMES)
    with pytest.raises(MetricError, match="needs the predicted survival probabilities"):
        ibs(y, P[0][:, 0])
    with pytest.raises(MetricError, match=r"shape \(cases, 4\)"):
        ibs(y, P[0][:, :3])
    with pytest.raises(MetricError, match=r"must lie in \[0, 1\]"):
        ibs(y, np.c_[P[0][:, 0], P[0][:, 1:] + 1])
    with pytest.raises(MetricError, match="distinct"):
        get_metric("cumulative_auc").bind(times=(500.0, 500.0))(y, P[0])


def test_times_outside_the_follow_up_raise_then_give_nan_on_resamples(survival):
    y, P, teams = survival
    late = get_metric("cumulative_auc").bind(times=(500.0, 1e5))
    with pytest.raises(MetricError, match="within the follow-up of the scored cases") as exc:
        late(y, P[0])
    assert "dropped" in exc.value.fix
    # a resample of the cases followed for less than 1500 days only: undefined, dropped for every team
    short = np.flatnonzero(y[:, 1] < 1400)
    idx = np.vstack([np.arange(len(y)), np.resize(short, len(y))])
    for name in ("cumulative_auc", "integrated_brier"):
        m = get_metric(name).bind(times=TIMES)
        with pytest.raises(MetricError, match="follow-up"):
            m(y[short], P[0][short])
        res = stats.paired_bootstrap(y, P, teams, m, indices=idx)
        assert res.n_invalid == 1 and res.replicates.shape == (3, 1)
    with pytest.raises(MetricError, match="undefined on the full test set") as err:
        stats.paired_bootstrap(y, P, teams, late, n_resamples=3)
    assert len(err.value.problems) == 3 and "follow-up" in err.value.problems[0].what


# -- board statistics on 3-d predictions ----------------------------------------------------------
def recomputed(metric, y, P, indices):
    """The metric called on every resample of every team (the reference)."""
    return np.array([[metric(y[idx], p[idx]) for idx in indices] for p in P])


@pytest.mark.parametrize("name", MULTICLASS)
def test_multiclass_bootstrap_equals_the_metric_on_resamples(multiclass, name):
    y, P, teams = multiclass
    m = get_metric(name)
    idx = stats.bootstrap_indices(len(y), 6, seed=1)
    res = stats.paired_bootstrap(y, P, teams, name, indices=idx)
    assert res.n_invalid == 0 and res.replicates.shape == (3, 6)
    np.testing.assert_allclose(res.replicates, recomputed(m, y, P, idx), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.observed, [m(y, p) for p in P], rtol=1e-12)
    y_checked, _ = check_inputs(m, y, P[0])
    if m.per_case is not None:  # the per-case matrix product, which agrees with the loop over the function
        fast = m.resample_scores(y_checked, P, idx)
        np.testing.assert_array_equal(fast, rs.per_case_scores(m, y_checked, P, idx))
        np.testing.assert_allclose(fast, rs.generic_scores(m, y_checked, P, idx), rtol=1e-10)
    else:  # its own exact scorer (confusion matrices, one-vs-rest AUCs): see the tests below
        assert m.resampled is not None
        np.testing.assert_allclose(
            m.resample_scores(y_checked, P, idx), rs.generic_scores(m, y_checked, P, idx), rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("name", ["uno_c_index", "cumulative_auc", "integrated_brier", "c_index"])
def test_survival_bootstrap_equals_the_metric_on_resamples(survival, name):
    y, P, teams = survival
    m = get_metric(name).bind(times=TIMES)
    idx = stats.bootstrap_indices(len(y), 5, seed=2)
    res = stats.paired_bootstrap(y, P, teams, m, indices=idx)
    assert res.n_invalid == 0 and res.metric is m
    np.testing.assert_allclose(res.replicates, recomputed(m, y, P, idx), rtol=1e-12)
    np.testing.assert_allclose(res.observed, [m(y, p) for p in P], rtol=1e-12)
    direct = stats.resample_scores(y, P, m, idx)  # no team names: one per row of the 3-d array
    np.testing.assert_array_equal(direct, res.replicates)


def test_tied_top_significance_and_rankings_on_multiclass(multiclass):
    y, P, teams = multiclass
    tied = stats.statistically_tied_top(y, P, teams, "multiclass_log_loss")
    m = get_metric("multiclass_log_loss")
    assert tied.method == "bootstrap" and tied.leader == teams[int(np.argmin([m(y, p) for p in P]))]
    by_boot = stats.statistically_tied_top(y, P, teams, "macro_roc_auc", n_resamples=30, seed=0)
    assert by_boot.method == "bootstrap" and by_boot.leader in by_boot.teams
    assert by_boot.table.loc[by_boot.leader, "score"] == pytest.approx(
        max(get_metric("macro_roc_auc")(y, p) for p in P)
    )
    sig = stats.pairwise_significance(y, P, teams, "multiclass_brier")
    assert sig.method == "bootstrap" and sig.p_values.shape == (3, 3)
    table = stats.ranking_schemes(y, P, teams, "quadratic_kappa", n_resamples=20)
    assert table.notna().all().all() and set(table.index) == set(teams)


def test_tied_top_on_survival_curves(survival):
    y, P, teams = survival
    m = get_metric("integrated_brier").bind(times=TIMES)
    boot = stats.paired_bootstrap(y, P, teams, m, n_resamples=20, seed=3)
    tied = stats.statistically_tied_top(y, P, teams, m, bootstrap=boot)
    assert tied.method == "bootstrap"
    assert tied.leader == teams[int(np.argmin(boot.observed))]
    assert tied.table.loc[tied.leader, "score"] == pytest.approx(m(y, P[teams.index(tied.leader)]))


def test_results_with_bound_metrics_pickle_by_name_and_times(survival, multiclass):
    y, P, teams = survival
    m = get_metric("integrated_brier").bind(times=TIMES)
    res = stats.paired_bootstrap(y, P, teams, m, n_resamples=4, seed=0)
    again = pickle.loads(pickle.dumps(res))
    assert again.metric.name == "integrated_brier" and again.metric.params == ()
    assert again.metric.func.keywords == {"times": TIMES}
    assert again.metric(y, P[0]) == m(y, P[0])
    np.testing.assert_array_equal(again.replicates, res.replicates)
    y, P, teams = multiclass
    res = stats.paired_bootstrap(y, P, teams, "macro_f1", n_resamples=4, seed=0)
    assert pickle.loads(pickle.dumps(res)).metric is get_metric("macro_f1")


def test_board_inputs_name_the_team_whose_predictions_are_refused(multiclass):
    y, P, teams = multiclass
    bad = P.copy()
    bad[1] *= 0.5  # rows summing to 0.5
    with pytest.raises(MetricError, match="predictions of 1 team") as err:
        stats.paired_bootstrap(y, bad, teams, "macro_f1", n_resamples=3)
    assert err.value.problems[0].where == f"team {teams[1]!r}" and "sum to 1" in err.value.problems[0].what
    with pytest.raises(MetricError, match="one value per case"):  # 3-d predictions for a binary metric
        stats.paired_bootstrap((y == 1).astype(float), P, teams, "roc_auc", n_resamples=3)


# -- the fast exact scorers against the metric recomputed on every resample ----------------------
def assert_same_scores(fast, loop):
    """Equal to 1e-12, NaN (undefined) at the same places."""
    assert fast.shape == loop.shape
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(loop))
    np.testing.assert_allclose(fast, loop, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def tied_survival(survival):
    """GBSG2 survival with ties: times as recorded, and rounded to 100 days (events and censored
    cases at one time); risk scores of the Cox models, rounded ones, and ones nudged within
    scikit-survival's ``tied_tol`` (1e-8) or just beyond it."""
    y, P, _ = survival
    risk = P[:, :, 0]
    rng = np.random.default_rng(4)
    nudged = risk[0] + rng.choice([0.0, 4e-9, -6e-9, 3e-8], size=risk.shape[1])
    P2 = np.concatenate([P, np.stack([np.c_[np.round(risk[0], 1), P[0, :, 1:]], np.c_[nudged, P[0, :, 1:]]])])
    return y, np.c_[y[:, 0], np.round(y[:, 1], -2)], P2


def survival_resamples(y, n_boot=16):
    """Bootstrap resamples, then undefined ones: censored cases only, one case, two events at one time."""
    n = len(y)
    event = y[:, 0] == 1
    times, k = np.unique(y[event, 1], return_counts=True)
    pair = np.flatnonzero(event & (y[:, 1] == times[np.argmax(k)]))[:2]  # two events tied in time
    return np.vstack(
        [
            stats.bootstrap_indices(n, n_boot, seed=5),
            np.resize(np.flatnonzero(~event), n),
            np.full(n, np.flatnonzero(event)[0]),
            np.resize(pair, n),
            np.resize(np.r_[pair, np.flatnonzero(~event)[:3]], n),
        ]
    )


def test_fast_c_index_equals_the_metric_on_every_resample(tied_survival, monkeypatch):
    """Harrell's C from the case multiplicities equals scikit-survival on every resample: ties in
    time (events and censored cases) and in risk (exact, within and beyond tied_tol), undefined
    resamples (no comparable pair, events tied in time) NaN at the same places."""
    m = get_metric("c_index")
    assert m.resampled is rs.harrell_scores
    for y in tied_survival[:2]:
        P = tied_survival[2]
        y_checked, _ = check_inputs(m, y, P[0])
        idx = survival_resamples(y)
        fast = m.resample_scores(y_checked, P, idx)
        loop = rs.generic_scores(m, y_checked, P, idx)
        assert_same_scores(fast, loop)
        assert np.isnan(fast[:, -4:-1]).all() and not np.isnan(fast[:, :-4]).any() and not np.isnan(fast[:, -1]).any()
        np.testing.assert_array_equal(rs.harrell_scores(m, y_checked, P[:, :, 0], idx), fast)  # risks alone
        monkeypatch.setattr(rs, "ELEMENT_BUDGET", 500)  # one team and a few resamples at a time
        np.testing.assert_array_equal(m.resample_scores(y_checked, P, idx), fast)
        monkeypatch.undo()
    with pytest.raises(MetricError, match="c_index is undefined"):  # two events at one time: 0 / 0
        m(y[idx[-2]], P[0, idx[-2]])


def test_fast_c_index_with_fewer_draws_than_cases(tied_survival):
    y, _, P = tied_survival
    m = get_metric("c_index")
    y_checked, _ = check_inputs(m, y, P[0])
    idx = np.random.default_rng(6).integers(0, len(y), (5, 40))
    assert_same_scores(m.resample_scores(y_checked, P, idx), rs.generic_scores(m, y_checked, P, idx))


@pytest.fixture(scope="module")
def tied_multiclass(multiclass):
    """The GBSG2 grade predictions, a team with argmax ties ([0.4, 0.4, 0.2], [0.25, 0.375, 0.375],
    [1/3] * 3) and a team with probabilities rounded to one decimal (ties in every column)."""
    y, P, _ = multiclass
    tied = P[1].copy()
    tied[:40], tied[40:80], tied[80:100] = [0.4, 0.4, 0.2], [0.25, 0.375, 0.375], 1 / 3
    rounded = np.round(P[0], 1)
    return y, np.concatenate([P, np.stack([tied, rounded / rounded.sum(axis=1, keepdims=True)])])


@pytest.mark.parametrize("name", ["macro_roc_auc", "multiclass_balanced_accuracy", "macro_f1", "quadratic_kappa"])
def test_fast_multiclass_scorers_equal_the_metric_on_every_resample(tied_multiclass, name, monkeypatch):
    """One-vs-rest AUCs and K × K confusion matrices equal scikit-learn on every resample,
    argmax ties included; resamples without a class, of a single class, of a single case."""
    y, P = tied_multiclass
    m = get_metric(name)
    assert m.resampled is not None
    n = len(y)
    first = np.flatnonzero(P[0].argmax(axis=1) == y)[0]  # a case team 0 gets right: kappa undefined
    idx = np.vstack(
        [
            stats.bootstrap_indices(n, 20, seed=8),
            np.resize(np.flatnonzero(y != 2), n),  # class 2 missing
            np.resize(np.flatnonzero(y == 1), n),  # class 1 only
            np.full(n, first),
        ]
    )
    y_checked, _ = check_inputs(m, y, P[0])
    fast = m.resample_scores(y_checked, P, idx)
    assert_same_scores(fast, rs.generic_scores(m, y_checked, P, idx))
    assert not np.isnan(fast[:, :20]).any()
    if name == "macro_roc_auc":  # undefined wherever a class is missing
        assert np.isnan(fast[:, 20:]).all()
    elif name == "quadratic_kappa":  # undefined where true and predicted classes are one class
        assert np.isnan(fast[0, -1]) and not np.isnan(fast[:, 20]).any()
    else:
        assert not np.isnan(fast).any()
    monkeypatch.setattr(rs, "ELEMENT_BUDGET", 50)  # one team and a few resamples at a time
    np.testing.assert_array_equal(m.resample_scores(y_checked, P, idx), fast)
