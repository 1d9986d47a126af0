"""The policy engine: pure query analysis — levels and rules, the SQL checker (against
the stored types too) and rewriter, differential-privacy planning and the budget check.
No tables, no audit.

`check_query` decides on one query.
"""

from policies.engine import POLICY_VERSION, Decision, LicenseScope, PolicyDecision, check_query
from policies.privacy import NoiseSpec, apply_noise, plan_noise

__all__ = [
    "Decision",
    "LicenseScope",
    "NoiseSpec",
    "POLICY_VERSION",
    "PolicyDecision",
    "apply_noise",
    "check_query",
    "plan_noise",
]
