"""Request guards that run before routing: a request id, the body size limit, JSON depth.

The body is read once here (bounded by the limit) and replayed to the app, so a client
that lies in Content-Length or streams without one still meets the limit. JSON nested
deeper than the limit is refused before any parser recurses into it.
"""

from __future__ import annotations

import json
import time
import uuid

from gateway.errors import error_response


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than `limit` (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class Guard:
    def __init__(self, app, body_limit: int, max_depth: int, path_limits: dict[str, int] | None = None) -> None:
        self.app, self.body_limit, self.max_depth = app, body_limit, max_depth
        self.path_limits = path_limits or {}  # exact paths whose bodies may be larger (raw uploads)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        async def refuse(status: int, code: str, message: str, field: str | None = None):
            await error_response(status, code, message, field)(scope, receive, send_with_id)

        limit = self.path_limits.get(scope.get("path", ""), self.body_limit)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return await refuse(413, "request.too_large", f"body over {limit} bytes")
            except ValueError:
                return await refuse(400, "request.invalid", "Content-Length is not a number")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                return await refuse(413, "request.too_large", f"body over {limit} bytes")
            chunks.append(body)
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and json_depth_exceeds(raw, self.max_depth):
            return await refuse(422, "request.too_deep", f"JSON nested deeper than {self.max_depth} levels", "body")
        if raw and b"json" in headers.get(b"content-type", b""):
            try:
                json.loads(raw)
            except (ValueError, RecursionError):
                return await refuse(422, "request.invalid_json", "body is not valid JSON", "body")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_id)


_AUTH_STATUSES = (401, 403)


def _route_template(scope) -> str:
    """The matched route's template (`/v1/disputes/{dispute_id}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def _error_code(body: bytes) -> str:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return code if isinstance(code, str) and len(code) <= 64 else "unknown"


class RequestMetrics:
    """Counts and times every request by route template, method and status (Prometheus).

    An error answer's code (`{"error": {"code": ...}}`) is read from its small JSON body, so
    rejected inputs, authentication failures and rate-limit hits are counted by the same
    codes the API documents.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from dalrn_core.observability import metrics

        started, status, error_body = time.perf_counter(), 500, bytearray()

        async def observe(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and 400 <= status < 500 and len(error_body) < 4096:
                error_body.extend(message.get("body", b""))
            await send(message)

        metrics.HTTP_REQUESTS_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, observe)
        finally:
            metrics.HTTP_REQUESTS_IN_PROGRESS.dec()
            route, method = _route_template(scope), scope.get("method", "GET")
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_REQUEST_DURATION.labels(route, method).observe(time.perf_counter() - started)
            if 400 <= status < 500:
                code = _error_code(bytes(error_body))
                metrics.REJECTED_INPUTS.labels(code).inc()
                if status == 429:
                    metrics.RATE_LIMITED.labels(route).inc()
                elif status in _AUTH_STATUSES:
                    metrics.AUTH_FAILURES.labels(code).inc()
