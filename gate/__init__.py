"""The output gate: everything that judges an output before a reviewer sees it —
disclosure rules (one entry each in gate.registry), suppression, the value scan,
differencing by population and its store, findings, candidates, the job-level gate
step and per-dataset rule overrides."""

from typing import TYPE_CHECKING

# The modules that register rules load with the package, as before it was lazy: a
# rule's wording and parameters are read from the registry, whoever reads them first.
import gate.disclosure  # noqa: F401
import gate.model_check  # noqa: F401
from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.cells import CellKind
    from gate.disclosure import DisclosureRules
    from gate.findings import Finding
    from gate.overrides import dataset_rules, rules_for, set_dataset_rules
    from gate.step import GateOutcome, gate_job_outputs
    from gate.subject import GateSubject
    from gate.tables import CellSpec, GateResult, check_table

__getattr__ = lazy_exports(__name__, __file__)

__all__ = [
    "CellKind",
    "CellSpec",
    "DisclosureRules",
    "Finding",
    "GateOutcome",
    "GateResult",
    "GateSubject",
    "check_table",
    "dataset_rules",
    "gate_job_outputs",
    "rules_for",
    "set_dataset_rules",
]
