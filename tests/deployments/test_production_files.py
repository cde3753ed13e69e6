"""prefect.yaml, the compose file and the Dockerfile, checked without a Docker engine."""

import copy

import yaml

from deployments.served import DEPLOYMENTS
from deployments.validate import DOCKER, ROOT, check_compose, check_dockerfile, check_prefect_yaml


def test_prefect_yaml_entrypoints_are_flows():
    assert check_prefect_yaml() == []


def test_served_and_declared_deployments_agree():
    declared = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    assert {name for _, _, name, _ in DEPLOYMENTS} == set(declared)
    assert declared["fl-nightly"]["schedules"][0] == {"cron": "0 2 * * *", "timezone": "Europe/London"}


def test_compose_and_dockerfile_are_consistent():
    assert check_compose() == [] and check_dockerfile() == []


def test_compose_check_catches_mistakes():
    spec = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    broken = copy.deepcopy(spec)
    broken["services"]["redis"]["ports"] = ["6379:6379"]
    broken["services"]["worker"]["volumes"] = ["undeclared:/data"]
    broken["services"]["worker"]["depends_on"] = ["nothing"]
    problems = check_compose(broken)
    assert any("not bound to loopback" in p for p in problems)
    assert any("volume undeclared" in p for p in problems)
    assert any("unknown service nothing" in p for p in problems)
