"""Reading a JSON object a person handed the CLI, refused with the field and rule when it is not one.

Every command that takes a JSON file (a dispute to submit, a game to negotiate, a side to
file) reads it here, so a missing file, text that is not UTF-8, broken JSON and a JSON
value that is not an object each get the same clear `InputError` naming the argument,
never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dalrn_core.errors import InputError


def read_json_object(path: str | Path, what: str, *, field: str = "file") -> dict[str, Any]:
    """The JSON object in `path` (`what` says what it should be, for the message)."""
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError.one(field, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError.one(field, f"{path} is not UTF-8 text (expected JSON: {what})") from None
    except json.JSONDecodeError as exc:
        raise InputError.one(field, f"{path} is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InputError.one(field, f"{path} must hold a JSON object ({what})")
    return body
