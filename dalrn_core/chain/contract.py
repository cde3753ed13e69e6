"""The compiled AnchorReceipts contract (ABI and bytecode committed beside this module)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@cache
def artifact(name: str = "AnchorReceipts") -> dict[str, Any]:
    """The build artifact `{abi, bytecode, deployedBytecode, compiler}` of a contract."""
    loaded: dict[str, Any] = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return loaded
