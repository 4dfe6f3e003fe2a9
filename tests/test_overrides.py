"""Privacy overrides: residual risk only, two dated sign-offs by different people, an audit table."""

from __future__ import annotations

import datetime as dt
import pickle
import sqlite3

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO
from pydantic import ValidationError

from kit.cards.schema import CardError, PrivacyOverride, PrivacyPolicy, parse_card
from kit.cli import cli
from kit.errors import KitError
from kit.ledger import Ledger
from kit.privacy import ReleaseBlocked, check_release
from kit.privacy.gate import RESIDUAL_RISKS, OverrideRefused, as_override, record_override

TODAY = dt.date.today()
#: (age, sex) groups of one: k = 1; no direct identifier
SMALL_GROUPS = pd.DataFrame(
    {
        "case_id": [f"case-{i:04d}" for i in range(1, 7)],
        "age": [54, 39, 54, 39, 61, 66],
        "sex": ["F", "M", "F", "M", "F", "M"],
        "outcome": [1, 0, 0, 1, 1, 0],
    }
)
POLICY = PrivacyPolicy(quasi_identifiers=["age", "sex"], k_anonymity=2, allowed_identifiers=["case_id"])
#: a direct identifier (e-mail addresses) and nothing else to find
WITH_EMAIL = SMALL_GROUPS.assign(contact=[f"p{i}@example.org" for i in range(6)])


def signed(**changes) -> dict:
    decision = {
        "reason": "Synthetic records made for this test; no real patient.",
        "organiser": {"name": "Ada Organiser", "date": "2026-01-05"},
        "dpo": {"name": "Dana Protection", "date": "2026-01-06"},
    }
    return decision | changes


def refusal(decision) -> str:
    with pytest.raises(ValidationError) as info:
        PrivacyOverride.model_validate(decision)
    return str(info.value)


# -- what an override can cover ------------------------------------------------------------------
def test_a_valid_override_releases_a_k_anonymity_block_and_the_report_carries_it():
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": SMALL_GROUPS}, POLICY)
    assert [p.where for p in info.value.problems] == ["privacy.k_anonymity", "privacy.linkability"]
    assert "organiser=" in info.value.fix and "dpo=" in info.value.fix
    report = check_release({"train": SMALL_GROUPS}, POLICY, signed())
    assert report.status == "released with override" and report.overridden and not report.blocked
    assert report.override == PrivacyOverride.model_validate(signed())
    assert [p.where for p in report.residual_risks] == ["privacy.k_anonymity", "privacy.linkability"]
    assert not report.must_fix
    o = report.override
    assert o.by == "organiser: Ada Organiser; data protection officer: Dana Protection"
    assert o.date == dt.date(2026, 1, 6)  # in force from the later sign-off
    assert [role for role, _ in o.signoffs] == ["organiser", "dpo"]
    assert report.to_dict()["overridable"] == [p.to_dict() for p in report.residual_risks]


def test_an_identifier_finding_is_never_overridable():
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": WITH_EMAIL}, POLICY, signed())
    assert [p.where for p in info.value.problems] == ["train.contact"]  # the k-anonymity block is covered
    assert "no override can cover" in info.value.what
    assert "never overridden" in info.value.fix and "drop the column" in info.value.fix
    assert "generalise" in info.value.fix
    assert info.value.report.status == "blocked"
    # identifiers alone (no quasi-identifier declared): blocked all the same
    with pytest.raises(ReleaseBlocked):
        check_release({"train": WITH_EMAIL}, PrivacyPolicy(allowed_identifiers=["case_id"]), signed())
    # without an override, the fix says that an override would not help with them
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": WITH_EMAIL}, POLICY)
    assert "never overridden" in info.value.fix


def test_a_policy_naming_missing_columns_is_not_overridable():
    policy = PrivacyPolicy(quasi_identifiers=["age", "postcode_district"], allowed_identifiers=["case_id"])
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": SMALL_GROUPS}, policy, signed())
    assert [p.where for p in info.value.problems] == ["privacy.quasi_identifiers"]
    assert "privacy.quasi_identifiers" not in RESIDUAL_RISKS
    assert {"privacy.k_anonymity", "privacy.l_diversity", "privacy.t_closeness", "privacy.linkability"} == set(
        RESIDUAL_RISKS
    )


def test_an_override_with_nothing_to_cover_is_not_attached():
    report = check_release({"train": SMALL_GROUPS.iloc[:4]}, POLICY, signed())  # groups of two
    assert report.status == "passed" and report.override is None


