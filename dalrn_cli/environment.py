"""Process settings that must be in place before Prefect is imported.

Prefect reads its settings from the environment at import, so the CLI, the tests and the
served deployments call `configure()` first: Prefect's state (SQLite database, results)
goes into the project data folder, never the user's home, and nothing calls home.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from dalrn_core.config import data_dir


def configure(*, quiet: bool = False) -> None:
    data = data_dir()
    defaults = {
        "PREFECT_HOME": str(data / "prefect"),
        "PREFECT_LOCAL_STORAGE_PATH": str(data / "prefect" / "storage"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # A first start migrates a new SQLite database; on a busy 2-core machine that can
        # take longer than Prefect's 20 s default.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    if quiet:
        defaults["PREFECT_LOGGING_LEVEL"] = "WARNING"
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """This process's environment with `values` set, as it was again afterwards (a variable
    that was unset is unset again): for what starts child processes with its own folders."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
