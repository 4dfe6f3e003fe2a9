"""Submission rules enforced at intake: the challenge's dates and each team's quota.

A hand-in that breaks a rule is still recorded (nothing handed in is lost) with a
``rejected`` run that says which rule, and when the team may submit again.
Rejected hand-ins do not count against the quota.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import ChallengeSpec
    from ..ledger import Ledger


def parse_time(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def rule_violation(spec: ChallengeSpec, ledger: Ledger, team: str, at: datetime) -> dict | None:
    """The first rule a new hand-in at time ``at`` breaks, as an error dict, or None."""
    if at < spec.opens:
        return {
            "kind": "rejected",
            "what": f"the challenge opens on {spec.opens:%Y-%m-%d %H:%M} UTC",
            "fix": "hand it in again once the challenge is open",
        }
    if at >= spec.closes:
        return {
            "kind": "rejected",
            "what": f"the challenge closed on {spec.closes:%Y-%m-%d %H:%M} UTC; late hand-ins are kept but not graded",
            "fix": "nothing to do: the private ranking is final",
        }
    rules = spec.submissions
    total = ledger.count_submissions(spec.id, team)
    if total >= rules.total:
        return {
            "kind": "rejected",
            "what": f"team {team!r} has used all {rules.total} submissions of the challenge",
            "fix": "select your final submissions among those already scored",
        }
    day = at.strftime("%Y-%m-%d")
    today = ledger.count_submissions(spec.id, team, day=day)
    if today >= rules.per_day:
        tomorrow = (at + timedelta(days=1)).strftime("%Y-%m-%d")
        return {
            "kind": "rejected",
            "what": f"team {team!r} has made {today} submissions on {day} (UTC), the daily limit is {rules.per_day}",
            "fix": f"hand it in again from {tomorrow} 00:00 UTC",
        }
    return None
