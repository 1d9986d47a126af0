"""The gate over whole jobs: differencing, planted identifiers, custom outputs, and the
disclosure rules per dataset, through the real sandbox and the audit log."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from audit_log import Actor, AuditEntry
from core.errors import Conflict, InvalidInput, PermissionDenied
from gate.disclosure import DisclosureRules
from gate.overrides import rules_for, set_dataset_rules
from products.release import release_of
from tests.conftest import AUTHORITY, World
from tests.products.conftest import L1_QUERY, decide, job_of, ran, with_files

# Differencing and the disclosure rules protect exact (SDC-regime) outputs; an output
# reading L3 is differentially private instead (tests/gate/test_dp_regime.py).
SDC_QUERY = "SELECT district, SUM(employees) AS f FROM enterprise_utilities GROUP BY district"


def actions(world: World) -> list[AuditEntry]:
    with world.domain.transaction() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        for row in rows:
            session.expunge(row)
        return rows


def narrow_filter(world: World) -> str:
    """A capital bound that leaves out a handful of enterprises (fewer than 10)."""
    store = pd.read_parquet(world.domain.home.store / "enterprise_utilities" / "data.parquet")
    top = float(store["capital"].max())
    left_out = int((store["capital"] >= top).sum())
    assert 0 < left_out < 10, left_out
    return f"{top:.0f}"


@pytest.mark.sandbox
def test_a_narrow_filter_after_a_release_is_blocked_as_differencing(world: World) -> None:
    earlier = ran(world, SDC_QUERY)
    assert decide(world, earlier, "wang") == "released"
    bound = narrow_filter(world)
    narrowed = SDC_QUERY.replace("GROUP BY", f"WHERE capital < {bound} GROUP BY")
    later = job_of(world, ran(world, narrowed))
    assert later.status == "blocked", later.gate
    hit = next(f for f in later.gate["findings"] if f["rule"] == "differencing")
    assert hit["figures"]["earlier"] == f"job {earlier} (released)"
    assert 0 < hit["figures"]["difference"] < 10
    assert later.gate["differencing"]["earlier"] == [f"job {earlier} (released)"]
    alerts = [e for e in actions(world) if e.action == "alert.differencing_hit"]
    assert [e.subject for e in alerts] == [f"job:{later.id}"]
    shown = later.to_dict(for_operator=True)
    assert all("figures" not in f and "message" not in f for f in shown["gate"]["findings"])
    assert [f["rule"] for f in shown["gate"]["findings"]] == ["withheld"]  # not which rule
    with pytest.raises(Conflict, match="blocked"):
        decide(world, later.id, "wang")


@pytest.mark.sandbox
def test_a_broad_change_or_a_rerun_is_not_differencing(world: World) -> None:
    first = ran(world, SDC_QUERY)
    rerun = job_of(world, ran(world, SDC_QUERY))
    assert rerun.status == "awaiting_review" and rerun.gate["differencing"]["earlier"] == []
    broad = SDC_QUERY.replace("GROUP BY", "WHERE industry = '制造业' GROUP BY")
    assert job_of(world, ran(world, broad)).status == "awaiting_review"
    assert job_of(world, first).status == "awaiting_review"


@pytest.mark.sandbox
def test_a_pending_output_is_compared_too(world: World) -> None:
    pending = ran(world, SDC_QUERY)
    narrowed = SDC_QUERY.replace("GROUP BY", f"WHERE capital < {narrow_filter(world)} GROUP BY")
    later = job_of(world, ran(world, narrowed))
    assert later.status == "blocked"
    assert later.gate["differencing"]["earlier"] == [f"job {pending} (awaiting_review)"]


@pytest.mark.sandbox
@pytest.mark.parametrize("column", ["enterprise_id", "legal_person", "phone"])
@pytest.mark.parametrize("where", ["custom_text", "companion_table"])
def test_a_planted_raw_identifier_is_caught_and_alerted(
    world: World, raw_enterprises: pd.DataFrame, tmp_path: Path, column: str, where: str
) -> None:
    secret = str(raw_enterprises[column].iloc[17])
    if where == "custom_text":
        files: dict = {"notes.txt": f"top firm: {secret}, see chart\n".encode()}
        name = "custom/notes.txt"
    else:
        files = {"firms.parquet": pd.DataFrame({"firm": [secret], "n": [40], "__n": [40]})}
        name = "firms.csv"
    job = job_of(world, with_files(world, L1_QUERY, files, tmp_path))
    assert job.status == "blocked"
    hits = [f for f in job.gate["findings"] if f["rule"] == "value_scan"]
    assert [h["file"] for h in hits] == [name]
    assert secret not in json.dumps(job.gate, ensure_ascii=False)
    assert any(
        e.action == "alert.value_scan_hit" and e.subject == f"job:{job.id}" for e in actions(world)
    )


@pytest.mark.sandbox
def test_custom_outputs_leave_only_by_exception_of_two_reviewers(
    world: World, tmp_path: Path
) -> None:
    chart = b"<svg xmlns='http://www.w3.org/2000/svg'><text>share by district</text></svg>"
    job_id = with_files(world, L1_QUERY, {"chart.svg": chart}, tmp_path)
    job = job_of(world, job_id)
    assert job.status == "awaiting_review" and job.required_reviews == 1
    assert job.gate["custom"] == ["custom/chart.svg"]
    assert sorted(job.outputs) == ["custom/chart.svg", "result.csv"]
    custom = next(f for f in job.gate["findings"] if f["rule"] == "custom_output")
    assert custom["file"] == "custom/chart.svg" and custom["figures"]["media"] == "image/svg+xml"
    with pytest.raises(InvalidInput, match="justification"):
        decide(world, job_id, "wang", reason="ok", exception=True)
    why = "图表仅含区级占比，已核对无个体信息 (district shares only)"
    assert decide(world, job_id, "wang", reason=why, exception=True) == "awaiting_review"
    assert decide(world, job_id, "zhao", reason=why, exception=True) == "released"
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        manifest, path = release.manifest, world.domain.home.root / release.package_path
    with zipfile.ZipFile(path) as archive:
        assert archive.read("custom/chart.svg") == chart
    assert manifest["exception"] == {"files": ["custom/chart.svg"]} and manifest["withheld"] == []
    exception = next(e for e in actions(world) if e.action == "release.exception")
    assert exception.details["reviewers"] == ["wang", "zhao"]
    assert exception.details["justifications"] == [why, why]


@pytest.mark.sandbox
def test_a_plain_approval_releases_tables_and_withholds_custom_files(
    world: World, tmp_path: Path
) -> None:
    job_id = with_files(world, L1_QUERY, {"memo.txt": b"free text\n"}, tmp_path)
    assert decide(world, job_id, "wang") == "released"
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        assert release.files == ["result.csv"]
        assert release.manifest["withheld"] == ["custom/memo.txt"]


@pytest.mark.sandbox
def test_custom_only_outputs_cannot_be_approved_plainly(world: World, tmp_path: Path) -> None:
    job_id = with_files(world, L1_QUERY, {"memo.txt": b"free text\n"}, tmp_path)
    with world.domain.transaction() as session:
        job = session.get(type(job_of(world, job_id)), job_id)
        job.outputs = ["custom/memo.txt"]  # as a notebook that wrote only this file
    with pytest.raises(InvalidInput, match="only custom outputs"):
        decide(world, job_id, "wang")


@pytest.mark.sandbox
def test_dataset_rules_refine_the_domain_and_weaker_needs_opt_in(world: World) -> None:
    domain_rules = DisclosureRules()
    with world.domain.transaction() as session:
        with pytest.raises(InvalidInput, match="threshold"):
            set_dataset_rules(
                session, "enterprise_utilities", {"threshold": 5}, domain_rules, AUTHORITY
            )
    with world.domain.transaction() as session:
        with pytest.raises(PermissionDenied):
            set_dataset_rules(
                session,
                "enterprise_utilities",
                {"threshold": 50},
                domain_rules,
                Actor("li", "operator"),
            )
    with world.domain.transaction() as session:
        set_dataset_rules(
            session, "enterprise_utilities", {"safe_threshold": 500}, domain_rules, AUTHORITY
        )
        assert rules_for(session, domain_rules, ["enterprise_utilities"]).threshold == 500
        assert rules_for(session, domain_rules, ["social_insurance"]).threshold == 10
        both = rules_for(session, domain_rules, ["social_insurance", "enterprise_utilities"])
        assert both.threshold == 500
    strict = job_of(world, ran(world, SDC_QUERY))
    assert strict.gate["rules"]["threshold"] == 500 and strict.status == "blocked"
    with world.domain.transaction() as session:
        set_dataset_rules(
            session,
            "enterprise_utilities",
            {"threshold": 5},
            domain_rules,
            AUTHORITY,
            allow_weaker=["threshold"],
        )
    lax = job_of(world, ran(world, SDC_QUERY.replace("district", "street")))
    assert lax.gate["rules"]["threshold"] == 5
    changes = [e for e in actions(world) if e.action == "disclosure.rules_set"]
    assert changes[-1].details["weaker_than_domain"] == ["threshold"]
    assert changes[-1].details["allow_weaker"] == ["threshold"]


def test_the_batch_combination_matcher_agrees_with_the_catalog() -> None:
    from catalog.identifiers import build_identifier_index, contains_combination, normalise
    from catalog.schema import parse_schema
    from gate.step import combination_matcher

    schema = parse_schema(
        {
            "dataset": "firms",
            "title": "firms",
            "owner": "test",
            "privacy_unit": "id",
            "columns": [
                {"name": "id", "type": "string", "level": "L3", "role": "identifier"},
                {"name": "founded", "type": "date", "level": "L2", "role": "quasi_identifier"},
                {"name": "street", "type": "string", "level": "L2", "role": "quasi_identifier"},
            ],
        }
    )
    raw = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "founded": pd.to_datetime(["2013-02-03", "2019-11-30", None]),
            "street": ["江口街道", "白沙路街道", "庄市街道"],
        }
    )
    key = b"k" * 32
    index = build_identifier_index(raw, schema, key)
    matches = combination_matcher(index, key)
    candidates = [
        ("2013-02-03", "江口街道"),
        ("2019-11-30", "白沙路街道"),
        (None, "庄市街道"),
        ("2013-02-03", "白沙路街道"),
        (None, None),
        (2013, "江口街道"),
    ]
    expected = [contains_combination(c, index, key) for c in candidates]
    assert expected == [True, True, True, False, False, False]
    assert list(matches([tuple(normalise(v) for v in c) for c in candidates])) == expected
