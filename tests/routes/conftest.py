"""Route tests: the real handlers in a Starlette app over a test runtime."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import runtime


@pytest.fixture
def test_config(tmp_path):
    return runtime.Config(
        db_path=tmp_path / "parley.duckdb",
        media_dir=tmp_path / "media",
        demo=False,
        secret_key=b"route-secret",
        public_url=None,
        port=0,
    )


@pytest.fixture
def server(test_config):
    """A started runtime with its workers, and a TestClient on the app's routes."""
    from routes import ROUTES

    rt = runtime.start(test_config, workers=True)
    with TestClient(Starlette(routes=ROUTES)) as client:
        yield rt, client
    runtime.stop()
