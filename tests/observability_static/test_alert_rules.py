"""Prometheus' configuration and DALRN's alert rules, checked with Debian's promtool.

promtool checks the syntax and runs the rule unit tests (alerts_test.yml); these tests add
what promtool cannot know: every metric a rule reads is one DALRN exports, every alert has a
unit test that makes it fire, and a runbook at the path its `runbook_url` names.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dalrn_core.observability.metrics import families, metric_names
from deployments.promql import metric_names as names_in

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deployments" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")
RUNBOOKS = ROOT / "docs" / "deployment" / "runbooks"
# Series Prometheus makes itself for every target: not exported by DALRN, always there.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool not installed (make servers installs it)")


def alert_rules() -> list[dict]:
    return [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], check=False, capture_output=True, text=True, timeout=60, cwd=UNIT_TESTS.parent)


@needs_promtool
def test_rules_and_config_pass_promtool_check():
    checked = _promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = _promtool("check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


@needs_promtool
def test_alert_unit_tests_pass():
    result = _promtool("test", "rules", UNIT_TESTS.name)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


@needs_promtool
def test_unit_tests_catch_a_broken_threshold(tmp_path):
    """Control: the same unit tests fail against rules whose error-rate threshold was raised."""
    rules = (PROMETHEUS / "rules" / "dalrn-alerts.yml").read_text()
    assert "> 0.05" in rules
    broken = tmp_path / "dalrn-alerts.yml"
    broken.write_text(rules.replace("> 0.05", "> 0.5", 1))
    tests = yaml.safe_load(UNIT_TESTS.read_text())
    tests["rule_files"] = [str(broken)]
    copy = tmp_path / "alerts_test.yml"
    copy.write_text(yaml.safe_dump(tests))
    result = subprocess.run([promtool, "test", "rules", str(copy)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DalrnHighErrorRate" in result.stdout + result.stderr


def test_every_rule_reads_exported_metrics_only():
    exported = set(metric_names()) | SCRAPE_SERIES
    for rule in alert_rules():
        read = names_in(rule["expr"])
        assert read, rule["alert"]
        assert read <= exported, f"{rule['alert']} reads {sorted(read - exported)}, which DALRN does not export"


def test_metric_check_catches_an_unknown_name():
    exported = set(metric_names())
    assert "dalrn_http_requests_total" in exported
    assert names_in('sum(rate(dalrn_http_request_total{status="500"}[5m]))') - exported == {"dalrn_http_request_total"}


def test_every_alert_has_a_runbook_and_a_firing_unit_test():
    tested = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    firing = {case["alertname"] for test in tested for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)) >= 9
    for name in names:
        assert name in firing, f"no unit test makes {name} fire"
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/deployment/runbooks/{rule['alert']}.md"
        page = ROOT / url
        assert page.exists(), f"{url} is missing"
        assert page.read_text().startswith(f"# {rule['alert']}\n")
        assert rule["labels"]["severity"] in {"page", "ticket"}
    assert {p.stem for p in RUNBOOKS.glob("*.md")} == set(names), "a runbook without its alert"


def test_runbooks_name_exported_metrics_only():
    exported = set(metric_names()) | {family.name for family in families()}
    for page in RUNBOOKS.glob("*.md"):
        named = set(re.findall(r"\bdalrn_[a-z0-9_]+", page.read_text()))
        assert named <= exported, f"{page.name} names {sorted(named - exported)}"


@pytest.mark.parametrize(("alert", "panel_title", "rate_of"), [
    ("DalrnErrorBudgetBurn", "Error budget burn rate", "burn_rate"),
    ("DalrnDisputeErrorBudgetBurn", "Dispute error budget burn rate", "dispute_burn_rate"),
])
def test_burn_rate_alert_reads_the_slo_panels_expressions(alert, panel_title, rate_of):
    """A burn-rate alert's burn rates are, window for window, the Grafana SLO burn panel's."""
    from deployments.grafana import build

    burn_rate = getattr(build, rate_of)
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == alert]
    expr = " ".join(rule["expr"].split())
    windows = set(re.findall(r"\[(\w+)\]", expr))
    assert windows == {"1h", "5m", "6h", "30m"} and windows <= set(build.BURN_WINDOWS)
    board = json.loads((build.DASHBOARDS / "slo-burn.json").read_text())
    panel = {query for title, query in build.panel_queries(board) if title == panel_title}
    rest = expr
    for window in windows:
        assert burn_rate(window) in expr and burn_rate(window) in panel, window
        rest = rest.replace(burn_rate(window), "")
    assert "dalrn_" not in rest  # nothing else is read: only thresholds and `and` / `or` remain
    assert re.findall(r"> ([\d.]+)", rest) == ["14.4", "14.4", "6", "6"]
