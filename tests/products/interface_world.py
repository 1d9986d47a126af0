"""Building interface products in a test world: a release carrying a DP model, a scoring
interface over it, a template interface, and a buyer's key."""

from __future__ import annotations

from jobs.queries import get_job
from operators.accounts import get_user
from products.interfaces import create_interface, issue_key
from products.models import attach_model
from products.release import release_of
from products.review import review
from service.demo_interface import FEATURES, credit_model
from tests.conftest import AUTHORITY, World
from tests.products.conftest import L1_QUERY, ran

PURPOSE = "rural credit assessment (信用惠农)"
# L3: noisy, ε per call
TEMPLATE = (
    "SELECT COUNT(*) AS n, AVG(water_fee) AS f FROM enterprise_utilities "
    "WHERE employees <= :max_employees"
)
# L2: exact, so the gate's differencing check guards it
EXACT_TEMPLATE = (
    "SELECT SUM(employees) AS e FROM enterprise_utilities WHERE employees <= :max_employees"
)


def model_release(world: World) -> int:
    """Run an L1 job, attach the model to it, approve it; the release's id."""
    job_id = ran(world, L1_QUERY)
    home = world.domain.home
    with world.domain.transaction() as session:
        attach_model(session, home, get_job(session, job_id), credit_model(), AUTHORITY)
    with world.domain.transaction() as session:
        review(session, home, job_id, get_user(session, world.reviewers[0]), "approve", "ok")
        release = release_of(session, job_id)
        assert release is not None and "model.json" in release.files
        return release.id


def scoring_interface(
    world: World, release_id: int, buyer_type: str = "public_interest"
) -> tuple[int, str]:
    with world.domain.transaction() as session:
        interface = create_interface(
            session,
            world.domain.home,
            release_id,
            world.operator,
            "信用惠农数据分析接口",
            "scoring",
            PURPOSE,
            {"features": FEATURES, "output": "grade"},
        )
        _, token = issue_key(session, interface.id, world.operator, "农商银行", buyer_type)
        return interface.id, token


def template_interface(
    world: World,
    release_id: int,
    epsilon_total: float = 5.0,
    sql: str = TEMPLATE,
    epsilon_per_call: float = 0.5,
) -> tuple[int, str]:
    with world.domain.transaction() as session:
        interface = create_interface(
            session,
            world.domain.home,
            release_id,
            world.operator,
            "用水统计接口",
            "template",
            "water use statistics",
            {
                "sql": sql,
                "parameters": [{"name": "max_employees", "kind": "int", "min": 0, "max": 5000}],
            },
            epsilon_per_call=epsilon_per_call,
        )
        _, token = issue_key(
            session, interface.id, world.operator, "研究所", "sme", epsilon_total=epsilon_total
        )
        return interface.id, token
