"""One error shape for every answer that is not a success.

`{"error": {"code": "dispute.not_found", "message": "...", "field": null}}`: the code is
stable (documented per endpoint in docs/api/README.md), the message is for people, the
field names the input that broke a rule. Unexpected exceptions become a 500 with the same
shape and no traceback; the traceback goes to the server log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from dalrn_core.errors import InputError

log = logging.getLogger("dalrn.gateway")

_DEFAULT_CODES = {400: "request.invalid", 401: "auth.unauthorized", 403: "auth.forbidden",
                  404: "route.not_found", 405: "method.not_allowed", 409: "request.conflict",
                  413: "request.too_large", 415: "request.unsupported_media_type",
                  422: "request.invalid", 429: "rate_limited", 500: "internal", 503: "unavailable"}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """Raise anywhere in a request to answer `status` with the error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def api_error(status: int, code: str, message: str, field: str | None = None,
              headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, code, message, field, headers)


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


def responses(*statuses: int) -> dict:
    """OpenAPI `responses=` entries for the error statuses an endpoint can answer."""
    return {s: {"model": ErrorBody, "description": _DEFAULT_CODES.get(s, "error")} for s in statuses}


# Tags of a request body that takes one of several shapes (`POST /v1/disputes`): not a field.
BODY_SHAPES = ("whole dispute", "joint opening")


def _field_of(loc: tuple) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", *BODY_SHAPES)]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        first = exc.problems[0]
        message = "; ".join(str(p) for p in exc.problems)
        return error_response(422, "request.invalid", message, first.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        field = _field_of(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid"))
        code = "request.unknown_field" if first.get("type") == "extra_forbidden" else "request.invalid"
        if message.startswith("Value error, "):  # a model rule names its own field: "game.col_party: ..."
            message = message.removeprefix("Value error, ")
            head, sep, _ = message.partition(": ")
            if sep and " " not in head:
                field = f"{field}.{head}" if field else head
        return error_response(422, code, f"{field or 'request'}: {message}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            return error_response(exc.status_code, detail["code"], str(detail.get("message", "")),
                                  detail.get("field"), getattr(exc, "headers", None))
        code = _DEFAULT_CODES.get(exc.status_code, "request.error")
        return error_response(exc.status_code, code, str(detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        request_id = getattr(request.state, "request_id", None)
        # This handler answers outside the middleware stack, so it sets the request id itself.
        return error_response(500, "internal", f"internal error (request {request_id})",
                              headers={"X-Request-ID": request_id} if request_id else None)


__all__ = ["ApiError", "ErrorBody", "HTTPException", "api_error", "install", "responses"]
