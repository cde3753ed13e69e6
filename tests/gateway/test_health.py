"""/healthz answers alone; /readyz reports each dependency and answers 503 when one is down."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine

from gateway.routers import health
from tests.gateway.live_app import live
from tests.gateway.prefect_server import closed_prefect_server, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _app(database_url: str) -> FastAPI:
    app = FastAPI()
    app.state.engine = create_engine(database_url)
    app.include_router(health.router)
    return app


@pytest.fixture(scope="module")
def prefect():
    with closed_prefect_server() as server:
        yield server


def test_ready_when_everything_answers(prefect, tmp_path):
    health.warm_up()
    with live(_app(f"sqlite:///{tmp_path / 'identity.db'}")) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        answer = httpx.get(f"{url}/readyz", timeout=30)
    body = answer.json()
    assert answer.status_code == 200, body
    assert set(body["checks"]) == {"database", "prefect", "chain", "content_store"}
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0


def test_each_dependency_down_is_named_and_gives_503(prefect, tmp_path):
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    broken_db = f"sqlite:///{tmp_path / 'no-such-folder' / 'identity.db'}"
    with live(_app(broken_db)) as url:
        answer = httpx.get(f"{url}/readyz", timeout=30)
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["database"]["status"] == "down" and checks["prefect"]["status"] == "ok"
        assert str(tmp_path) not in answer.text  # a public probe names no path

    with temporary_settings(updates={PREFECT_API_AUTH_STRING: "dalrn:wrong"}), live(_app(broken_db)) as url:
        checks = httpx.get(f"{url}/readyz", timeout=30).json()["checks"]
    assert checks["prefect"]["status"] == "down"  # a wrong auth string is not "ready"
    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: dead}), live(_app(broken_db)) as url:
        checks = httpx.get(f"{url}/readyz", timeout=30).json()["checks"]
    assert checks["prefect"]["status"] == "down" and checks["chain"]["status"] == "ok"
