"""The attack and legitimate-analysis corpora, end to end, one test per case.

Attacks must be denied before the sandbox, or run and release nothing that
identifies a record even when every reviewer approves. Legitimate analyses must
run, pass the gate and release a useful table; exact ones must match DuckDB's
answer to the same SQL on the desensitized store. The corpora are data:
tests/policies/corpus/attacks.yaml and legit.yaml.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import poisson

from catalog.identifiers import normalise
from core.errors import InvalidInput
from gate.step import kept_dir
from jobs.postprocess import post_process
from jobs.queries import get_job, job_dir
from jobs.records import Job
from jobs.runner import CORE_FILE, run
from jobs.submit import submit_sql
from operators.accounts import get_user
from products.release import release_of
from products.review import review
from tests.conftest import World
from tests.policies.conftest import StoreFacts, fresh_company

CORPUS = Path(__file__).parent / "corpus"
ATTACKS: list[dict[str, Any]] = yaml.safe_load((CORPUS / "attacks.yaml").read_text("utf-8"))[
    "attacks"
]
LEGIT: list[dict[str, Any]] = yaml.safe_load((CORPUS / "legit.yaml").read_text("utf-8"))["legit"]
# Reading a file, a setting or another dataset must be refused before anything runs.
NEVER_RUN = {"file_read", "settings_env", "qualified_names", "other_dataset", "statement"}
THRESHOLD = 10
HEX_RUN = re.compile(r"[0-9a-fA-F]{12,}")
CODE_RUN = re.compile(r"[0-9A-Z]{10,}")
MASKED_PHONE = re.compile(r"\d{3}\*{4}\d{4}")


def test_corpora_are_large_enough_and_well_formed() -> None:
    assert len(ATTACKS) >= 150 and len(LEGIT) >= 60
    for cases in (ATTACKS, LEGIT):
        ids = [c["id"] for c in cases]
        assert len(ids) == len(set(ids)), "case ids must be unique"
    assert {c["expect"] for c in ATTACKS} <= {"deny", "safe"}
    assert all(c.get("category") for c in ATTACKS)
    assert {c["result"] for c in LEGIT} <= {"exact", "noisy"}


# ---------------------------------------------------------------- driving a job


def _submit(world: World, sql: str) -> tuple[int, str]:
    with world.domain.transaction() as session:
        job = submit_sql(
            session, world.license_id, world.operator, sql, world.domain.settings.job_settings()
        )
        return job.id, job.status


def _run(world: World, job_id: int) -> Job:
    settings = world.domain.settings.job_settings()
    return run(world.domain.sessions, world.domain.home, job_id, settings)


def _approve_all(world: World, job: Job) -> Job:
    """Every reviewer needed approves: the worst case the corpora must survive."""
    for name in world.reviewers[: job.required_reviews]:
        with world.domain.transaction() as session:
            review(session, world.domain.home, job.id, get_user(session, name), "approve", "ok")
    with world.domain.transaction() as session:
        job = get_job(session, job.id)
        session.expunge(job)
        return job


def _released_table(world: World, job: Job) -> pd.DataFrame:
    """The table as it left the domain: read back from the signed release package."""
    with world.domain.transaction() as session:
        release = release_of(session, job.id)
        assert release is not None, f"job {job.id} is {job.status} but has no release"
        package = world.domain.home.root / release.package_path
    with zipfile.ZipFile(package) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".csv")]
        return pd.read_csv(io.BytesIO(archive.read(name)))


def _sandbox_result(world: World, job: Job) -> pd.DataFrame | None:
    """The raw sandbox output (companions included), kept inside the domain."""
    path = job_dir(world.domain.home, job) / "out" / "result.parquet"
    return pd.read_parquet(path) if path.exists() else None


# ---------------------------------------------------------------- judging a release


def _identifier_leaks(table: pd.DataFrame, facts: StoreFacts) -> list[str]:
    """Cells equal to, containing, or cut from an identifier (raw, pseudonym or mask)."""
    blob = "\x1f".join(sorted(facts.identifiers))
    leaks = []
    for column in table.columns:
        for value in table[column].dropna().unique().tolist():
            text = normalise(value) or ""
            runs = HEX_RUN.findall(text) + CODE_RUN.findall(text) + MASKED_PHONE.findall(text)
            if text in facts.identifiers or any(run in blob for run in runs):
                leaks.append(f"column {column!r} holds identifier material")
                break
    return leaks


def _exact_amount_leaks(table: pd.DataFrame, facts: StoreFacts) -> list[str]:
    """Released numbers equal, to the cent, to one enterprise's own L3 amount: the
    decoded value an attack on a single record is after."""
    leaks = []
    for column in table.columns:
        numbers = pd.to_numeric(table[column], errors="coerce").dropna().round(2)
        hits = sorted({float(v) for v in numbers if float(v) in facts.secret_amounts})
        if hits:
            leaks.append(f"{column} releases {len(hits)} enterprise amount(s) to the cent")
    return leaks


def _key_sources(
    table: pd.DataFrame, keys: list[str], facts: StoreFacts, lineage: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """Per group key, the store columns holding every value the key takes in the release,
    among the columns the key was computed from (its lineage), when the engine says.

    Computed keys (buckets, decades) match no column and so constrain nothing below; the
    lineage keeps a bucket of capital from being mistaken for an employee count.
    """
    outputs = (lineage or {}).get("outputs", {})
    sources = {}
    for key in keys:
        wanted = {normalise(v) for v in table[key].dropna().tolist()}
        named = {s.split(".")[-1] for s in outputs.get(key, [])} if key in outputs else None
        sources[key] = [
            c
            for c, values in facts.wide_sets.items()
            if wanted <= values and (named is None or c.removesuffix("_si") in named)
        ]
    return sources


def _units_behind(row: pd.Series, sources: dict[str, list[str]], facts: StoreFacts) -> int:
    """Enterprises whose stored values match a row's group keys, counted without the engine."""
    mask = np.ones(facts.enterprises, dtype=bool)
    for key, columns in sources.items():
        value = normalise(row[key])
        if value is not None and columns:
            mask &= np.logical_or.reduce([facts.wide[c] == value for c in columns])
    return int(mask.sum())


