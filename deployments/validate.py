"""Static checks of the production files, for a machine without a Docker engine.

prefect.yaml: every deployment's entrypoint imports and names a flow; schedules parse.
compose.yaml: every service has an image or a build whose Dockerfile exists; every volume
and secret a service uses is declared; ports bind to loopback. Dockerfile: every COPY
source exists. `python -m deployments.validate` prints problems and exits non-zero.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = Path(__file__).resolve().parent / "docker"


def check_prefect_yaml() -> list[str]:
    problems = []
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in spec.get("deployments", []):
        name = deployment.get("name", "?")
        path, _, function = deployment.get("entrypoint", "").partition(":")
        module = path.removesuffix(".py").replace("/", ".")
        if not (ROOT / path).exists():
            problems.append(f"prefect.yaml: {name}: entrypoint file {path} does not exist")
            continue
        flow = getattr(importlib.import_module(module), function, None)
        if flow is None or not hasattr(flow, "to_deployment"):
            problems.append(f"prefect.yaml: {name}: {function} in {path} is not a Prefect flow")
        for schedule in deployment.get("schedules") or []:
            if not ({"cron", "interval", "rrule"} & set(schedule)):
                problems.append(f"prefect.yaml: {name}: schedule {schedule} has no cron, interval or rrule")
    return problems


def check_compose(spec: dict | None = None) -> list[str]:
    problems = []
    spec = spec if spec is not None else yaml.safe_load((DOCKER / "compose.yaml").read_text())
    volumes, secrets = set(spec.get("volumes", {})), set(spec.get("secrets", {}))
    for name, service in spec.get("services", {}).items():
        if "image" not in service and "build" not in service:
            problems.append(f"compose.yaml: {name}: needs an image or a build")
        build = service.get("build")
        if build and not (DOCKER / build["context"] / build["dockerfile"]).resolve().exists():
            problems.append(f"compose.yaml: {name}: Dockerfile {build['dockerfile']} not found")
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")) and source not in volumes:
                problems.append(f"compose.yaml: {name}: volume {source} is not declared")
        for secret in service.get("secrets", []):
            if secret not in secrets:
                problems.append(f"compose.yaml: {name}: secret {secret} is not declared")
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                problems.append(f"compose.yaml: {name}: port {port} is not bound to loopback")
        for dependency in service.get("depends_on", []):
            if dependency not in spec["services"]:
                problems.append(f"compose.yaml: {name}: depends on unknown service {dependency}")
    return problems


def check_dockerfile() -> list[str]:
    problems = []
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        match = re.match(r"^COPY\s+(.+)\s+\S+$", line.strip())
        if match:
            for source in match.group(1).split():
                if not (ROOT / source).exists():
                    problems.append(f"Dockerfile: COPY source {source} does not exist")
    return problems


def main() -> int:
    problems = check_prefect_yaml() + check_compose() + check_dockerfile()
    for problem in problems:
        print(problem)
    print("deployment files valid" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
