"""The demo's closing act: a 信用惠农-style interface product (credit analysis for rural
lending, public interest, free) and a rural commercial bank calling it without and
with the applicant's consent (授权)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

import numpy as np
from diffprivlib.models import LogisticRegression

from core.db import utcnow
from core.errors import PermissionDenied
from gate.model_artifact import DpModel
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit
from operators.accounts import Principal, get_user
from products.consents import record_consent
from products.interface_calls import CallRequest, call_interface
from products.interfaces import create_interface, issue_key, key_for
from products.models import attach_model
from products.release import release_of
from products.review import review
from service.domain import Domain

FEATURES = {
    "water": "enterprise_utilities.water_fee",
    "power": "enterprise_utilities.electricity_fee",
}
BOUNDS = {"water": [0.0, 1_000_000.0], "power": [0.0, 20_000_000.0]}
PURPOSE = "信用惠农贷款授信评估 (rural credit assessment)"
BANK = "镇海农村商业银行"
MODEL_SQL = "SELECT district, COUNT(*) AS enterprises FROM enterprise_utilities GROUP BY district"


class Out(Protocol):
    def heading(self, text: str) -> None: ...
    def line(self, text: str = "") -> None: ...


def credit_model(seed: int = 0) -> DpModel:
    """A DP logistic regression fitted on synthetic bills (a stand-in for one trained
    through the notebook broker): pays its bills steadily → more likely to repay."""
    rng = np.random.default_rng(seed)
    scale = np.array([BOUNDS["water"][1], BOUNDS["power"][1]])
    x = np.column_stack([rng.uniform(0, 20_000, 4000), rng.uniform(0, 400_000, 4000)])
    y = (x[:, 0] / 20_000 + x[:, 1] / 400_000 > 1).astype(int)
    fitted = LogisticRegression(epsilon=2.0, data_norm=1.5, random_state=1).fit(x / scale, y)
    return DpModel(
        kind="logistic_regression",
        features=list(FEATURES),
        bounds=BOUNDS,
        epsilon=2.0,
        training_rows=len(x),
        label="repays",
        parameters={
            "coef": (fitted.coef_ / scale).tolist(),
            "intercept": fitted.intercept_.tolist(),
            "classes": fitted.classes_.tolist(),
        },
    )


def model_release(d: Domain, license_id: int, who: Principal, reviewers: list[str]) -> int:
    """An approved output carrying the model as model.json; its release id."""
    settings = d.settings.job_settings()
    with d.transaction() as session:
        job_id = submit(session, license_id, who, settings, sql=MODEL_SQL).id
    run(d.sessions, d.home, job_id, settings)
    with d.transaction() as session:
        attach_model(session, d.home, get_job(session, job_id), credit_model(), who.actor)
    for name in reviewers:
        with d.transaction() as session:
            if get_job(session, job_id).status == "awaiting_review":
                review(session, d.home, job_id, get_user(session, name), "approve", "model ok")
    with d.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        return release.id


def interface_demo(
    d: Domain, license_id: int, who: Principal, reviewers: list[str], applicant: str, out: Out
) -> dict[str, Any]:
    out.heading("信用惠农 interface product: a bank scores a loan applicant")
    release_id = model_release(d, license_id, who, reviewers)
    with d.transaction() as session:
        interface = create_interface(
            session,
            d.home,
            release_id,
            who,
            "信用惠农数据分析接口",
            "scoring",
            PURPOSE,
            {"features": FEATURES, "output": "grade"},
            scenario="公益：涉农小微企业信用评估",
        )
        _, token = issue_key(session, interface.id, who, BANK, "public_interest")
        interface_id = interface.id
    out.line(f"interface {interface_id} (public interest, free) over release {release_id}; "
             f"key issued to {BANK}, kept only hashed")  # fmt: skip
    settings = d.settings.job_settings()
    ask = CallRequest(identifier=applicant, purpose=PURPOSE)
    result: dict[str, Any] = {"interface": interface_id}
    try:
        call_interface(d.sessions, d.home, settings, token, interface_id, ask)
    except PermissionDenied as refused:
        result["without_consent"] = refused.message
        out.line(f"without consent → refused and audited: {refused.message}")
    with d.transaction() as session:
        key = key_for(session, token, interface_id)
        until = utcnow() + timedelta(days=180)
        consent = record_consent(session, d.home, key, applicant, PURPOSE, until, "signed form")
        result["consent"] = consent.id
    out.line(f"applicant signs a consent (授权) for this purpose: consent {consent.id}")
    answer = call_interface(d.sessions, d.home, settings, token, interface_id, ask).to_dict()
    result["with_consent"] = answer["output"]
    out.line(f"with consent → {answer['output']} (no features returned), fee ¥{answer['fee_yuan']}")
    return result