def _row_level_leaks(world: World, job: Job, table: pd.DataFrame, facts: StoreFacts) -> list[str]:
    """Rows of the released core resting on fewer than THRESHOLD enterprises that show
    anything but public labels. Rows are matched to the engine's groups by their keys
    (the gate may remove rows, and a DP release may add public-category rows).

    The released core is what post-processing read; the output is a function of it.
    A row whose keys all come from declared public code lists (or a table without
    keys) may rest on few units in the DP regime: its values are noisy, not exact."""
    raw = _sandbox_result(world, job)
    if raw is None or "__n" not in raw.columns:
        return _public_only_leaks(job, table, facts)
    kept = kept_dir(world.domain.home, job.id) / CORE_FILE
    core = pd.read_csv(kept) if kept.exists() else table
    cells = [c for c in job.policy.get("cells", []) if c["kind"] == "group_key"]
    keys = [c["column"] for c in cells]
    public = {c["column"]: {normalise(v) for v in c.get("categories") or []} for c in cells}
    units_by_key = {_key(r, keys): int(r["__n"]) for _, r in raw.iterrows()}
    sources = _key_sources(core, keys, facts, job.policy.get("lineage"))
    dp = job.policy.get("regime") == "dp"
    leaks = []
    for i, row in core.iterrows():
        if dp and all(normalise(row[k]) in public[k] for k in keys):
            continue
        units = min(units_by_key.get(_key(row, keys), 0), _units_behind(row, sources, facts))
        if units >= THRESHOLD:
            continue
        shown = [
            c
            for c in core.columns
            if pd.notna(row[c]) and normalise(row[c]) not in facts.public_labels
        ]
        if shown:
            leaks.append(f"row {i} rests on {units} enterprise(s) but releases {shown}")
    partition = job.policy.get("partition") if dp else None
    if partition and len(leaks) <= _chance_small_groups(partition, units_by_key.values()):
        return []  # free keys chosen by noisy counts: a small group shows now and then
    return leaks


