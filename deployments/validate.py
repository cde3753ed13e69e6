"""Static checks of the production files, for a machine without a Docker engine.

prefect.yaml: every deployment's entrypoint imports and names a flow; schedules parse.
compose.yaml: valid against the Compose Specification's JSON schema (vendored in
docker/schema/compose-spec.json); every service has an image or a build whose Dockerfile
exists; every volume and secret a service uses is declared; every file it mounts exists;
ports bind to loopback; every `DALRN_*` variable it sets is a documented setting; every
`NAME_FILE` names a secret the service mounts; every host a URL names is a service; every
`dalrn` command parses with the CLI's own parser; Prometheus, Grafana and the collector
point at services that exist. Dockerfile: pinned base image, every COPY source exists,
every package pyproject.toml ships is copied, the entrypoint exists and is executable, the
image runs as a non-root user. `python -m deployments.validate` prints problems and exits
non-zero.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = Path(__file__).resolve().parent / "docker"
COMPOSE_SCHEMA = DOCKER / "schema" / "compose-spec.json"
# Images this project builds; their containers run DALRN code and read DALRN's settings.
DALRN_IMAGE = "dalrn:latest"


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


def check_compose_schema(spec: dict[str, Any] | None = None) -> list[str]:
    """Problems the Compose Specification's JSON schema finds, each with its path."""
    import jsonschema  # type: ignore[import-untyped]

    spec = spec if spec is not None else yaml.safe_load((DOCKER / "compose.yaml").read_text())
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    return [f"compose.yaml: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path)))]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def _parses_as_dalrn(argv: list[str]) -> str | None:
    """None when `dalrn ARGV` parses with the CLI's parser, else argparse's complaint."""
    from dalrn_cli.main import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exit_:
            if exit_.code:
                return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "does not parse"
    return None


def check_compose_references(spec: dict[str, Any] | None = None) -> list[str]:
    """Cross-references between the compose file, the files it mounts and DALRN's code."""
    from deployments.settings_doc import documented_variables

    problems = []
    spec = spec if spec is not None else yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = spec.get("services", {})
    documented = documented_variables()
    declared_secrets = spec.get("secrets", {})
    for secret, definition in declared_secrets.items():
        if not str(definition.get("file", "")).startswith("./secrets/"):
            problems.append(f"compose.yaml: secret {secret} must be a file under ./secrets/ (kept out of git)")
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = str(mount).split(":")[0]
            if source.startswith((".", "/")) and not (DOCKER / source).resolve().exists():
                problems.append(f"compose.yaml: {name}: mounted {source} does not exist")
        env = _environment(service)
        mounted = set(service.get("secrets", []))
        for key, value in env.items():
            if key.startswith("DALRN_") and key not in documented:
                problems.append(f"compose.yaml: {name}: {key} is not a DALRN setting (docs/deployment/configuration.md)")
            if key.endswith("_FILE") and value.startswith("/run/secrets/"):
                secret = value.removeprefix("/run/secrets/")
                if secret not in mounted:
                    problems.append(f"compose.yaml: {name}: {key} reads secret {secret}, which it does not mount")
            if re.match(r"^[a-z][a-z0-9+.-]*://", value):
                host = urlsplit(value).hostname
                if host and host not in services and host not in ("127.0.0.1", "localhost", "0.0.0.0"):
                    problems.append(f"compose.yaml: {name}: {key} names host {host}, which is no service")
        if service.get("image") == DALRN_IMAGE:
            for required in ("DALRN_HOME", "DALRN_KEYS_DIR", "PREFECT_API_URL") if name != "prefect-server" else ():
                if required not in env:
                    problems.append(f"compose.yaml: {name}: {required} is not set")
            command = service.get("command") or []
            if command[:1] == ["dalrn"]:
                complaint = _parses_as_dalrn(command[1:])
                if complaint:
                    problems.append(f"compose.yaml: {name}: `{' '.join(command)}`: {complaint}")
    problems += _check_observability_targets(services)
    return problems


def _check_observability_targets(services: dict[str, Any]) -> list[str]:
    """Prometheus' targets, Grafana's datasource and the collector's exporter name services."""
    problems = []
    here = Path(__file__).resolve().parent
    prometheus = yaml.safe_load((here / "prometheus" / "prometheus.yml").read_text())
    hosts = []
    for job in prometheus.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            hosts += [(f"prometheus.yml: {job['job_name']}", t.rsplit(":", 1)[0]) for t in static["targets"]]
        for dns in job.get("dns_sd_configs", []):
            hosts += [(f"prometheus.yml: {job['job_name']}", n) for n in dns["names"]]
    for alerting in prometheus.get("alerting", {}).get("alertmanagers", []):
        for static in alerting.get("static_configs", []):
            hosts += [("prometheus.yml: alerting", t.rsplit(":", 1)[0]) for t in static["targets"]]
    for source in yaml.safe_load((here / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
                                 .read_text())["datasources"]:
        hosts.append(("grafana datasource", urlsplit(source["url"]).hostname))
    collector = yaml.safe_load((here / "otel" / "collector.yaml").read_text())
    for exporter, config in collector.get("exporters", {}).items():
        if "endpoint" in (config or {}):
            hosts.append((f"collector exporter {exporter}", config["endpoint"].split("://")[-1].rsplit(":", 1)[0]))
    for where, host in hosts:
        if host not in services and host != "localhost":
            problems.append(f"{where}: {host} is no compose service")
    return problems


def check_dockerfile(text: str | None = None) -> list[str]:
    problems = []
    text = text if text is not None else (DOCKER / "Dockerfile").read_text()
    copied, users, entrypoint = set(), [], None
    for line in text.splitlines():
        match = re.match(r"^COPY\s+(.+)\s+\S+$", line.strip())
        if match:
            for source in match.group(1).split():
                copied.add(source)
                if not (ROOT / source).exists():
                    problems.append(f"Dockerfile: COPY source {source} does not exist")
        base = re.match(r"^FROM\s+(\S+)", line)
        if base and (":" not in base.group(1) or base.group(1).endswith(":latest")):
            problems.append(f"Dockerfile: base image {base.group(1)} is not pinned to a version")
        user = re.match(r"^USER\s+(\S+)", line)
        if user:
            users.append(user.group(1))
        start = re.match(r"^ENTRYPOINT\s+(\[.*\])", line)
        if start:
            entrypoint = json.loads(start.group(1))[0]
    if not users or users[-1] in ("root", "0"):
        problems.append("Dockerfile: the image runs as root (add a USER)")
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in packages:
        if package.rstrip("*") not in copied:
            problems.append(f"Dockerfile: package {package.rstrip('*')} (pyproject.toml) is not copied")
    if entrypoint is not None:
        local = ROOT / entrypoint.removeprefix("/opt/dalrn/")
        if not entrypoint.startswith("/opt/dalrn/") or not local.exists() or not os.access(local, os.X_OK):
            problems.append(f"Dockerfile: entrypoint {entrypoint} is not an executable file of the project")
    return problems


def main() -> int:
    problems = (check_prefect_yaml() + check_compose() + check_compose_schema() + check_compose_references()
                + check_dockerfile())
    for problem in problems:
        print(problem)
    print("deployment files valid" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
