"""Fixtures the service tests share."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import World


@pytest.fixture
def api(world: World) -> TestClient:
    """The REST API of the test world's domain (a file may define its own `api`)."""
    from service.api import create_app

    return TestClient(create_app(world.domain.settings))
