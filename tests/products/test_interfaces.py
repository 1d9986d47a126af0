"""Interface products: scoring only with a valid consent (refusals audited), only the
approved output returned; template calls run through the gate, differencing included."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from audit_log import AuditEntry
from core.db import utcnow
from core.errors import (
    BudgetExhausted,
    InvalidInput,
    PermissionDenied,
    PolicyDenied,
    RateLimited,
)
from products.consents import record_consent, revoke_consent
from products.interface_calls import CallRequest, call_interface
from products.interface_records import Consent, InterfaceCall, InterfaceKey
from products.interfaces import issue_key, key_for
from products.usage import UsageRecord
from service.web.i18n import translator
from service.web.wording import Worded, error_words
from tests.conftest import AUTHORITY, World
from tests.products.interface_world import (
    EXACT_TEMPLATE,
    PURPOSE,
    model_release,
    scoring_interface,
    template_interface,
)

pytestmark = pytest.mark.sandbox


def _call(world: World, token: str, interface_id: int, request: CallRequest) -> dict:
    settings = world.domain.settings.job_settings()
    d = world.domain
    return call_interface(d.sessions, d.home, settings, token, interface_id, request).to_dict()


def _entries(world: World, action: str) -> list[AuditEntry]:
    with world.domain.transaction() as session:
        found = session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [e for e in found if session.expunge(e) is None]


def _applicant(files: list[tuple[Path, Path]]) -> str:
    frame = pd.read_csv(files[0][0], dtype={"enterprise_id": str})
    return str(frame["enterprise_id"].iloc[0])


def test_scoring_needs_a_valid_consent_and_returns_only_the_grade(
    world: World, demo_files: list[tuple[Path, Path]]
) -> None:
    interface_id, token = scoring_interface(world, model_release(world))
    applicant = _applicant(demo_files)
    ask = CallRequest(identifier=applicant, purpose=PURPOSE)

    with pytest.raises(PermissionDenied, match="no consent") as unconsented:
        _call(world, token, interface_id, ask)
    assert error_words(unconsented.value, translator("zh-CN")) == Worded(
        "无权执行此操作：拒绝评分：未记录该数据主体的同意", "请为该接口及用途记录数据主体的同意"
    )
    refused = _entries(world, "interface.refused")
    assert len(refused) == 1 and refused[0].details["consent"] is None
    assert "no consent" in refused[0].details["reason"]

    with world.domain.transaction() as session:
        key = key_for(session, token, interface_id)
        until = utcnow() + timedelta(days=30)
        consent_id = record_consent(
            session, world.domain.home, key, f" {applicant} ", PURPOSE, until, "form 17"
        ).id
        stored = session.get(Consent, consent_id)
        assert stored is not None and applicant not in stored.subject  # pseudonym only
    answer = _call(world, token, interface_id, ask)
    assert set(answer["output"]) == {"grade"} and answer["output"]["grade"] in ("A", "B", "C")
    assert answer["rows"] is None and answer["consent"] == consent_id
    called = _entries(world, "interface.called")
    assert [e.details["consent"] for e in called] == [consent_id]

    other = CallRequest(identifier=applicant, purpose="marketing")
    with pytest.raises(PermissionDenied, match="another purpose"):
        _call(world, token, interface_id, other)

    with world.domain.transaction() as session:
        revoke_consent(session, consent_id, AUTHORITY)
    with pytest.raises(PermissionDenied, match="revoked"):
        _call(world, token, interface_id, ask)

    with world.domain.transaction() as session:
        key = key_for(session, token, interface_id)
        late = record_consent(
            session, world.domain.home, key, applicant, PURPOSE, utcnow() + timedelta(days=1)
        )
        late.valid_until = utcnow() - timedelta(seconds=1)
    with pytest.raises(PermissionDenied, match="expired"):
        _call(world, token, interface_id, ask)

    with world.domain.transaction() as session:
        calls = list(session.scalars(select(InterfaceCall).order_by(InterfaceCall.id)))
        metered = list(session.scalars(select(UsageRecord)))
    assert [c.outcome for c in calls] == ["refused", "answered", "refused", "refused", "refused"]
    assert len(metered) == 1 and metered[0].amount == 0.0  # public interest: free
    assert len(_entries(world, "interface.refused")) == 4


def test_a_key_opens_one_interface_at_its_rate_and_is_kept_hashed(
    world: World, demo_files: list[tuple[Path, Path]]
) -> None:
    release_id = model_release(world)
    first, token = scoring_interface(world, release_id)
    second, _ = scoring_interface(world, release_id)
    ask = CallRequest(identifier=_applicant(demo_files), purpose=PURPOSE)
    with pytest.raises(PermissionDenied, match="does not open"):
        _call(world, token, second, ask)
    with pytest.raises(InvalidInput):
        _call(
            world, token, first, CallRequest(parameters={"x": 1}, identifier="1", purpose=PURPOSE)
        )
    with world.domain.transaction() as session:  # only the key's hash is kept
        stored = [k.key_hash for k in session.scalars(select(InterfaceKey))]
        assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored
        _, slow = issue_key(session, first, world.operator, "小贷公司", "commercial", 2)
    for _ in range(2):  # refused calls count too: a key cannot probe faster than its rate
        with pytest.raises(PermissionDenied, match="no consent"):
            _call(world, slow, first, ask)
    with pytest.raises(RateLimited):
        _call(world, slow, first, ask)
    assert _entries(world, "interface.refused")[-1].details["reason"].startswith("this key may")


def test_template_call_that_differences_an_earlier_one_is_blocked(
    world: World, demo_files: list[tuple[Path, Path]]
) -> None:
    release_id = model_release(world)
    interface_id, token = template_interface(
        world, release_id, epsilon_total=0.0, sql=EXACT_TEMPLATE, epsilon_per_call=0.0
    )
    employees = pd.read_csv(demo_files[0][0])["employees"].sort_values(ascending=False)
    cut = int(employees.iloc[2])  # all but the two or three largest employers
    removed = int((employees > cut).sum())
    assert 0 < removed < 10

    answer = _call(world, token, interface_id, CallRequest(parameters={"max_employees": 5000}))
    [row] = answer["rows"]
    assert set(row) == {"e"} and row["e"] == employees.sum()

    # the second answer would give the few largest employers' staff by difference
    with pytest.raises(PolicyDenied, match="withheld"):
        _call(world, token, interface_id, CallRequest(parameters={"max_employees": cut}))
    blocked = _entries(world, "interface.refused")
    assert blocked[-1].details["outcome"] == "blocked" and blocked[-1].details["job"]
    # a value that removes no one gives the same population: not a difference
    same = _call(world, token, interface_id, CallRequest(parameters={"max_employees": 4000}))
    assert same["rows"] == answer["rows"]


def test_template_calls_spend_the_buyer_s_budget(world: World) -> None:
    interface_id, token = template_interface(world, model_release(world), epsilon_total=1.0)
    answer = _call(world, token, interface_id, CallRequest(parameters={"max_employees": 5000}))
    assert [set(r) for r in answer["rows"]] == [{"n", "f"}]
    assert answer["epsilon"] > 0 and answer["fee_yuan"] == 0.0  # no fee set yet
    _call(world, token, interface_id, CallRequest(parameters={"max_employees": 3000}))
    with pytest.raises(BudgetExhausted):  # 1.0 ε, 0.5 a call
        _call(world, token, interface_id, CallRequest(parameters={"max_employees": 4000}))


def test_template_parameters_take_only_declared_values(world: World) -> None:
    interface_id, token = template_interface(world, model_release(world))
    for bad in ({"max_employees": "1 OR 1=1"}, {"max_employees": 6000}, {"other": 3}):
        with pytest.raises(InvalidInput):
            _call(world, token, interface_id, CallRequest(parameters=bad))
    with world.domain.transaction() as session:
        outcomes = [c.outcome for c in session.scalars(select(InterfaceCall))]
    assert outcomes == ["refused"] * 3


def test_a_broker_trained_model_serves_scores_to_consented_subjects(
    world: World, demo_files: list[tuple[Path, Path]]
) -> None:
    """The whole path: fit() broker-side, review, release, a scoring interface over the
    released model.json, and a bank's call answered with the model's own prediction."""
    from gate.model_artifact import DpModel
    from jobs.dp_fit import submit_model
    from jobs.runner import run
    from products.interfaces import create_interface
    from products.models import released_model
    from products.release import release_of
    from tests.products.conftest import decide

    request = {
        "model": "linear_regression",
        "sql": "SELECT employees, capital FROM enterprise_utilities",
        "features": ["employees"],
        "label": "capital",
        "epsilon": 2.0,
    }
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job_id, _plan = submit_model(session, world.license_id, world.operator, request)
    run(world.domain.sessions, world.domain.home, job_id, settings)
    assert decide(world, job_id, world.reviewers[0]) == "released"
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        model, _digest = released_model(session, world.domain.home, release)
        interface = create_interface(
            session,
            world.domain.home,
            release.id,
            world.operator,
            "规模估算接口",
            "scoring",
            PURPOSE,
            {"features": {"employees": "enterprise_utilities.employees"}, "output": "score"},
        )
        key, token = issue_key(session, interface.id, world.operator, "农商银行", "commercial")
        record_consent(
            session, world.domain.home, key, _applicant(demo_files), PURPOSE,
            utcnow() + timedelta(days=30), "form 9",
        )  # fmt: skip
    assert isinstance(model, DpModel) and model.kind == "linear_regression"
    ask = CallRequest(identifier=_applicant(demo_files), purpose=PURPOSE)
    answer = _call(world, token, interface.id, ask)
    assert set(answer["output"]) == {"score"}  # the approved output, never the features
    frame = pd.read_csv(demo_files[0][0], dtype={"enterprise_id": str})
    employees = float(frame["employees"].iloc[0])
    expected = model.predict([{"employees": employees}])[0]
    assert answer["output"]["score"] == pytest.approx(expected, rel=1e-6)