def test_t_closeness_threshold_is_part_of_the_policy():
    assert PrivacyPolicy().t_closeness == 0.2
    assert PrivacyPolicy(t_closeness=0.1).t_closeness == 0.1
    for bad in (-0.1, 1.5):
        with pytest.raises(ValidationError):
            PrivacyPolicy(t_closeness=bad)


# -- two dated sign-offs by different people -----------------------------------------------------
@pytest.mark.parametrize("missing", ["organiser", "dpo"])
def test_one_signoff_is_refused_naming_the_missing_one(missing):
    decision = signed()
    del decision[missing]
    text = refusal(decision)
    assert (
        "two sign-offs" in text and f"`{missing}`" in text and f"`{missing}: {{name: ..., date: YYYY-MM-DD}}`" in text
    )
    with pytest.raises(OverrideRefused) as info:
        check_release({"train": SMALL_GROUPS}, POLICY, decision)
    assert info.value.where == "privacy_override" and info.value.problems[0].where == "privacy_override"
    assert f"--{missing} NAME" in info.value.problems[0].what
    assert "organiser (the challenge organiser), dpo (the data protection officer" in info.value.fix


def test_no_signoff_at_all_names_both():
    text = refusal({"reason": "because"})
    assert "`organiser` (the challenge organiser) and `dpo` (the data protection officer" in text


@pytest.mark.parametrize("dpo", ["Ada Organiser", "  ada   organiser ", "ADA ORGANISER."])
def test_the_same_person_cannot_sign_twice(dpo):
    text = refusal(signed(dpo={"name": dpo, "date": "2026-01-06"}))
    assert "the same person" in text and "two different people" in text


@pytest.mark.parametrize("role", ["organiser", "dpo"])
def test_a_future_date_is_refused(role):
    future = (TODAY + dt.timedelta(days=1)).isoformat()
    decision = signed(**{role: {"name": f"Someone as {role}", "date": future}})
    with pytest.raises(OverrideRefused) as info:
        as_override(decision)
    (problem,) = info.value.problems
    assert problem.where == f"privacy_override.{role}.date"
    assert "is in the future" in problem.what and f"today is {TODAY}" in problem.what
    # today is fine
    as_override(signed(**{role: {"name": f"Someone as {role}", "date": TODAY.isoformat()}}))


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("05/01/2026", "not an ISO date"),
        (20260105, "not an ISO date"),
        (dt.datetime(2026, 1, 5, 10, 30), "has a time"),
        (None, "the date is empty"),
        (" ", "the date is empty"),
    ],
)
def test_each_signoff_needs_an_iso_date(date, message):
    with pytest.raises(OverrideRefused) as info:
        as_override(signed(dpo={"name": "Dana Protection", "date": date}))
    assert message in str(info.value) and "privacy_override.dpo.date" in str(info.value)
    with pytest.raises(OverrideRefused, match="required field is missing"):
        as_override(signed(dpo={"name": "Dana Protection"}))


def test_an_old_single_signoff_override_gets_the_migration_message():
    old = {"reason": "public data", "by": "challenge organisers", "date": "2026-11-28"}
    text = refusal(old)
    assert "old form (by: challenge organisers, date: 2026-11-28)" in text
    assert "replace `by` and `date` with `organiser: {name: ..., date: YYYY-MM-DD}`" in text
    assert "`dpo: {name: ..., date: YYYY-MM-DD}`" in text and "--dpo" in text
    with pytest.raises(OverrideRefused, match="old form"):
        check_release({"train": SMALL_GROUPS}, POLICY, old)


def test_an_old_card_file_gets_the_migration_message():
    card = yaml.safe_load((REPO / "starter_kits" / "diabetes" / "card.yml").read_text(encoding="utf-8"))
    card["privacy_override"] = {"reason": "public data", "by": "challenge organisers", "date": "2026-11-28"}
    with pytest.raises(CardError) as info:
        parse_card(card, source="card.yml")
    (problem,) = info.value.problems
    assert problem.where == "privacy_override" and "old form" in problem.what and "`organiser:" in problem.what


def test_shipped_overrides_have_two_dated_signoffs_by_different_people():
    for cid in ("diabetes", "gbsg2"):
        card = yaml.safe_load((REPO / "starter_kits" / cid / "card.yml").read_text(encoding="utf-8"))
        o = parse_card(card, source=cid).privacy_override
        assert o is not None and o.organiser.name != o.dpo.name
        assert o.organiser.name == "challenge-kit maintainers (organiser)"
        assert o.dpo.name == "challenge-kit maintainers (acting data protection contact)"
        assert "the data are public" in o.reason and "No data protection officer is appointed" in o.reason


