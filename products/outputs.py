"""The output gate for one job: noise, disclosure checks and the value scan over its
candidate outputs, which are then kept inside the domain for review.

Runs after the sandbox and before review; nothing written here leaves the domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from catalog import get_dataset
from catalog.identifiers import contains_identifier, load_index
from core.errors import NotFound
from core.home import Home
from policies.disclosure import DisclosureRules
from policies.gate import CellSpec, check_table
from policies.privacy import NoiseSpec, apply_noise
from sandbox.records import Job

RESULT_FILE = "result.csv"


@dataclass
class GateOutcome:
    status: str  # blocked | awaiting_review
    gate: dict[str, Any]
    outputs: list[str]
    alerts: list[str] = field(default_factory=list)


def candidate_dir(home: Home, job: Job) -> Path:
    return home.jobs / str(job.id) / "candidate"


def identifier_check(session: Session, home: Home, datasets: list[str]) -> Callable[[object], bool]:
    """Whether a value equals a raw identifier of these datasets (keyed hashes only)."""
    key = home.pseudonym_key()
    indexes = [
        load_index(home.root / get_dataset(session, n).identifier_index_path) for n in datasets
    ]
    merged: set[str] = set().union(*indexes) if indexes else set()
    return lambda value: contains_identifier(value, merged, key)


def gate_job_outputs(
    session: Session, home: Home, job: Job, result_path: Path, rules: DisclosureRules
) -> GateOutcome:
    """Noise first (companions keep exact counts), then the gate; write the candidate."""
    frame = pd.read_parquet(result_path)
    noise = [NoiseSpec(**n) for n in job.policy.get("noise", [])]
    noisy = apply_noise(frame, noise) if noise else frame
    cells = [CellSpec(c["column"], c["kind"]) for c in job.policy.get("cells", [])]
    scan = identifier_check(session, home, job.policy.get("datasets", []))
    gate = check_table(noisy, cells, rules, is_identifier=scan)
    folder = candidate_dir(home, job)
    folder.mkdir(parents=True, exist_ok=True)
    gate.table.to_csv(folder / RESULT_FILE, index=False)
    alerts = ["value_scan_hit"] if any(f.rule == "value_scan" for f in gate.findings) else []
    status = "blocked" if gate.blocked else "awaiting_review"
    return GateOutcome(status, gate.to_dict(), [RESULT_FILE], alerts)


def candidate_table(home: Home, job: Job) -> pd.DataFrame:
    path = candidate_dir(home, job) / RESULT_FILE
    if not path.exists():
        raise NotFound(f"job {job.id} has no candidate output")
    return pd.read_csv(path)
