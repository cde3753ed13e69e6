"""Turning submitted bytes or JSON into a validated `Dispute`, or a clear `InputError`.

Pydantic's errors are rewritten as `field: rule` lines with the field as a dotted path
(`game.row_payoffs[1][0]`), so a person can find the mistake without reading a traceback.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dalrn_core.dispute.model import Dispute
from dalrn_core.errors import InputError, Problem

MAX_DISPUTE_BYTES = 2_000_000
_FIELD_PREFIX = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])*)*): (.*)$")


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after[_consistent(), Dispute]",):
            out += ("." if out else "") + str(part)
    return out or "dispute"


def _problems(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = item["msg"].removeprefix("Value error, ")
        field = _path(loc)
        match = _FIELD_PREFIX.match(message)
        if match:
            # A model-level rule names its own field inside the message.
            inner, message = match.groups()
            field = inner if field == "dispute" else f"{field}.{inner}"
        problems.append(Problem(field, message))
    return problems


def parse_dispute(data: bytes | str | dict[str, Any], *, now: datetime | None = None) -> Dispute:
    """Validate a dispute from JSON bytes/text or a dict; raise InputError naming each field."""
    if isinstance(data, (bytes, str)):
        if len(data) > MAX_DISPUTE_BYTES:
            raise InputError.one("dispute", f"too large: {len(data)} bytes, at most {MAX_DISPUTE_BYTES}", subject="dispute")
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError.one("dispute", f"not valid JSON ({exc})", subject="dispute") from None
    if not isinstance(data, dict):
        raise InputError.one("dispute", "must be a JSON object", subject="dispute")
    try:
        dispute = Dispute.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems(exc), subject="dispute") from None
    if dispute.is_past_deadline(now or datetime.now(UTC)):
        raise InputError.one("deadline", f"{dispute.deadline.isoformat()} has passed", subject="dispute")
    return dispute


def load_dispute_file(path: str | Path) -> Dispute:
    """Read and validate a dispute file; a missing or unreadable file is an InputError too."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError.one("file", f"cannot read {path}: {exc.strerror}", subject="dispute") from None
    return parse_dispute(raw)