def _chance_small_groups(partition: dict[str, Any], units: Any) -> int:
    """How many groups under THRESHOLD partition selection may show by chance in one
    release, at one in ten million: each group of n units clears the threshold τ with
    probability P(Laplace(scale) ≥ τ − n); the number shown is about Poisson."""
    scale = partition["max_groups"] / partition["epsilon"]
    expected = sum(
        0.5 * math.exp(-(partition["threshold"] - n) / scale)
        for n in units
        if n < THRESHOLD and n < partition["threshold"]
    )
    return int(poisson.isf(1e-7, expected)) if expected > 0 else 0


def _public_only_leaks(job: Job, table: pd.DataFrame, facts: StoreFacts) -> list[str]:
    """Released without a unit count: it must be computable from the L1 columns alone."""
    try:
        expected = facts.connect(public_only=True).execute(job.source).df()
    except Exception as exc:  # noqa: BLE001 - any failure means it needed more than L1
        return [f"released without the gate, but needs non-public data: {exc}".splitlines()[0]]
    if _rows(expected) != _rows(table):
        return ["released without the gate, and differs from the same query over L1 columns"]
    return []


def _rows(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return sorted(tuple(_cell(v) for v in row) for row in frame.itertuples(index=False))


def _cell(value: object) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.9g}"
    return str(normalise(value))


# ---------------------------------------------------------------- attacks


@pytest.mark.parametrize("case", ATTACKS, ids=[c["id"] for c in ATTACKS])
def test_attack(case: dict[str, Any], corpus_world: World, store_facts: StoreFacts) -> None:
    try:
        job_id, status = _submit(corpus_world, case["sql"])
    except InvalidInput:
        return  # refused as input: nothing was recorded as a job, nothing ran
    if status == "denied":
        with corpus_world.domain.transaction() as session:
            job = get_job(session, job_id)
            assert job.rewritten_sql is None and job.reasons
            assert all(r.get("message") and r.get("suggestion") for r in job.reasons)
        return
    assert case["category"] not in NEVER_RUN, f"{case['category']} query reached the sandbox"
    assert case["expect"] == "safe", f"expected a denial, but the engine {status} it"
    job = _run(corpus_world, job_id)
    if job.status != "awaiting_review":
        assert job.status in ("failed", "blocked"), job.status
        return  # nothing can be approved, so nothing leaves
    job = _approve_all(corpus_world, job)
    assert job.status == "released"
    table = _released_table(corpus_world, job)
    assert not [c for c in table.columns if str(c).startswith("__")], "companions released"
    leaks = (
        _identifier_leaks(table, store_facts)
        + _row_level_leaks(corpus_world, job, table, store_facts)
        + _exact_amount_leaks(table, store_facts)
    )
    assert not leaks, f"released {len(table)} row(s) that identify records: {leaks[:5]}"


# ---------------------------------------------------------------- legitimate analyses


@pytest.mark.parametrize("case", LEGIT, ids=[c["id"] for c in LEGIT])
def test_legit(case: dict[str, Any], corpus_world: World, store_facts: StoreFacts) -> None:
    corpus_world = fresh_company(corpus_world, f"legit-{case['id']}")
    job_id, status = _submit(corpus_world, case["sql"])
    if status == "denied":
        with corpus_world.domain.transaction() as session:
            reasons = get_job(session, job_id).reasons
        pytest.fail(f"denied: {[r['rule'] + ': ' + r['message'] for r in reasons]}")
    job = _run(corpus_world, job_id)
    assert job.status == "awaiting_review", job.failure or _gate_summary(job)
    job = _approve_all(corpus_world, job)
    table = _released_table(corpus_world, job)
    assert list(table.columns) == case["columns"]
    assert len(table) > 0
    values = table.drop(columns=_keys(job, table), errors="ignore")
    assert values.empty or values.notna().any().any(), "every value was suppressed"
    if case["result"] == "exact":
        assert not job.policy.get("noise"), f"unexpected noise: {job.policy['noise']}"
        _assert_exact(corpus_world, job, table, store_facts)


