"""The interface API as a bank uses it: a call without consent is refused (403, audited),
a recorded consent lets it through with only the grade, a revoked one stops it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit_log import AuditEntry
from tests.conftest import World
from tests.products.interface_world import PURPOSE, model_release, scoring_interface

pytestmark = pytest.mark.sandbox


def test_bank_calls_with_and_without_consent(
    world: World, demo_files: list[tuple[Path, Path]]
) -> None:
    from service.api import create_app

    interface_id, token = scoring_interface(world, model_release(world))
    api = TestClient(create_app(world.domain.settings))
    applicant = str(pd.read_csv(demo_files[0][0], dtype=str)["enterprise_id"].iloc[1])
    headers = {"X-Interface-Key": token}
    ask = {"identifier": applicant, "purpose": PURPOSE}
    url = f"/api/v1/interfaces/{interface_id}/call"

    refused = api.post(url, json=ask, headers=headers)
    assert refused.status_code == 403 and "consent" in refused.json()["message"]
    assert api.post(url, json=ask, headers={"X-Interface-Key": "sik_wrong"}).status_code == 403

    until = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    consent = api.post(
        f"/api/v1/interfaces/{interface_id}/consents",
        json={**ask, "valid_until": until, "evidence": "signed form"},
        headers=headers,
    )
    assert consent.status_code == 201, consent.text
    answered = api.post(url, json=ask, headers=headers)
    assert answered.status_code == 200, answered.text
    assert set(answered.json()["output"]) == {"grade"}
    assert answered.json()["consent"] == consent.json()["id"]
    listed = api.get(f"/api/v1/interfaces/{interface_id}/consents", headers=headers).json()
    assert [c["id"] for c in listed] == [consent.json()["id"]]

    revoked = api.post(f"/api/v1/consents/{consent.json()['id']}/revoke", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert api.post(url, json=ask, headers=headers).status_code == 403
    with world.domain.transaction() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert actions.count("interface.refused") == 2 and actions.count("interface.called") == 1
