"""Whether a policy decision fits what is left of a license's ε and δ budgets (pure)."""

from __future__ import annotations

from core.errors import Reason
from operators.records import License
from policies.engine import Decision, PolicyDecision

# floating-point slack when comparing ε sums with a budget (the ledger uses it too)
TOLERANCE = 1e-12
# δ budgets are tiny (1e-5), so their slack is relative: δ_total·(1 + DELTA_SLACK)
DELTA_SLACK = 1e-9


def within_budget(decision: PolicyDecision, license: License) -> PolicyDecision:
    """The decision, or a denial if its ε is more than the license has left."""
    remaining = license.epsilon_total - license.epsilon_spent
    delta_fits = license.delta_spent + decision.delta <= license.delta_total * (1 + DELTA_SLACK)
    if decision.decision is Decision.DENY:
        return decision
    if decision.epsilon > remaining + TOLERANCE:
        reason = Reason(
            "budget_exhausted",
            f"this query needs ε={decision.epsilon:.3f} but license {license.id} has "
            f"ε={remaining:.3f} left",
            suggestion="reuse an earlier release or ask the data authority for more budget",
        )
    elif not delta_fits:
        left = max(0.0, license.delta_total - license.delta_spent)
        reason = Reason(
            "delta_exhausted",
            f"this query needs δ={decision.delta:.3g} (its keys are chosen by differential "
            f"privacy) but license {license.id} has δ={left:.3g} left",
            suggestion="group by columns with declared public categories (they spend no δ), "
            "or ask the data authority for more δ",
        )
    else:
        return decision
    return PolicyDecision(Decision.DENY, [reason], datasets=decision.datasets)
