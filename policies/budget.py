"""Whether a policy decision fits what is left of a license's ε and δ budgets (pure)."""

from __future__ import annotations

from operators.records import License
from policies.engine import Decision, PolicyDecision
from policies.reasons import reason

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
        refusal = reason(
            "budget_exhausted", needed=decision.epsilon, license=license.id, left=remaining
        )
    elif not delta_fits:
        left = max(0.0, license.delta_total - license.delta_spent)
        refusal = reason("delta_exhausted", needed=decision.delta, license=license.id, left=left)
    else:
        return decision
    return PolicyDecision(Decision.DENY, [refusal], datasets=decision.datasets)
