"""The output gate for one job: noise, disclosure checks, the value scan and the
differencing check over its candidate outputs, which then wait inside the domain.

Runs after the sandbox and before review; nothing written here leaves the domain.
Gated tables are written to the job's candidate folder without companions. The
populations of the SQL result's released rows (their sketches) are compared with the
domain's differencing store (gate/populations.py) and returned in the outcome; the
runner keeps them in the store once the job awaits review.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog import get_dataset
from catalog.identifiers import (
    COMBINATION_TAG,
    SEPARATOR,
    AnyIndex,
    contains_identifier,
    index_key,
    load_index,
    tagged_digest,
)
from core.cells import AGGREGATES
from core.errors import NotFound
from core.home import Home
from core.levels import Role
from gate.candidates import Candidate, classify, custom_findings, read_candidate
from gate.differencing import POPULATION_COLUMNS, TablePopulations, table_populations
from gate.disclosure import DisclosureRules
from gate.dp import release_dp
from gate.findings import Finding, make_finding
from gate.model_check import check_model
from gate.overrides import rules_for
from gate.populations import check_new
from gate.records import CellPopulation
from gate.registry import alerts_for
from gate.subject import GateSubject
from gate.tables import N_COLUMN, check_table
from gate.value_scan import Combination, Texts
from policies.partitions import PartitionSpec
from policies.privacy import NoiseSpec, apply_noise

RESULT_FILE = "result.csv"


@dataclass
class GateOutcome:
    status: str  # blocked | awaiting_review
    gate: dict[str, Any]
    outputs: list[str]
    alerts: list[str] = field(default_factory=list)
    # released rows' populations, for the differencing store once the job awaits review
    populations: list[TablePopulations] = field(default_factory=list)
    threshold: int = 0
    # what recheck_differencing needs: the store as the check read it, the findings
    # before differencing and the rules in force
    mark: tuple[int, int] = (0, 0)
    before_differencing: list[Finding] = field(default_factory=list)
    rules: DisclosureRules | None = None


@dataclass(frozen=True)
class ValueScan:
    """The domain's raw identifiers and quasi-identifier combinations, as keyed hashes."""

    is_identifier: Callable[[object], bool]
    combinations: tuple[Combination, ...] = ()


def kept_dir(home: Home, job_id: int) -> Path:
    """Files kept inside the domain beside a job's outputs, never packaged (the released
    core table that post-processing read)."""
    return home.jobs / str(job_id) / "gate"


def candidate_dir(home: Home, job: GateSubject) -> Path:
    return home.jobs / str(job.id) / "candidate"


def value_scan(session: Session, home: Home, datasets: list[str]) -> ValueScan:
    key = home.pseudonym_key()
    records = [get_dataset(session, name) for name in datasets]
    indexes = [load_index(home.root / r.identifier_index_path) for r in records]
    merged = AnyIndex(indexes)
    combinations = []
    for record, index in zip(records, indexes, strict=True):
        quasi = [c.name for c in record.schema().columns if c.role is Role.QUASI_IDENTIFIER]
        if len(quasi) >= 2:
            combinations.append(
                Combination(record.name, tuple(quasi), combination_matcher(index, key))
            )
    return ValueScan(lambda value: contains_identifier(value, merged, key), tuple(combinations))


def combination_matcher(index: AbstractSet[str], key: bytes) -> Callable[[list[Texts]], list[bool]]:
    """A batch test of normalised combinations against the index.

    Same digest as catalog.identifiers.contains_combination (tested to agree), without
    normalising again: the scan has already normalised each distinct value once.
    """
    derived = index_key(key)

    def matches(batch: list[Texts]) -> list[bool]:
        found = []
        for texts in batch:
            joined = SEPARATOR.join([t or "" for t in texts])
            known = texts.count(None) < len(texts)
            found.append(known and tagged_digest(derived, COMBINATION_TAG, joined) in index)
        return found

    return matches


def identifier_check(session: Session, home: Home, datasets: list[str]) -> Callable[[object], bool]:
    """Whether a value equals a raw identifier of these datasets (keyed hashes only)."""
    return value_scan(session, home, datasets).is_identifier


