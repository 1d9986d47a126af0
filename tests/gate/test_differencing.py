"""Differencing attacks through real jobs: plant an enterprise, try to recover its value
from what is released, as an attacker would, and find that the second half of every
attack is withheld; while legitimate pairs of outputs still pass.

The planted enterprise employs PLANTED people, more than any other (the demo's largest
employs under 2,000), so `employees < 4000` leaves out exactly it. Every attack asks
for a total, then for the same total without it, dressed differently each time; the
difference of the two would be PLANTED, exactly (employees is L2: no noise).
"""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from catalog import get_dataset
from core.errors import Conflict
from operators.licenses import grant_license
from products.release import release_of
from service.domain import Domain
from service.settings import Settings
from tests.conftest import AUTHORITY, World, build_world, require_component
from tests.products.conftest import decide, job_of, sandbox_result
from tests.products.conftest import ran as run_job

PLANTED = 4321
WITHOUT_IT = "employees < 4000"
BY_DISTRICT = "SELECT district, SUM(employees) AS e FROM enterprise_utilities GROUP BY district"


pytestmark = pytest.mark.sandbox("bubblewrap")  # real jobs, pinned to bubblewrap


@pytest.fixture(scope="session")
def planted_files(
    demo_files: list[tuple[Path, Path]], tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Path, Path]]:
    """The demo's raw files with one more enterprise, in the first one's district."""
    (data, schema), social = demo_files
    raw = pd.read_csv(data, dtype=str)
    assert pd.to_numeric(raw["employees"]).max() < 4000
    planted = raw.iloc[0].copy()
    planted["enterprise_id"] = "91330211MA2PLANT7X"
    planted["name"] = "宁波市植入测试机械有限公司"
    planted["legal_person"] = "植入者"
    planted["phone"] = "13900000017"
    planted["employees"] = str(PLANTED)
    folder = tmp_path_factory.mktemp("planted")
    pd.concat([raw, planted.to_frame().T]).to_csv(folder / data.name, index=False)
    shutil.copy(schema, folder / schema.name)
    return [(folder / data.name, folder / schema.name), social]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shared fixture's settings, on bubblewrap: these tests judge the gate, not the
    sandbox backend, and need no docker engine."""
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SLUICE_SANDBOX_BACKEND", "bubblewrap")
    return Settings()


@pytest.fixture
def planted(domain: Domain, planted_files: list[tuple[Path, Path]]) -> World:
    require_component(shutil.which("bwrap") is not None, "bubblewrap (bwrap)")
    return build_world(domain, planted_files)


@pytest.fixture
def district(planted_files: list[tuple[Path, Path]]) -> str:
    return str(pd.read_csv(planted_files[0][0], dtype=str)["district"].iloc[-1])


def ran(world: World, sql: str) -> int:
    """Run a job through the real sandbox; a sandbox failure is not a gate verdict."""
    job_id = run_job(world, sql)
    job = job_of(world, job_id)
    assert job.status != "failed", job.failure
    return job_id


def other_company(world: World) -> World:
    """The same domain, as the second company (mallory's) with its own license."""
    with world.domain.transaction() as session:
        license = grant_license(
            session,
            operator="other-company",
            schemas={"enterprise_utilities": get_dataset(session, "enterprise_utilities").schema()},
            max_level="L3",
            purpose="second half of the attack",
            valid_until=date.today() + timedelta(days=30),
            actor=AUTHORITY,
            epsilon=10.0,
        )
        return replace(world, license_id=license.id, operator=world.outsider)


def released(world: World, job_id: int) -> pd.DataFrame | None:
    """The table an operator received for a job, or None if nothing left the domain."""
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        if release is None:
            return None
        path = world.domain.home.root / release.package_path
    with zipfile.ZipFile(path) as archive:
        return pd.read_csv(io.BytesIO(archive.read("result.csv")))


def withheld(world: World, job_id: int) -> None:
    """The output is blocked, cannot be approved, and its operator is told only that it
    was withheld: not the rule, not the other output, not the figures."""
    job = job_of(world, job_id)
    assert job.status == "blocked", job.gate
    with pytest.raises(Conflict, match="blocked"):
        decide(world, job_id, "wang")
    assert released(world, job_id) is None
    shown = job.to_dict(for_operator=True)
    assert [f["rule"] for f in shown["gate"]["findings"]] == ["withheld"]
    assert "differencing" not in repr(shown) and "job " not in repr(shown["gate"])
    reviewer = [f for f in job.gate["findings"] if f["rule"] == "differencing"]
    assert reviewer and reviewer[0]["figures"]["difference"] == 1


def release_first(world: World, sql: str) -> pd.DataFrame:
    job_id = ran(world, sql)
    assert decide(world, job_id, "wang") == "released", job_of(world, job_id).gate
    table = released(world, job_id)
    assert table is not None
    return table


def would_have_revealed(world: World, job_id: int) -> pd.DataFrame:
    """The blocked output as it would have left (read inside the domain), to show the
    attack is real: without the check, the difference is the planted value."""
    return pd.read_csv(world.domain.home.jobs / str(job_id) / "candidate" / "result.csv")


def test_renamed_key_cannot_recover_the_planted_value(planted: World, district: str) -> None:
    first = release_first(planted, BY_DISTRICT)
    second = ran(
        planted,
        "SELECT CONCAT(district, '#') AS d, SUM(employees) AS e FROM enterprise_utilities "
        f"WHERE {WITHOUT_IT} GROUP BY CONCAT(district, '#')",
    )
    withheld(planted, second)
    hidden = would_have_revealed(planted, second).set_index("d")["e"]
    total = first.set_index("district")["e"]
    assert total[district] - hidden[district + "#"] == PLANTED  # the attack, had it left
    assert released(planted, second) is None  # the attacker holds only the first table


@pytest.mark.parametrize(
    "filtered",
    [
        f"SELECT SUM(employees) AS e FROM enterprise_utilities WHERE {WITHOUT_IT}",
        # under a key (one group: every district is known), so no key text matches the total's
        "SELECT district IS NOT NULL AS k, SUM(employees) AS e FROM enterprise_utilities "
        f"WHERE {WITHOUT_IT} GROUP BY district IS NOT NULL",
    ],
    ids=["plain", "under_a_key"],
)
def test_total_beside_a_filtered_total_cannot_recover_it(planted: World, filtered: str) -> None:
    first = release_first(planted, "SELECT SUM(employees) AS e FROM enterprise_utilities")
    second = ran(planted, filtered)
    withheld(planted, second)
    hidden = would_have_revealed(planted, second)["e"].dropna()
    assert int(first["e"].iloc[0] - hidden.iloc[0]) == PLANTED
    assert released(planted, second) is None


def test_nested_filter_cannot_recover_it(planted: World, district: str) -> None:
    first = release_first(
        planted,
        f"SELECT SUM(employees) AS e FROM enterprise_utilities WHERE district = '{district}'",
    )
    second = ran(
        planted,
        f"SELECT SUM(employees) AS e FROM (SELECT * FROM enterprise_utilities "
        f"WHERE {WITHOUT_IT}) AS t WHERE district = '{district}'",
    )
    withheld(planted, second)
    assert int(first["e"].iloc[0] - would_have_revealed(planted, second)["e"].iloc[0]) == PLANTED


def test_a_small_group_cannot_recover_it(
    planted: World, planted_files: list[tuple[Path, Path]]
) -> None:
    """The same attack on a group of at most 64 units, whose population travels and is
    stored as its digests whole and is compared exactly, by the store check's batch
    (gate/stored_sketches.py), not by its sketch's cells."""
    raw = pd.read_csv(planted_files[0][0], dtype=str)
    home = raw.iloc[-1]  # the planted enterprise
    group = raw[raw["district"] == home["district"]]
    employees = pd.to_numeric(group["employees"]).sort_values(ascending=False)
    floor = int(employees.iloc[39])  # the district's 40 largest employers, the planted first
    scope = f"district = '{home['district']}' AND employees >= {floor}"
    size = int((pd.to_numeric(group["employees"]) >= floor).sum())
    assert 10 < size <= 64, size  # above the threshold, kept whole
    first = release_first(
        planted, f"SELECT SUM(employees) AS e FROM enterprise_utilities WHERE {scope}"
    )
    second = ran(
        planted,
        "SELECT district AS k, SUM(employees) AS e FROM enterprise_utilities "
        f"WHERE {scope} AND {WITHOUT_IT} GROUP BY district",
    )
    withheld(planted, second)
    hidden = would_have_revealed(planted, second)["e"].iloc[0]
    assert int(first["e"].iloc[0] - hidden) == PLANTED  # the attack, had it left
    assert released(planted, second) is None


def test_another_company_cannot_do_the_second_half(planted: World, district: str) -> None:
    release_first(planted, BY_DISTRICT)
    accomplice = other_company(planted)
    second = ran(
        accomplice,
        "SELECT district, SUM(employees) AS e FROM enterprise_utilities "
        f"WHERE {WITHOUT_IT} GROUP BY district",
    )
    withheld(planted, second)
    job = job_of(planted, second)
    assert job.operator_id != job_of(planted, second - 1).operator_id
    [finding] = [f for f in job.gate["findings"] if f["rule"] == "differencing"]
    assert finding["figures"]["earlier"] == f"job {second - 1} (released)"


def test_a_pending_output_is_compared_and_a_rejected_one_forgotten(planted: World) -> None:
    total = "SELECT SUM(employees) AS e FROM enterprise_utilities"
    pending = ran(planted, total)
    filtered = f"{total} WHERE {WITHOUT_IT}"
    assert job_of(planted, ran(planted, filtered)).status == "blocked"
    assert decide(planted, pending, "wang", "deny", "not needed") == "rejected"
    again = job_of(planted, ran(planted, filtered))
    assert again.status == "awaiting_review", again.failure


def test_disjoint_breakdowns_and_an_exact_repeat_pass(planted: World) -> None:
    breakdown = f"{BY_DISTRICT.replace(' GROUP', ' {} GROUP')}"
    first = ran(planted, breakdown.format("WHERE industry = '制造业'"))
    assert decide(planted, first, "wang") == "released"
    other = job_of(planted, ran(planted, breakdown.format("WHERE industry <> '制造业'")))
    assert other.status == "awaiting_review", other.gate["findings"]
    again = job_of(planted, ran(planted, breakdown.format("WHERE industry = '制造业'")))
    assert again.status == "awaiting_review", again.gate["findings"]  # Δ = 0: nothing new
    assert again.gate["differencing"]["earlier"] == [] and again.gate["differencing"]["cells"] > 0


def test_populations_never_leave_the_domain(planted: World) -> None:
    job_id = ran(planted, BY_DISTRICT)
    raw = pd.read_parquet(sandbox_result(planted, job_id))
    assert {"__lowest", "__sketch", "__n"} <= set(raw.columns)  # the core emitted them
    assert decide(planted, job_id, "wang") == "released"
    table = released(planted, job_id)
    assert table is not None and list(table.columns) == ["district", "e"]
    with planted.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        package = planted.domain.home.root / release.package_path
    # ingest stored the digests, so the core listed its lowest as BIGINTs, and XORs of
    # them in the sketch: look for their bytes in either order, their hex and their
    # decimal text
    listed = [int(d) for units in raw["__lowest"] for d in units]
    listed += [int(c[2]) for cells in raw["__sketch"] for c in cells if c[1] > 0]
    assert listed, "the core listed no unit"
    digests = {d.to_bytes(8, order, signed=True) for d in listed for order in ("big", "little")}
    decimals = {str(d).encode() for d in listed}
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if name != "manifest.json":  # the manifest quotes the rewritten SQL, which names it
                for companion in (b"__lowest", b"__sketch", b"__n"):
                    assert companion not in data, name
            assert not any(d in data or d.hex().encode() in data for d in digests), name
            assert not any(d in data for d in decimals), name


def test_a_job_whose_stored_population_no_longer_reads_is_not_released(planted: World) -> None:
    """The check at release cannot vouch for a cell whose stored sketch is damaged, so
    the approval is refused, the job stays under review, and nothing leaves."""
    from sqlalchemy import update

    from gate.records import CellPopulation

    job_id = ran(planted, BY_DISTRICT)
    with planted.domain.transaction() as session:
        damaged = update(CellPopulation).where(CellPopulation.job_id == job_id)
        assert session.execute(damaged.values(sketch=b"\x01")).rowcount > 0
    with pytest.raises(Conflict) as refused:
        decide(planted, job_id, "wang")
    assert refused.value.message_code == "population_unreadable"
    assert job_of(planted, job_id).status == "awaiting_review"
    assert released(planted, job_id) is None
