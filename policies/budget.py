"""Whether a policy decision fits what is left of a license's privacy budget (pure)."""

from __future__ import annotations

from core.errors import Reason
from operators.records import License
from policies.engine import Decision, PolicyDecision

# floating-point slack when comparing ε sums with a budget (the ledger uses it too)
TOLERANCE = 1e-12


def within_budget(decision: PolicyDecision, license: License) -> PolicyDecision:
    """The decision, or a denial if its ε is more than the license has left."""
    remaining = license.epsilon_total - license.epsilon_spent
    if decision.decision is Decision.DENY or decision.epsilon <= remaining + TOLERANCE:
        return decision
    reason = Reason(
        "budget_exhausted",
        f"this query needs ε={decision.epsilon:.3f} but license {license.id} has "
        f"ε={remaining:.3f} left",
        suggestion="reuse an earlier release or ask the data authority for more budget",
    )
    return PolicyDecision(Decision.DENY, [reason], datasets=decision.datasets)
