"""The compiled AnchorReceipts contract (ABI and bytecode committed beside this module)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@cache
def artifact(name: str = "AnchorReceipts") -> dict:
    """The build artifact `{abi, bytecode, deployedBytecode, compiler}` of a contract."""
    return json.loads((ARTIFACTS / f"{name}.json").read_text())
