"""The portal's pages and the two JSON doors its scripts use, all over the gateway's own API.

Pages: `/` sign in, `/disputes` the tenant's list (filters), `/disputes/new` file a joint
dispute, `/disputes/{id}` a dispute (live timeline, settlement, memo, receipts, proof,
verification), `/disputes/{id}/join` file one's own side. Scripts read through
`GET /portal/api/v1/...` (the API's answer, status and body as they are) and file through
`POST /portal/api/disputes[/{id}/join]`, which need the session's CSRF token in a header.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from gateway.portal import internal, session
from gateway.portal.session import CSRF_HEADER
from gateway.runs import DisputeStatus

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Raw HTML in a memo stays text: the Markdown renderer escapes it.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
STATUSES = get_args(DisputeStatus)
# Where a transaction of a public chain can be looked at; the embedded chain has no explorer.
EXPLORERS = {1: "https://etherscan.io/tx/", 11155111: "https://sepolia.etherscan.io/tx/",
             80002: "https://amoy.polygonscan.com/tx/", 137: "https://polygonscan.com/tx/"}


class SignedOut(Exception):
    """The session is missing or its token is no longer accepted."""


def _page(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    token = session.session_token(request)
    context.setdefault("csrf", session.csrf_for(token) if token else "")
    context.setdefault("tenant", None)
    answer = templates.TemplateResponse(request, name, context, status_code=http_status)
    answer.headers["Cache-Control"] = "no-store"
    answer.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                 "script-src 'self'; frame-ancestors 'none'; form-action 'self'")
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Referrer-Policy"] = "same-origin"
    return answer


def _to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    answer = RedirectResponse(f"/?next={quote(target)}", status_code=303)
    session.end_session(request, answer)
    return answer


async def _api(request: Request, method: str, path: str, **kwargs: Any) -> internal.Answer:
    token = session.session_token(request)
    if not token:
        raise SignedOut
    answer = await internal.call(request, method, path, token=token, **kwargs)
    if answer.status == 401:
        raise SignedOut
    return answer


def _tenant_of(request: Request) -> str | None:
    """The signed-in tenant, from the token's own claims (already checked by the API call before it)."""
    import jwt

    token = session.session_token(request)
    if not token:
        return None
    try:
        return str(jwt.decode(token, options={"verify_signature": False}).get("tenant") or "") or None
    except jwt.PyJWTError:
        return None


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme) is followed after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/disputes"


# ---- sign in and out ----

@router.get("/", response_class=HTMLResponse)
async def signin_page(request: Request, next: str | None = None) -> Response:
    if session.session_token(request):
        try:
            if (await _api(request, "GET", "/v1/disputes")).ok:
                return RedirectResponse(_safe_next(next), status_code=303)
        except SignedOut:
            pass
    return _signin(request, next=next)


def _signin(request: Request, *, next: str | None, status: int = 200, error: dict[str, Any] | None = None,
            key_id: str = "") -> HTMLResponse:
    binding, new = session.login_binding(request)
    answer = _page(request, "signin.html", status, csrf=session.csrf_for(binding), next=_safe_next(next),
                   error=error or {}, key_id=key_id)
    if new:
        session.set_login_binding(request, answer, binding)
    if session.session_token(request):
        session.end_session(request, answer)
    return answer


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, key_id: Annotated[str, Form()] = "", api_key: Annotated[str, Form()] = "",
                 csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    if not session.csrf_holds(request.cookies.get(session.LOGIN_COOKIE), csrf_token):
        return _signin(request, next=next, status=403, key_id=key_id, error={
            "field": None, "message": "this form expired or came from another site: sign in again from this page"})
    answer = await internal.call(request, "POST", "/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": key_id, "client_secret": api_key})
    if not answer.ok:
        error = dict(answer.error)
        # The token endpoint's field names, as this form calls them (names, not secrets).
        form_field = {"client_id": "key_id", "client_secret": "api_key"}  # nosec B105
        error["field"] = form_field.get(error.get("field") or "", "key_id")
        return _signin(request, next=next, status=answer.status, error=error, key_id=key_id)
    token = answer.body["access_token"]
    if "disputes:read" not in str(answer.body.get("scope", "")).split():
        return _signin(request, next=next, status=403, key_id=key_id, error={
            "field": "key_id", "message": "the portal is for parties: this key's role has no disputes:read scope"})
    done = RedirectResponse(_safe_next(next), status_code=303)
    session.set_session(request, done, token, int(answer.body["expires_in"]))
    return done


@router.post("/signout")
async def signout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not session.csrf_holds(session.session_token(request), csrf_token):
        return JSONResponse({"error": {"code": "csrf.invalid", "message": "missing or wrong CSRF token",
                                       "field": "csrf_token"}}, status_code=403)
    done = RedirectResponse("/", status_code=303)
    session.end_session(request, done)
    return done


# ---- pages ----

def _counterparties(view: dict[str, Any], me: str) -> list[str]:
    names = [view["tenant"], *view.get("parties", [])]
    return sorted({n for n in names if n and n != me})


