"""More requests at once than the database pool has connections: none stalls, none fails.

The app is the gateway's own engine (`make_engine`, real SQLite in a file) and middleware
(`Admission` at `ADMITTED`), with one route that holds its session's connection across an
await, as a request waiting on Prefect would without `release_connection`. Without the
door, the pool's 21st checkout blocks the event loop that the 20 holders need to finish,
and after the pool's 30 s timeout the requests fail.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from gateway.admission import Admission
from gateway.db import ADMITTED, POOL_OVERFLOW, POOL_SIZE, make_engine, sessions


def _app(url: str) -> tuple[FastAPI, dict]:
    engine = make_engine(url)
    opened = sessions(engine)
    seen = {"most_checked_out": 0}
    app = FastAPI()

    @app.get("/hold")
    async def hold() -> dict:
        with opened() as db:
            db.execute(text("SELECT 1"))  # the connection is this request's until the session ends
            seen["most_checked_out"] = max(seen["most_checked_out"], engine.pool.checkedout())
            await asyncio.sleep(0.05)
        return {"ok": True}

    app.add_middleware(Admission, limit=ADMITTED)
    return app, seen


def test_three_times_the_pool_in_flight_all_answer_and_never_drain_it(tmp_path):
    app, seen = _app(f"sqlite:///{tmp_path / 'gateway.db'}")
    capacity = POOL_SIZE + POOL_OVERFLOW

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60) as client:
            answers = await asyncio.gather(*(client.get("/hold") for _ in range(3 * capacity)))
        return [a.status_code for a in answers]

    answers: list[int] = []
    # In a thread of its own: a stalled loop blocks in the pool, out of any timeout's reach.
    runner = threading.Thread(target=lambda: answers.extend(asyncio.run(burst())), daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "the requests stalled on an empty pool"
    assert answers == [200] * (3 * capacity)
    assert seen["most_checked_out"] <= ADMITTED < capacity


def test_exempt_paths_pass_a_full_door():
    entered = asyncio.Event()
    release = asyncio.Event()

    async def inner(scope, receive, send):
        if scope["path"] == "/slow":
            entered.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    door = Admission(inner, limit=1)

    async def scenario() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            slow = asyncio.create_task(client.get("/slow"))
            await entered.wait()
            inside = door.inside()
            metrics = await asyncio.wait_for(client.get("/metrics"), 5)  # not behind the slow one
            release.set()
            await slow
        return inside, metrics.status_code

    assert asyncio.run(scenario()) == (1, 200)


def test_a_request_stepped_out_lets_another_in_and_takes_its_slot_again():
    from gateway.admission import stepped_out

    outside, back = asyncio.Event(), asyncio.Event()
    seen: dict[str, int] = {}

    async def inner(scope, receive, send):
        if scope["path"] == "/long-poll":
            async with stepped_out(scope):
                outside.set()
                await back.wait()
            seen["inside_after"] = door.inside()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    door = Admission(inner, limit=1)

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            waiting = asyncio.create_task(client.get("/long-poll"))
            await outside.wait()
            seen["inside_while_out"] = door.inside()
            other = await asyncio.wait_for(client.get("/other"), 5)  # the one slot is free meanwhile
            back.set()
            answer = await waiting
        return [other.status_code, answer.status_code, door.inside()]

    assert asyncio.run(scenario()) == [200, 200, 0]
    assert seen == {"inside_while_out": 0, "inside_after": 1}
