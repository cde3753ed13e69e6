"""Gateway settings, read from the environment (`DALRN_GATEWAY_*`, `DALRN_HOME`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dalrn_core.config import data_dir


def _default_database_url() -> str:
    """`sqlite:///` + `gateway.db` in the data folder."""
    return f"sqlite:///{data_dir() / 'gateway.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DALRN_GATEWAY_", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url,
                              description="SQLAlchemy URL of the gateway's database (identity, audit log, idempotency): SQLite or `postgresql+psycopg://...`")
    issuer: str = Field(default="urn:dalrn:gateway", description="`iss` of the access tokens the gateway signs")
    audience: str = Field(default="urn:dalrn:api", description="`aud` the gateway requires in access tokens")
    token_ttl_s: int = Field(default=900, ge=60, le=3600, description="Lifetime of an access token, in seconds")
    body_limit_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest request body, in bytes")
    # POST /v1/content carries a tenant's CKKS public context (about 35 MB with its rotation keys).
    content_limit_bytes: int = Field(default=64 * 1024 * 1024, ge=1024,
                                     description="Largest body of POST /v1/content, in bytes")
    json_max_depth: int = Field(default=32, ge=4, description="Deepest nesting accepted in a JSON body")
    # `limits` rate strings, per API key (token endpoint: per client id).
    rate_limit: str = Field(default="120/minute", description="Requests allowed per API key (a `limits` rate)")
    token_rate_limit: str = Field(default="20/minute", description="Token requests allowed per client id")
    rate_limit_storage: str = Field(default="memory://", description="`limits` storage URL of the rate counters: `memory://` (one process) or `redis://HOST:PORT` (shared by every gateway replica)")
    # An append queues the audit head for the next receipt batch once it is this many entries
    # or seconds past the head queued last (`dalrn audit anchor` queues it at once).
    audit_anchor_every_entries: int = Field(default=100, ge=1, description="Audit entries after which the audit head is queued for anchoring")
    audit_anchor_every_s: float = Field(default=60.0, gt=0, description="Seconds after which the audit head is queued for anchoring")
    # How often joint disputes past their deadline are ended (and failed run starts retried).
    join_reconcile_s: float = Field(default=30.0, ge=1.0, description="Seconds between passes that end lapsed joint disputes and retry failed run starts")
    key_ttl_days: int = Field(default=365, ge=1, description="Lifetime of a new API key, in days")
    rotate_overlap_h: float = Field(default=24.0, ge=0, description="Hours the old API key stays valid after "
                                    "`dalrn admin key rotate` without `--overlap-hours`")
    tls_certificate_files: list[str] = Field(
        default=[], description="PEM certificates (a JSON list of paths) whose expiry the gateway "
        "exports as `dalrn_certificate_expiry_timestamp_seconds` (those of the TLS proxy in front of it)")
