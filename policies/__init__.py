"""The policy engine: levels and rules, the SQL checker and rewriter, differential
privacy and its budget, and the disclosure rules of the output gate.

`check_query` decides on one query; `check_table` decides on one output table.
"""

from policies.disclosure import DisclosureRules
from policies.engine import POLICY_VERSION, LicenseScope, PolicyDecision, check_query
from policies.gate import CellSpec, Finding, GateResult, check_table
from policies.privacy import NoiseSpec, apply_noise, plan_noise

__all__ = [
    "CellSpec",
    "DisclosureRules",
    "Finding",
    "GateResult",
    "LicenseScope",
    "NoiseSpec",
    "POLICY_VERSION",
    "PolicyDecision",
    "apply_noise",
    "check_query",
    "check_table",
    "plan_noise",
]
