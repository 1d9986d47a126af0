"""The policy engine: pure query analysis — levels and rules, the SQL checker (against
the stored types too) and rewriter, differential-privacy planning and the budget check.
No tables, no audit.

`check_query` decides on one query.
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from policies.engine import POLICY_VERSION, Decision, LicenseScope, PolicyDecision, check_query
    from policies.privacy import NoiseSpec, apply_noise, plan_noise

__getattr__ = lazy_exports(__name__, __file__)

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
