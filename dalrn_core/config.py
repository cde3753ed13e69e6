"""Where DALRN keeps its state: one project data folder, never the user's home.

`DALRN_HOME` chooses it; by default it is `.dalrn` in the current directory, so a fresh
checkout runs with zero configuration and a later command in the same folder sees what an
earlier one stored.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The project data folder, created on first use."""
    # Read directly, not through dalrn_core.settings (whose field `home` documents it): this
    # is the bootstrap `dalrn_cli.environment.configure()` calls before Prefect is imported,
    # and every sub_dir() call lands here, so it stays a plain lookup with no dependency.
    root = Path(os.environ.get("DALRN_HOME") or Path.cwd() / ".dalrn").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def sub_dir(*parts: str) -> Path:
    """A folder inside the data folder (created)."""
    path = data_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
