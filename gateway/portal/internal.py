"""The portal's calls into the gateway's own API, in process, as the signed-in tenant.

The request runs through the whole application (middleware, authentication, scopes, rate
limit, audit) exactly as a call from the tenant's SDK would, so the portal can never show
more than the API grants, and an API refusal reaches the page with its own code, message
and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

# The in-process transport needs a base URL; nothing is resolved or reached by this name.
_BASE = "http://gateway.internal"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    content_type: str
    raw: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> dict[str, Any]:
        """The API's `{"code", "message", "field"}` of a refusal (empty for a success)."""
        if self.ok or not isinstance(self.body, dict):
            return {}
        return self.body.get("error") or {}


async def call(request: Request, method: str, path: str, *, token: str | None = None, json: Any = None,
               data: dict[str, str] | None = None, params: dict[str, str] | None = None,
               headers: dict[str, str] | None = None) -> Answer:
    """`method path` on this gateway's API as the holder of `token` (none: anonymous)."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        sent["X-Request-ID"] = request_id
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=_BASE) as client:
        answer = await client.request(method, path, json=json, data=data, params=params, headers=sent)
    kind = answer.headers.get("content-type", "")
    body: Any = None
    if "json" in kind:
        try:
            body = answer.json()
        except ValueError:
            body = None
    return Answer(answer.status_code, body, kind, answer.content)
