"""The provisioned Grafana dashboards: what the builder makes, valid PromQL, exported metrics only."""

import json
import shutil
import subprocess

import pytest
import yaml

from dalrn_core.observability.metrics import metric_names
from deployments.grafana.build import (
    BOARDS,
    DASHBOARDS,
    DATASOURCE,
    HERE,
    main,
    panel_queries,
    render,
)
from deployments.promql import metric_names as names_in

SCRAPE_SERIES = {"up"}


def committed() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARDS.glob("*.json")}


def test_committed_json_is_what_the_builder_makes():
    assert set(committed()) == set(BOARDS)
    for name in BOARDS:
        assert (DASHBOARDS / f"{name}.json").read_text() == render(name), "run python -m deployments.grafana.build"
    assert main(["--check"]) == 0


def test_every_panel_query_uses_exported_metrics():
    exported = set(metric_names()) | SCRAPE_SERIES
    count = 0
    for name, board in committed().items():
        for title, expr in panel_queries(board):
            read = names_in(expr)
            assert read, f"{name}: {title}: no metric in {expr}"
            assert read <= exported, f"{name}: {title} reads {sorted(read - exported)}, which DALRN does not export"
            count += 1
    assert count >= 40


def test_the_check_would_catch_a_renamed_metric():
    board = committed()["business"]
    _title, expr = panel_queries(board)[0]
    renamed = expr.replace("dalrn_disputes_accepted_total", "dalrn_dispute_accepted_total")
    assert names_in(renamed) - set(metric_names()) == {"dalrn_dispute_accepted_total"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (make servers installs it)")
def test_every_panel_query_parses_as_promql(tmp_path):
    """promtool parses each query as a recording rule (Grafana's $__rate_interval as 5m)."""
    rules = [{"record": f"dalrn_panel:{name.replace('-', '_')}:{index}",
              "expr": expr.replace("$__rate_interval", "5m")}
             for name, board in committed().items() for index, (_, expr) in enumerate(panel_queries(board))]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], check=False, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_boards_are_provisioned_from_one_datasource():
    source = yaml.safe_load((HERE / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (prometheus,) = source["datasources"]
    assert (prometheus["uid"], prometheus["type"]) == (DATASOURCE.uid, "prometheus")
    uids = set()
    for board in committed().values():
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE.uid}
                assert all(t["refId"] for t in panel["targets"])
    assert len(uids) == len(BOARDS)
    provider = yaml.safe_load((HERE / "provisioning" / "dashboards" / "dalrn.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/dalrn"
