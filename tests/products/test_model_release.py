"""A DP model as an output: reviewed like a table, released as model.json, listed."""

from __future__ import annotations

import json
import zipfile

import pytest

from gate.model_artifact import DpModel
from jobs.dp_fit import submit_model
from jobs.queries import get_job
from jobs.runner import run
from products.listing import list_product
from products.release import release_of
from tests.conftest import World
from tests.products.conftest import decide, job_of

REQUEST = {
    "model": "linear_regression",
    "sql": "SELECT capital, employees FROM enterprise_utilities WHERE district <> '象山县'",
    "features": ["employees"],
    "label": "capital",
    "epsilon": 2.0,
}


def trained(world: World, request: dict) -> int:
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job_id, plan = submit_model(session, world.license_id, world.operator, request)
        assert "QUALIFY" in plan.sql  # one row per privacy unit
        assert plan.bounds["capital"] == [0.0, 100_000_000.0]
    run(world.domain.sessions, world.domain.home, job_id, settings)
    return job_id


@pytest.mark.sandbox
def test_a_model_is_reviewed_released_and_listed(world: World) -> None:
    job_id = trained(world, REQUEST)
    job = job_of(world, job_id)
    assert job.status == "awaiting_review", job.failure
    assert job.kind == "model" and job.level == "L2" and job.required_reviews == 1
    assert job.gate["custom"] == [] and job.outputs == ["model.json"]
    assert decide(world, job_id, world.reviewers[0]) == "released"
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        package = world.domain.home.root / release.package_path
        with zipfile.ZipFile(package) as archive:
            names = archive.namelist()
            model = DpModel.from_json(archive.read("model.json"))
            manifest = json.loads(archive.read("manifest.json"))
        product = list_product(
            session, release.id, world.operator, "员工规模估注册资本", price_yuan=100
        )
        assert product.id is not None
    assert "model.json" in names
    assert model.kind == "linear_regression" and model.epsilon == 2.0
    assert manifest["model"]["training_rows"] == model.training_rows
    assert manifest["model"]["bounds"]["capital"] == [0.0, 100_000_000.0]
    assert len(model.predict([{"employees": 100}])) == 1


@pytest.mark.sandbox
def test_a_model_over_l3_needs_two_reviewers(world: World) -> None:
    request = {**REQUEST, "features": ["water_fee"], "epsilon": 1.0}
    job_id = trained(world, request)
    assert job_of(world, job_id).required_reviews == 2
    assert decide(world, job_id, world.reviewers[0]) == "awaiting_review"
    assert decide(world, job_id, world.reviewers[1]) == "released"


@pytest.mark.sandbox
def test_an_edited_model_record_is_blocked(world: World) -> None:
    """A training run cannot hand back another model than the one charged for."""
    from gate.model_check import check_model

    job_id = trained(world, REQUEST)
    with world.domain.sessions() as session:
        expected = get_job(session, job_id).policy["model"]
    text = (world.domain.home.jobs / str(job_id) / "candidate" / "model.json").read_text()
    record = json.loads(text)
    assert check_model(text, expected, 10)[1] == []
    cheaper = json.dumps({**record, "epsilon": 0.5})
    few = json.dumps({**record, "training_rows": 3})
    assert [f.rule for f in check_model(cheaper, expected, 10)[1]] == ["model_mismatch"]
    assert [f.rule for f in check_model(few, expected, 10)[1]] == ["model_rows"]
    assert [f.rule for f in check_model("{}", expected, 10)[1]] == ["model_mismatch"]


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("model", "label", "params"),
    [("gaussian_nb", "district", {}), ("kmeans", None, {"n_clusters": 4})],
)
def test_every_model_kind_trains_to_a_checked_record(world: World, model, label, params) -> None:
    request = {
        "model": model,
        "sql": "SELECT employees, capital, district FROM enterprise_utilities",
        "features": ["employees", "capital"],
        "label": label,
        "epsilon": 1.0,
        "params": params,
    }
    job = job_of(world, trained(world, request))
    assert job.status == "awaiting_review", job.failure
    text = (world.domain.home.jobs / str(job.id) / "candidate" / "model.json").read_text()
    record = DpModel.from_json(text)
    assert record.kind == model and record.training_rows > 1000
    predicted = record.predict([{"employees": 30, "capital": 5e6}] * 2)
    if model == "kmeans":
        assert len(record.parameters["cluster_centers"]) == 4 and predicted[0] in range(4)
    else:  # classes are the declared districts the data held
        assert set(record.parameters["classes"]) <= set(
            world_schema_categories(world, "enterprise_utilities", "district")
        )


def world_schema_categories(world: World, dataset: str, column: str) -> list[str]:
    from catalog import get_dataset

    with world.domain.sessions() as session:
        found = get_dataset(session, dataset).schema().column(column)
        assert found is not None and found.categories is not None
        return list(found.categories)