def _assert_exact(world: World, job: Job, table: pd.DataFrame, store_facts: StoreFacts) -> None:
    """The released core is DuckDB's answer to the core (suppressed cells and removed
    groups aside), and the output is the post-processing of that core and nothing else."""
    kept = kept_dir(world.domain.home, job.id) / CORE_FILE
    core = pd.read_csv(kept) if job.policy.get("post_sql") else table
    raw = store_facts.connect().execute(job.rewritten_sql).df()
    keys = _keys(job, raw)
    _assert_matches(core, raw, keys, _removable(job, raw, keys))
    if job.policy.get("post_sql"):
        again = post_process(core, job.policy["post_sql"])
        pd.testing.assert_frame_equal(table, again, check_dtype=False)


def _removable(job: Job, raw: pd.DataFrame, keys: list[str]) -> set[tuple[str | None, ...]]:
    """Groups the gate must remove whole: below the threshold, keys not all public."""
    if "__n" not in raw.columns:
        return set()
    cells = [c for c in job.policy.get("cells", []) if c["kind"] == "group_key"]
    public = {c["column"]: {normalise(v) for v in c.get("categories") or []} for c in cells}
    small = raw[raw["__n"] < THRESHOLD]
    return {
        _key(r, keys)
        for _, r in small.iterrows()
        if not all(normalise(r[k]) in public.get(k, set()) for k in keys)
    }


def _gate_summary(job: Job) -> str:
    findings = (job.gate or {}).get("findings", [])
    rules = sorted({f["rule"] for f in findings})
    return f"gate: {job.status}, rules {rules}, first: {findings[0]['message'] if findings else ''}"


def _keys(job: Job, frame: pd.DataFrame) -> list[str]:
    """Columns identifying a row: the engine's group keys, else the non-numeric ones."""
    keys = [c["column"] for c in job.policy.get("cells", []) if c["kind"] == "group_key"]
    if keys:
        return keys
    shown = [c for c in frame.columns if not str(c).startswith("__")]  # companions never leave
    return [c for c in shown if not pd.api.types.is_numeric_dtype(frame[c])]


def _assert_matches(
    released: pd.DataFrame,
    expected: pd.DataFrame,
    keys: list[str],
    removable: set[tuple[str | None, ...]] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Same rows and values; a cell the gate suppressed (null) is not compared, and a
    group the gate removed whole must be one it had to remove."""
    expected = expected[[c for c in expected.columns if not str(c).startswith("__")]]
    if removable:
        gone = expected.apply(lambda r: _key(r, keys) in removable, axis=1)
        missing = {_key(r, keys) for _, r in expected[gone].iterrows()}
        shown = {_key(r, keys) for _, r in released.iterrows()}
        assert not (missing & shown), "a group below the threshold kept its free key"
        expected = expected[~gone]
    assert len(released) == len(expected)
    if keys:
        left = released.assign(__key=[_key(r, keys) for _, r in released.iterrows()])
        right = expected.assign(__key=[_key(r, keys) for _, r in expected.iterrows()])
        assert sorted(left["__key"]) == sorted(right["__key"])
        left, right = left.set_index("__key"), right.set_index("__key").loc[left["__key"]]
    else:
        left, right = released.reset_index(drop=True), expected.reset_index(drop=True)
    for column in released.columns:
        if column in keys:
            continue
        ours, theirs = left[column].to_numpy(), right[column].to_numpy()
        for a, b in zip(ours, theirs, strict=True):
            if pd.isna(a):
                continue
            if isinstance(b, int | float | np.number) and not isinstance(b, bool):
                assert float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-6), column
            else:
                assert normalise(a) == normalise(b), column


def _key(row: pd.Series, keys: list[str]) -> tuple[str | None, ...]:
    return tuple(normalise(row[k]) for k in keys)