def test_override_refused_pickles():
    with pytest.raises(OverrideRefused) as info:
        as_override({"reason": "x"})
    clone = pickle.loads(pickle.dumps(info.value))
    assert clone.problems == info.value.problems and clone.to_dict()["kind"] == "override-refused"


# -- the audit table ---------------------------------------------------------------------------
def test_the_ledger_records_each_override_decision(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as led:
        report = check_release({"train": SMALL_GROUPS}, POLICY, signed(), ledger=led, challenge="c")
        (row,) = led.overrides("c")
        assert row.challenge == "c" and row.status == "released with override" == report.status
        assert row.reason == "Synthetic records made for this test; no real patient."
        assert [p["where"] for p in row.overridden] == ["privacy.k_anonymity", "privacy.linkability"]
        assert row.refused == []
        assert (row.organiser, row.organiser_date) == ("Ada Organiser", "2026-01-05")
        assert (row.dpo, row.dpo_date) == ("Dana Protection", "2026-01-06")
        assert dt.datetime.fromisoformat(row.recorded_at).tzinfo is not None
        # an override refused because a direct identifier remains is recorded too
        with pytest.raises(ReleaseBlocked):
            check_release({"train": WITH_EMAIL}, POLICY, signed(), ledger=led, challenge="c")
        refused = led.overrides("c")[1]
        assert refused.status == "blocked" and [p["where"] for p in refused.refused] == ["train.contact"]
        # nothing to override, or no override: nothing recorded
        check_release({"train": SMALL_GROUPS[["case_id"]]}, POLICY.model_copy(update={"quasi_identifiers": []}))
        with pytest.raises(ReleaseBlocked):
            check_release({"train": SMALL_GROUPS}, POLICY, ledger=led, challenge="c")
        assert len(led.overrides()) == 2 and led.overrides("other") == []
        # the record helper, called by the release on its own report
        assert record_override(led, "d", report, at="2026-11-30T10:00:00+00:00") == 3
        assert led.overrides("d")[0].recorded_at == "2026-11-30T10:00:00+00:00"
    with Ledger(tmp_path / "ledger.sqlite") as led:  # it stays after reopening
        assert [r.id for r in led.overrides()] == [1, 2, 3]


def test_the_audit_table_is_append_only(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as led:
        check_release({"train": SMALL_GROUPS}, POLICY, signed(), ledger=led, challenge="c")
        for stmt in ("UPDATE privacy_overrides SET dpo = 'someone else'", "DELETE FROM privacy_overrides"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                led._db.execute(stmt)
        assert led.overrides("c")[0].dpo == "Dana Protection"


def test_recording_needs_the_challenge(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as led, pytest.raises(KitError, match="challenge=<id>"):
        check_release({"train": SMALL_GROUPS}, POLICY, signed(), ledger=led)


# -- the command line ---------------------------------------------------------------------------
def run(*args):
    return CliRunner().invoke(cli, ["--root", str(REPO), *args])


@pytest.mark.parametrize("command", ["card", "release"])
def test_cli_override_options(command):
    help_text = " ".join(run(command, "--help").output.split())
    for option in ("--override-reason TEXT", "--organiser NAME", "--dpo NAME", "--date DATE", "(default: today)"):
        assert option in help_text
    assert "--override-by" not in help_text
    r = run(command, "diabetes", "--workdir", "nowhere", "--override-reason", "public", "--organiser", "Ada")
    assert r.exit_code == 2 and "missing: --dpo" in r.output
    r = run(command, "diabetes", "--workdir", "nowhere", "--date", "2026-01-05")
    assert r.exit_code == 2 and "missing: --override-reason, --organiser, --dpo" in r.output
    both = ("--override-reason", "public", "--organiser", "Ada Organiser", "--dpo")
    r = run(command, "diabetes", "--workdir", "nowhere", *both, "ada organiser")
    assert r.exit_code == 1 and "--organiser, --dpo: " in r.output and "the same person" in r.output
    future = (TODAY + dt.timedelta(days=3)).isoformat()
    r = run(command, "diabetes", "--workdir", "nowhere", *both, "Dana Protection", "--date", future)
    assert r.exit_code == 1 and "--date: " in r.output and "is in the future" in r.output


def test_cli_override_is_dated_today_by_default():
    from kit.cli import _override

    decision = _override("public", "Ada Organiser", "Dana Protection", None)
    assert decision["organiser"]["date"] == decision["dpo"]["date"] == TODAY.isoformat()
    assert _override(None, None, None, None) is None
