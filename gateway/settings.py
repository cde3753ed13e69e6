"""Gateway settings, read from the environment (`DALRN_GATEWAY_*`, `DALRN_HOME`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dalrn_core.config import data_dir


def _default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'gateway.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DALRN_GATEWAY_", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url,
                              description="SQLAlchemy URL of the identity database")
    issuer: str = "urn:dalrn:gateway"
    audience: str = "urn:dalrn:api"
    token_ttl_s: int = Field(default=900, ge=60, le=3600)
    body_limit_bytes: int = Field(default=256 * 1024, ge=1024)
    # POST /v1/content carries a tenant's CKKS public context (about 35 MB with its rotation keys).
    content_limit_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    json_max_depth: int = Field(default=32, ge=4)
    # `limits` rate strings, per API key (token endpoint: per client id).
    rate_limit: str = "120/minute"
    token_rate_limit: str = "20/minute"
    rate_limit_storage: str = "memory://"
    # An append queues the audit head for the next receipt batch once it is this many entries
    # or seconds past the head queued last (`dalrn audit anchor` queues it at once).
    audit_anchor_every_entries: int = Field(default=100, ge=1)
    audit_anchor_every_s: float = Field(default=60.0, gt=0)
    # How often joint disputes past their deadline are ended (and failed run starts retried).
    join_reconcile_s: float = Field(default=30.0, ge=1.0)
    key_ttl_days: int = Field(default=365, ge=1)
    rotate_overlap_h: float = Field(default=24.0, ge=0)
