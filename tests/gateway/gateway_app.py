"""A gateway app over its own database for one test module, and token helpers."""

from __future__ import annotations

import contextlib

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.identity import create_tenant, grant
from gateway.settings import Settings


def make_app(tmp_path, runs=None, **overrides):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}", **overrides)
    if runs is None:
        from gateway.runs import DisputeRuns

        runs = DisputeRuns()  # reached only by tests that start runs (they use a real server)
    return create_app(settings, runs=runs, warm_up=False)


def add_tenant(app, name: str, role: str = "party", grants: tuple[str, ...] = ()) -> dict:
    with app.state.sessions() as session:
        issued = create_tenant(session, name, role)
        for target in grants:
            grant(session, name, target)
        session.commit()
    return issued.to_json()


def token_of(client, issued: dict) -> str:
    answer = client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": issued["key_id"],
                                                   "client_secret": issued["api_key"]})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def client_of(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
