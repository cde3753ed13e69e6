"""Roles and the scopes each one grants; every endpoint declares the scope it needs."""

from __future__ import annotations

DISPUTES_WRITE = "disputes:write"
DISPUTES_READ = "disputes:read"
REVEAL_WRITE = "reveal:write"
RECEIPTS_READ = "receipts:read"
AUDIT_READ = "audit:read"
OPS_READ = "ops:read"
ADMIN = "admin"

ROLES: dict[str, frozenset[str]] = {
    # A party reads its disputes' content (memo, settlement) and answers its reveals.
    "party": frozenset({DISPUTES_WRITE, DISPUTES_READ, REVEAL_WRITE, RECEIPTS_READ}),
    # An auditor sees receipts and the audit log of granted tenants, never content.
    "auditor": frozenset({RECEIPTS_READ, AUDIT_READ}),
    # An operator sees run metadata only.
    "operator": frozenset({OPS_READ}),
    "admin": frozenset({ADMIN, AUDIT_READ}),
}


def scopes_of(role: str) -> frozenset[str]:
    return ROLES[role]
