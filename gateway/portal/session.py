"""The portal's session: a cookie holding the tenant's short-lived access token, and CSRF.

The cookie is the access token the token endpoint issued (its own lifetime, 15 minutes by
default): HttpOnly so page scripts never read it, SameSite=Strict so no other site's page
sends it, Secure whenever the portal is reached over TLS. A form's CSRF token is an HMAC of
the session it belongs to under a key kept in the keys folder: a page from another origin
can neither read it nor make one, and it dies with the session. Before sign-in, the
sign-in form is bound the same way to a random pre-session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from dalrn_core.keys import load_or_create

SESSION_COOKIE = "dalrn_portal_session"
LOGIN_COOKIE = "dalrn_portal_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_KEY_FILE = "portal-csrf.key"


def _key() -> bytes:
    return load_or_create(_KEY_FILE, lambda: secrets.token_bytes(32))


def csrf_for(binding: str) -> str:
    """The CSRF token of the session (or pre-session) value `binding`."""
    return hmac.new(_key(), f"dalrn-portal-csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_holds(binding: str | None, offered: str | None) -> bool:
    return bool(binding) and bool(offered) and hmac.compare_digest(csrf_for(binding or ""), offered or "")


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, secure=_secure(request),
                        samesite="strict", path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/")


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=_secure(request), samesite="strict")


def login_binding(request: Request) -> tuple[str, bool]:
    """The pre-session value the sign-in form is bound to, and whether it is new (to be set)."""
    seen = request.cookies.get(LOGIN_COOKIE)
    return (seen, False) if seen else (secrets.token_urlsafe(24), True)


def set_login_binding(request: Request, response: Response, value: str) -> None:
    response.set_cookie(LOGIN_COOKIE, value, max_age=3600, httponly=True, secure=_secure(request),
                        samesite="strict", path="/")
