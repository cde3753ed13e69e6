"""The parties' portal: pages served by the gateway at its root (`/` is the sign-in page).

Every page reads and writes through the gateway's own API, called in process with the
signed-in tenant's access token (`gateway.portal.internal`), so a page shows exactly what
the API would answer that tenant and its refusals are the API's own errors. The token sits
in an HttpOnly, SameSite=Strict cookie (Secure over TLS) for its short life; every form
carries a CSRF token bound to that session (`gateway.portal.session`).

The browser code (`portal/src`, bundled into `static/portal.js`) checks each receipt's
Ed25519 signature, the hash chain, the Merkle proof and the anchored root itself, from the
public proof endpoint, so a party need not take the server's word for it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the portal's pages and static files on `app` (outside the API's schema)."""
    from gateway.portal.routes import router

    app.include_router(router)
    app.mount("/portal/static", StaticFiles(directory=STATIC), name="portal-static")