def _gate_table(
    candidate: Candidate, job: GateSubject, rules: DisclosureRules, scan: ValueScan, folder: Path
) -> tuple[dict[str, Any], list[Finding], TablePopulations | None]:
    """Check one table and write its released form; return its summary, findings and
    the populations of its released rows (SQL results only: a notebook's populations
    would be its own, keyed per job, so it is never compared)."""
    frame = read_candidate(candidate.path)
    noise = [NoiseSpec(**n) for n in job.policy.get("noise", [])] if candidate.from_policy else []
    cells = list(candidate.cells)
    if candidate.from_policy and job.policy.get("regime") == "dp":
        return _gate_dp_table(candidate, job, frame, noise, scan, folder)
    noisy = apply_noise(frame, noise) if noise else frame
    result = check_table(noisy, cells, rules, scan.is_identifier, scan.combinations)
    result.table.to_csv(folder / candidate.released_name, index=False)
    summary = {
        "name": candidate.released_name,
        "source": candidate.path.name,
        "kind": "table",
        "blocked": result.blocked,
        "cells_checked": result.cells_checked,
        "suppressed_share": result.suppressed_share,
        "counts": result.counts,
        "unlisted": result.unlisted,
        "removed_rows": result.removed_rows,
    }
    described = [c.column for c in cells if c.kind in (*AGGREGATES, "value")]
    if not (candidate.from_policy and N_COLUMN in noisy.columns and described):
        return summary, result.findings, None
    # rows the gate removed whole are not released either
    shown = result.table[described].notna().any(axis=1)
    released = shown.reindex(noisy.index, fill_value=False).to_numpy()
    populations = table_populations(noisy, candidate.released_name, released)
    if populations is None:  # no population, no differencing check: withhold, never guess
        summary["blocked"] = True
        figures = {"missing": list(POPULATION_COLUMNS)}
        missing = make_finding("missing_companion", None, None, figures)
        return summary, [*result.findings, missing], None
    return summary, result.findings, populations


def _gate_dp_table(
    candidate: Candidate,
    job: GateSubject,
    frame: pd.DataFrame,
    noise: list[NoiseSpec],
    scan: ValueScan,
    folder: Path,
) -> tuple[dict[str, Any], list[Finding], None]:
    """A DP-regime table: keys selected privately, every aggregate noised (gate.dp). It
    keeps no population: composition in the ε ledger, not differencing, protects it."""
    found = job.policy.get("partition")
    partition = PartitionSpec(**found) if found else None
    release = release_dp(frame, candidate.cells, noise, partition, scan.is_identifier,
                         scan.combinations)  # fmt: skip
    release.table.to_csv(folder / candidate.released_name, index=False)
    summary = {
        "name": candidate.released_name,
        "source": candidate.path.name,
        "kind": "table",
        "regime": "dp",
        "blocked": release.blocked,
        "cells_checked": release.cells_released,
        "suppressed_share": 0.0,
        "counts": dict(Counter(f.rule for f in release.findings)),
        "unlisted": 0,
        "removed_rows": 0,
        "keys_released": len(release.table),
    }
    return summary, release.findings, None


def _gate_custom(
    candidate: Candidate, scan: ValueScan, folder: Path
) -> tuple[dict[str, Any], list[Finding]]:
    findings, described = custom_findings(candidate, scan.is_identifier, scan.combinations)
    target = folder / candidate.released_name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(candidate.path, target)
    hit = any(f.rule != "custom_output" for f in findings)
    summary = {
        "name": candidate.released_name,
        "source": candidate.path.name,
        "kind": "custom",
        "blocked": hit,
        **described,
    }
    return summary, findings


