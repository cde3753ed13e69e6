"""`dalrn admin` against a gateway database: a key printed once and stored only as an
argon2id hash, rotate and revoke, grants, bad input exits 2; the schema comes from Alembic
and matches the models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from gateway.db import make_engine, open_database, upgrade
from gateway.db.models import ApiKey, AuditorGrant, Base
from gateway.identity import authenticate


@pytest.fixture()
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'gateway.db'}"


def admin(db_url, *args):
    env = {**os.environ, "DALRN_GATEWAY_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", "admin", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_create_prints_the_key_once_and_stores_only_its_argon2id_hash(db_url):
    made = admin(db_url, "tenant", "create", "acme-legal", "--json")
    assert made.returncode == 0, made.stderr
    issued = json.loads(made.stdout)
    assert set(issued) == {"tenant", "key_id", "api_key", "expires_at"} and issued["tenant"] == "acme-legal"
    _engine, sessions = open_database(db_url)
    with sessions() as s:
        key = s.get(ApiKey, issued["key_id"])
        assert key.secret_hash.startswith("$argon2id$") and issued["api_key"] not in key.secret_hash
        assert authenticate(s, issued["key_id"], issued["api_key"]) is not None
        assert authenticate(s, issued["key_id"], issued["api_key"][:-1]) is None
    listed = admin(db_url, "tenant", "list", "--json")
    assert issued["api_key"] not in listed.stdout and "acme-legal" in listed.stdout


def test_rotate_revoke_and_grant(db_url):
    acme = json.loads(admin(db_url, "tenant", "create", "acme", "--json").stdout)
    rotated = admin(db_url, "key", "rotate", acme["key_id"], "--overlap-hours", "0", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    _engine, sessions = open_database(db_url)
    with sessions() as s:
        assert authenticate(s, acme["key_id"], acme["api_key"]) is None  # no overlap asked
        assert authenticate(s, new["key_id"], new["api_key"]) is not None
    assert admin(db_url, "key", "revoke", new["key_id"]).returncode == 0
    with sessions() as s:
        assert authenticate(s, new["key_id"], new["api_key"]) is None
    assert admin(db_url, "tenant", "create", "audit-co", "--role", "auditor", "--grant", "acme").returncode == 0
    with sessions() as s:
        assert [(g.auditor, g.target) for g in s.scalars(select(AuditorGrant))] == [("audit-co", "acme")]


@pytest.mark.parametrize("args, names", [
    (("tenant", "create", "bad name!"), "name"),
    (("tenant", "create", "acme", "--role", "king"), "--role"),
    (("key", "rotate", "key_nope"), "key_id"),
    (("key", "revoke", "key_nope"), "key_id"),
    (("key", "rotate", "key_nope", "--overlap-hours", "-1"), "--overlap-hours"),
    (("grant", "acme", "--tenant", "nobody"), "auditor"),
])
def test_bad_input_exits_2_naming_the_field(db_url, args, names):
    admin(db_url, "tenant", "create", "acme")
    done = admin(db_url, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert names in done.stderr and "Traceback" not in done.stderr


def test_twice_the_same_tenant_is_refused(db_url):
    assert admin(db_url, "tenant", "create", "acme").returncode == 0
    again = admin(db_url, "tenant", "create", "acme")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_the_migrations_build_exactly_the_models_schema(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # applying again changes nothing
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