@router.get("/disputes", response_class=HTMLResponse)
async def disputes_page(request: Request, status: str = "", q: str = "") -> Response:
    try:
        answer = await _api(request, "GET", "/v1/disputes")
    except SignedOut:
        return _to_signin(request)
    me = _tenant_of(request) or ""
    rows = []
    for view in answer.body if answer.ok else []:
        counterparties = _counterparties(view, me)
        text = " ".join([view["dispute_id"], *counterparties]).lower()
        if (status and view["status"] != status) or (q and q.lower() not in text):
            continue
        rows.append({**view, "counterparties": counterparties, "mine": view["tenant"] == me})
    rows.sort(key=lambda v: v["updated_at"], reverse=True)
    return _page(request, "disputes.html", tenant=me, rows=rows, statuses=STATUSES, status=status, q=q,
                 error=answer.error, total=len(answer.body) if answer.ok else 0)


@router.get("/disputes/new", response_class=HTMLResponse)
async def new_dispute_page(request: Request) -> Response:
    if not session.session_token(request):
        return _to_signin(request)
    return _page(request, "file.html", tenant=_tenant_of(request), idempotency_key=uuid.uuid4().hex)


@router.get("/disputes/{dispute_id}", response_class=HTMLResponse)
async def dispute_page(request: Request, dispute_id: str, tenant: str | None = None) -> Response:
    params = {"tenant": tenant} if tenant else None
    path = f"/v1/disputes/{quote(dispute_id, safe='')}"
    try:
        answer = await _api(request, "GET", path, params=params)
    except SignedOut:
        return _to_signin(request)
    me = _tenant_of(request)
    if not answer.ok:
        return _page(request, "missing.html", answer.status, tenant=me, error=answer.error, dispute_id=dispute_id)
    view = answer.body
    join = await _api(request, "GET", f"{path}/join", params={"tenant": view["tenant"]})
    return _page(request, "dispute.html", tenant=me, view=view, counterparties=_counterparties(view, me or ""),
                 join=join.body if join.ok else None, explorers=EXPLORERS)


@router.get("/disputes/{dispute_id}/memo.html", response_class=HTMLResponse)
async def memo_fragment(request: Request, dispute_id: str, tenant: str | None = None) -> Response:
    """The memo rendered for the dispute page (its Mermaid diagram is drawn by the page's script)."""
    try:
        answer = await _api(request, "GET", f"/v1/disputes/{quote(dispute_id, safe='')}/memo",
                            params={"tenant": tenant} if tenant else None)
    except SignedOut:
        return HTMLResponse("", status_code=401)
    if not answer.ok:
        return HTMLResponse("", status_code=answer.status)
    html = _markdown.render(answer.body["memo"])
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/disputes/{dispute_id}/join", response_class=HTMLResponse)
async def join_page(request: Request, dispute_id: str, tenant: str | None = None) -> Response:
    try:
        answer = await _api(request, "GET", f"/v1/disputes/{quote(dispute_id, safe='')}/join",
                            params={"tenant": tenant} if tenant else None)
    except SignedOut:
        return _to_signin(request)
    me = _tenant_of(request)
    if not answer.ok:
        return _page(request, "missing.html", answer.status, tenant=me, error=answer.error, dispute_id=dispute_id)
    shared = answer.body["dispute"]
    own = next((p for p in shared["parties"] if p.get("tenant") == me), None)
    return _page(request, "join.html", tenant=me, join=answer.body, shared=shared, own=own)


# ---- the scripts' doors ----

def _json_answer(answer: internal.Answer) -> Response:
    return Response(answer.raw, status_code=answer.status, media_type=answer.content_type or "application/json",
                    headers={"Cache-Control": "no-store"})


def _signed_out_json() -> JSONResponse:
    return JSONResponse({"error": {"code": "auth.missing_token", "message": "sign in again: the session ended",
                                   "field": None}}, status_code=401)


@router.get("/portal/api/v1/disputes/{rest:path}")
async def read_api(request: Request, rest: str) -> Response:
    """A dispute read as the signed-in tenant (GET only: the status, join, memo, receipts)."""
    if any(part in ("", ".", "..") for part in rest.split("/")):  # nothing outside /v1/disputes/
        return JSONResponse({"error": {"code": "route.not_found", "message": "no such dispute read", "field": None}},
                            status_code=404)
    try:
        answer = await _api(request, "GET", f"/v1/disputes/{rest}", params=dict(request.query_params))
    except SignedOut:
        return _signed_out_json()
    return _json_answer(answer)


async def _write(request: Request, path: str) -> Response:
    if not session.csrf_holds(session.session_token(request), request.headers.get(CSRF_HEADER)):
        return JSONResponse({"error": {"code": "csrf.invalid", "message": f"missing or wrong {CSRF_HEADER} header",
                                       "field": None}}, status_code=403)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": {"code": "request.invalid_json", "message": "body is not valid JSON",
                                       "field": "body"}}, status_code=422)
    headers = {}
    if request.headers.get("Idempotency-Key"):
        headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
    try:
        answer = await _api(request, "POST", path, json=body, params=dict(request.query_params), headers=headers)
    except SignedOut:
        return _signed_out_json()
    return _json_answer(answer)


@router.post("/portal/api/disputes")
async def file_dispute(request: Request) -> Response:
    return await _write(request, "/v1/disputes")


@router.post("/portal/api/disputes/{dispute_id}/join")
async def join_dispute(request: Request, dispute_id: str) -> Response:
    return await _write(request, f"/v1/disputes/{quote(dispute_id, safe='')}/join")
