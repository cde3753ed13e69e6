"""The gateway's database: engine, sessions, Alembic migrations (`upgrade`) and the
cross-process write lock (`write_transaction`)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Connections per gateway process. The gateway lets fewer requests in at once than this
# (`ADMITTED`, `gateway.admission`), keeping a few for its background work (the joint
# dispute reconciler, readiness checks), so a checkout never waits on an empty pool.
POOL_SIZE, POOL_OVERFLOW = 10, 10
ADMITTED = POOL_SIZE + POOL_OVERFLOW - 4


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        in_file = make_url(url).database not in (None, "", ":memory:")  # in memory: one connection, no pool
        pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW} if in_file else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # foreign keys are off by default in SQLite
            cursor = conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL's default (NORMAL) may lose the last commits to a power cut; an accepted
            # dispute's row must survive one once the 202 is sent.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration to `engine`'s database (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def release_connection(db: Session) -> None:
    """End `db`'s transaction so its connection goes back to the pool, before an `await` on
    Prefect. A busy Prefect answers in seconds; a request holding a connection meanwhile,
    times every request in flight, drains the pool, and the next checkout then blocks the
    gateway's event loop itself. Loaded rows stay usable (`expire_on_commit=False`)."""
    db.commit()


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url)
    upgrade(engine)
    return engine, sessions(engine)


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks, from the lock's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def write_transaction(session: Session, lock: str) -> Iterator[Session]:
    """One transaction that holds the write lock `lock` from its first read to its commit.

    What it guards is read-then-write (the next sequence number from the last row), which
    a unique column alone turns into a failure when two processes race. SQLite takes the
    database's writer lock up front (`BEGIN IMMEDIATE`, waiting out the busy timeout);
    PostgreSQL takes a transaction-scoped advisory lock named by `lock`, so only writers
    of the same kind wait for each other. Commits when the block ends, rolls back on any
    error. The caller's own earlier work is committed first: it is not part of the block.
    """
    session.commit()
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # pysqlite opens no transaction before this statement, so ours is the outermost.
        session.execute(text("BEGIN IMMEDIATE"))
    elif dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(lock)})
    else:
        raise RuntimeError(f"the gateway's database must be SQLite or PostgreSQL, not {dialect}")
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
