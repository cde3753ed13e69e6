"""DALRN's process settings, one model read from the environment (`DALRN_*`).

Every option a DALRN process reads from its environment is a field here, with its
variable, default and meaning; `docs/deployment/configuration.md` is rendered from these
models (`python -m deployments.settings_doc`), so the page and the code cannot drift.
The gateway's own options (`DALRN_GATEWAY_*`) are in `gateway.settings.Settings`.

A module that needs one option (the queue URL, the key folder, the solver's start method,
...) reads it with `setting(name)`: that field's rule only, so an unrelated bad variable
does not break it, and a read costs a lookup instead of building the whole model. The one
deliberate exception is the data folder (`dalrn_core.config.data_dir`, `DALRN_HOME`):
it is read before Prefect is imported and is documented here as `home`.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from dalrn_core.errors import InputError, Problem

ENV_PREFIX = "DALRN_"


class DalrnSettings(BaseSettings):
    """Options of every DALRN process: server, workers, flows and the `dalrn` CLI."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    home: Path | None = Field(
        default=None, description="Data folder of the server side (Prefect's database and results, content "
                                  "store, ledgers, gateway database). Unset: `.dalrn` in the current directory.")
    keys_dir: Path | None = Field(
        default=None, description="Folder of the server's keys (receipt signing, anchorer, JWT). Unset: "
                                  "`$XDG_CONFIG_HOME/dalrn/keys`, else `~/.config/dalrn/keys`.")
    tenant_home: Path | None = Field(
        default=None, description="The tenant's own folder (its FHE and sealing keys, side files), for the "
                                  "`dalrn` CLI acting for a firm. Unset: `.dalrn-tenant` in the current directory.")
    content_store: Literal["local", "ipfs"] = Field(
        default="local", description="Where evidence, receipts and memos are stored by CID: `local` (a folder "
                                     "in the data folder) or `ipfs` (a kubo node's RPC API).")
    content_store_path: Path | None = Field(
        default=None, description="Folder of the `local` content store. Unset: `content` in the data folder.")
    ipfs_api_url: str = Field(
        default="http://127.0.0.1:5001", description="kubo RPC API used when `DALRN_CONTENT_STORE=ipfs`.")
    ipfs_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one kubo RPC request, in seconds.")
    content_store_block: str | None = Field(
        default=None, description="Name of a saved `DALRN Evidence Store` Prefect block to use instead of "
                                  "the three options above.")
    chain_block: str | None = Field(
        default=None, description="Name of a saved `DALRN Anchor Chain` Prefect block that anchors receipt roots "
                                  "when a flow is given none. Unset: the embedded in-process EVM.")
    queue_url: str | None = Field(
        default=None, description="Redis URL (`redis://HOST:PORT/DB`) of the durable dispute queue shared by the "
                                  "gateway and the dispute workers. Unset: the in-process queue of one server.")
    sepolia_rpc_url: SecretStr | None = Field(
        default=None, description="JSON-RPC URL of Sepolia, read by an AnchorChain block with "
                                  "`network: sepolia` (it usually holds the provider's API key).")
    amoy_rpc_url: SecretStr | None = Field(
        default=None, description="JSON-RPC URL of Polygon Amoy, read by an AnchorChain block with "
                                  "`network: polygon-amoy`.")
    embeddings_dir: Path | None = Field(
        default=None, description="Shared embedding cache folder (one sub-folder per model). Unset: "
                                  "`embeddings` in the data folder.")
    ckks_plaintext_cache_mb: int = Field(
        default=256, ge=0, description="Memory for encoded precedent vectors kept between encrypted searches, "
                                       "in MiB.")
    solver_start_method: Literal["fork", "forkserver", "spawn"] | None = Field(
        default=None, description="multiprocessing start method of the time-limited equilibrium solver. Unset: "
                                  "`fork` where the platform has it, else `spawn`.")
    api_url: str | None = Field(
        default=None, description="Gateway base URL used by `dalrn submit`, `dalrn status` and the other "
                                  "API commands when `--api` is not given.")
    api_key: SecretStr | None = Field(
        default=None, description="The firm's API key, `KEY_ID:SECRET` from `dalrn admin tenant create`, used by "
                                  "the CLI's API commands.")
    debug: str = Field(
        default="", description="Any non-empty value: the CLI shows the full traceback of an unexpected "
                                "error instead of a one-line message.")
    postgres_bin: Path = Field(
        default=Path("/usr/lib/postgresql/15/bin"),
        description="Folder of PostgreSQL's server programs (`initdb`, `pg_ctl`) for the local stack.")


_read: dict[tuple[tuple[str, str], ...], DalrnSettings] = {}


def settings() -> DalrnSettings:
    """The settings as the environment gives them now (tests and commands change it).

    Parsed again only when a `DALRN_*` variable changed: parsing costs about 1.5 ms, and a
    dispute's tasks ask dozens of times. A value that breaks a field's rule is an
    InputError naming the environment variable.
    """
    seen = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)))
    known = _read.get(seen)
    if known is not None:
        return known.model_copy()  # a caller's change to its copy stays its own
    try:
        parsed = DalrnSettings()
    except ValidationError as exc:
        raise InputError([Problem(ENV_PREFIX + str(error["loc"][0]).upper(), error["msg"])
                          for error in exc.errors()], subject="environment") from None
    if len(_read) > 64:  # a long test session sets many environments; keep the latest few
        _read.clear()
    _read[seen] = parsed
    return parsed.model_copy()


@cache
def _adapter(field: str) -> TypeAdapter[Any]:
    info = DalrnSettings.model_fields[field]
    checked: Any = Annotated[info.annotation, info]  # the field's type with its rules (ge, Literal, ...)
    return TypeAdapter(checked)


def env_variable(field: str) -> str:
    """The environment variable of a field of DalrnSettings (`queue_url` -> `DALRN_QUEUE_URL`)."""
    if field not in DalrnSettings.model_fields:
        raise KeyError(f"DalrnSettings has no field {field!r}")
    return (ENV_PREFIX + field).upper()


def field_of(variable: str) -> str:
    """The field of DalrnSettings that `variable` sets (`DALRN_SEPOLIA_RPC_URL` -> `sepolia_rpc_url`)."""
    field = variable.removeprefix(ENV_PREFIX).lower()
    if not variable.startswith(ENV_PREFIX) or field not in DalrnSettings.model_fields:
        raise KeyError(f"{variable} is not an option of DalrnSettings")
    return field


def setting(field: str) -> Any:
    """One option as the environment gives it now, checked by that field's rule only.

    An unset or empty variable is the field's default; a value that breaks its rule is an
    InputError naming the variable.
    """
    variable = env_variable(field)
    raw = os.environ.get(variable, "")
    if not raw:
        return DalrnSettings.model_fields[field].get_default(call_default_factory=True)
    try:
        return _adapter(field).validate_python(raw)
    except ValidationError as exc:
        raise InputError([Problem(variable, error["msg"]) for error in exc.errors()],
                         subject="environment") from None
