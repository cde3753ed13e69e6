"""`python -m gateway.openapi [PATH]`: write the gateway's OpenAPI document (sorted, stable)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"


def document() -> dict:
    """The schema of an app over a throwaway database (the schema does not depend on data)."""
    from gateway.app import create_app
    from gateway.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(database_url=f"sqlite:///{folder}/schema.db"), runs=object(), warm_up=False)
        schema = app.openapi()
        app.state.engine.dispose()
    return schema


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def write(path: str | Path | None = None) -> Path:
    target = Path(path) if path else DEFAULT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    return target


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else None))