def _gate_model(
    candidate: Candidate, job: GateSubject, rules: DisclosureRules, folder: Path
) -> tuple[dict[str, Any], list[Finding]]:
    """A DP model: its record must be the one charged, over enough rows; reviewers see
    its manifest (kind, ε, bounds, training rows) beside it."""
    text = candidate.path.read_text("utf-8", errors="replace")
    model, findings = check_model(text, job.policy.get("model", {}), rules.threshold)
    (folder / candidate.released_name).write_text(text, "utf-8")
    summary: dict[str, Any] = {
        "name": candidate.released_name,
        "source": candidate.path.name,
        "kind": "model",
        "blocked": bool(findings),
        # what reviewers saw, so an interface serving the release can check it is that file
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
    if model is not None:
        summary.update(model=model.kind, epsilon=model.epsilon, bounds=model.bounds,
                       training_rows=model.training_rows, features=model.features,
                       label=model.label)  # fmt: skip
    return summary, findings


def _prepare(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def gate_job_outputs(
    session: Session,
    home: Home,
    job: GateSubject,
    candidates: Path | Sequence[Path],
    rules: DisclosureRules,
    folder: Path | None = None,
) -> GateOutcome:
    """Gate every candidate file of a job; noise first (companions keep exact counts).

    The differencing check compares the job's released rows with the store of every
    cell released or awaiting review in the domain, whoever asked for it. Released
    files are written to `folder` (the job's candidate folder unless given: the runner
    gates into a folder of its own and moves it into place once the result is recorded).
    It only reads the database, so it can run outside the transaction that records it.
    """
    paths = [candidates] if isinstance(candidates, Path) else list(candidates)
    folder = folder or candidate_dir(home, job)
    datasets = job.policy.get("datasets", [])
    effective = rules_for(session, rules, datasets)
    scan = value_scan(session, home, datasets)
    _prepare(folder)
    found, ignored = classify(job, paths)
    files: list[dict[str, Any]] = []
    findings: list[Finding] = []
    populations: list[TablePopulations] = []
    for candidate in found:
        if candidate.kind == "table":
            summary, more, population = _gate_table(candidate, job, effective, scan, folder)
            populations += [population] if population is not None else []
        elif candidate.kind == "model":
            summary, more = _gate_model(candidate, job, effective, folder)
        else:
            summary, more = _gate_custom(candidate, scan, folder)
        for finding in more:
            finding.file = summary["name"]
        files.append(summary)
        findings += more
    mark = store_mark(session)  # before the check: a change after it is seen at recording
    check = check_new(session, job.id, populations, effective.threshold)
    differencing = check.findings
    outcome = _outcome(files, [*findings, *differencing], ignored, effective, differencing,
                       check.summary())  # fmt: skip
    outcome.populations, outcome.threshold = populations, effective.threshold
    outcome.mark, outcome.before_differencing, outcome.rules = mark, findings, effective
    return outcome


def store_mark(session: Session) -> tuple[int, int]:
    """How many cells the differencing store holds and its highest id: cells kept or
    forgotten since change it (short of a delete and an insert of as many cells at the
    top of the id range, which the check at release still catches)."""
    found = session.execute(select(func.count(CellPopulation.id), func.max(CellPopulation.id)))
    count, highest = found.one()
    return int(count), int(highest or 0)


def recheck_differencing(session: Session, job_id: int, outcome: GateOutcome) -> GateOutcome:
    """The differencing check again, in the transaction that keeps the job's cells, when
    the store changed since the gate read it (another job kept cells meanwhile): the
    cells enter the store only after a check against the store they enter. A job the gate
    blocked stays blocked; the check can only add findings."""
    if outcome.status != "awaiting_review" or outcome.rules is None:
        return outcome
    if store_mark(session) == outcome.mark:
        return outcome
    check = check_new(session, job_id, outcome.populations, outcome.threshold)
    differencing = check.findings
    findings = [*outcome.before_differencing, *differencing]
    gate = outcome.gate
    again = _outcome(gate["files"], findings, gate["ignored"], outcome.rules, differencing,
                     check.summary())  # fmt: skip
    again.populations, again.threshold = outcome.populations, outcome.threshold
    again.before_differencing, again.rules = outcome.before_differencing, outcome.rules
    again.mark = store_mark(session)
    return again


def _outcome(
    files: list[dict[str, Any]],
    findings: list[Finding],
    ignored: list[str],
    rules: DisclosureRules,
    differencing: list[Finding],
    compared: dict[str, Any],
) -> GateOutcome:
    tables = [f for f in files if f["kind"] == "table"]
    counts: dict[str, int] = {}
    for summary in files:
        for rule, count in summary.get("counts", {}).items():
            counts[rule] = counts.get(rule, 0) + count
    for finding in findings:
        if finding.rule in ("custom_output", "differencing", "model_mismatch", "model_rows"):
            counts[finding.rule] = counts.get(finding.rule, 0) + 1
    blocked = not files or any(f["blocked"] for f in files) or bool(differencing)
    gate = {
        "blocked": blocked,
        "suppressed_share": max((t["suppressed_share"] for t in tables), default=0.0),
        "cells_checked": sum(t["cells_checked"] for t in tables),
        "counts": counts,
        "unlisted": sum(t["unlisted"] for t in tables),
        "rules": rules.to_dict(),
        "files": files,
        "custom": [f["name"] for f in files if f["kind"] == "custom"],
        "ignored": ignored,
        "differencing": compared,
        "findings": [f.to_dict() for f in findings],
    }
    alerts = alerts_for({f.rule for f in findings})
    status = "blocked" if blocked else "awaiting_review"
    return GateOutcome(status, gate, [f["name"] for f in files], alerts)


def candidate_files(home: Home, job: GateSubject) -> dict[str, Path]:
    """The job's gated outputs by released name, as reviewers see them."""
    folder = candidate_dir(home, job)
    return {name: folder / name for name in job.outputs if (folder / name).is_file()}


def candidate_table(home: Home, job: GateSubject, name: str = RESULT_FILE) -> pd.DataFrame:
    path = candidate_dir(home, job) / name
    if not path.exists():
        raise NotFound.coded("gate_candidate_missing", job_id=job.id, name=name)
    return pd.read_csv(path)
