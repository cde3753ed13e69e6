"""`make demo` ends by saying where to watch disputes: the URLs `dalrn serve` really serves."""

from __future__ import annotations

import re

from dalrn_cli.main import build_parser
from dalrn_cli.serve import where_to_look


def test_the_demo_names_the_prefect_ui_and_portal_on_the_ports_dalrn_serve_uses() -> None:
    serve = build_parser().parse_args(["serve"])
    urls = re.findall(r"http://[\w.:]+/?", "\n".join(where_to_look()))
    assert urls == [f"http://127.0.0.1:{serve.prefect_port}", f"http://127.0.0.1:{serve.port}/"]
    # the same ports dalrn serve prints its Prefect UI and Portal lines with
    assert (serve.port, serve.prefect_port) == (8000, 4200)
