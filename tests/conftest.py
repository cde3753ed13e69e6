"""Test-wide settings: every test session gets its own data folder and key folder, and
Prefect keeps its state there, never in the user's home."""

from __future__ import annotations

import os
import tempfile

_ROOT = tempfile.mkdtemp(prefix="dalrn-tests-")
os.environ["DALRN_HOME"] = os.path.join(_ROOT, "home")
os.environ["DALRN_KEYS_DIR"] = os.path.join(_ROOT, "keys")

from dalrn_cli.environment import configure  # noqa: E402  (needs the folders above)

configure()
