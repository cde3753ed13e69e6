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


def test_compose_matches_the_compose_specification_schema():
    from deployments.validate import COMPOSE_SCHEMA, check_compose_schema

    assert COMPOSE_SCHEMA.exists()
    assert check_compose_schema() == []
    broken = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    broken["services"]["gateway"]["imagee"] = "dalrn:latest"
    broken["services"]["redis"]["ports"] = {"6379": "6379"}
    problems = check_compose_schema(broken)
    assert any("services/gateway" in p and "imagee" in p for p in problems)
    assert any("services/redis/ports" in p for p in problems)


def test_compose_cross_references_hold():
    from deployments.validate import check_compose_references

    assert check_compose_references() == []


def test_compose_reference_check_catches_mistakes():
    from deployments.validate import check_compose_references

    spec = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    broken = copy.deepcopy(spec)
    worker = broken["services"]["worker"]
    worker["environment"]["DALRN_QUEUE_ULR"] = "redis://redis:6379/0"
    worker["environment"]["DALRN_IPFS_API_URL"] = "http://kubo:5001"
    worker["command"] = ["dalrn", "worker", "--concurency", "4"]
    worker["secrets"] = []
    broken["services"]["prometheus"]["volumes"][0] = "../prometheus/missing.yml:/etc/prometheus/prometheus.yml:ro"
    problems = check_compose_references(broken)
    assert any("DALRN_QUEUE_ULR is not a DALRN setting" in p for p in problems)
    assert any("names host kubo, which is no service" in p for p in problems)
    assert any("unrecognized arguments: --concurency" in p for p in problems)
    assert any("reads secret prefect-auth-string, which it does not mount" in p for p in problems)
    assert any("mounted ../prometheus/missing.yml does not exist" in p for p in problems)


def test_compose_wires_the_production_services():
    spec = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = spec["services"]
    assert {"postgres", "redis", "prefect-server", "gateway", "worker", "ipfs", "prometheus", "alertmanager",
            "grafana", "otel-collector", "jaeger"} <= set(services)
    prefect, gateway, worker = services["prefect-server"], services["gateway"], services["worker"]
    # Prefect reads PostgreSQL's password from the same secret PostgreSQL was initialised with.
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres-password"
    assert prefect["environment"]["PREFECT_SERVER_DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres-password"
    assert prefect["environment"]["PREFECT_SERVER_DATABASE_HOST"] == "postgres"
    assert gateway["environment"]["PGPASSWORD_FILE"] == "/run/secrets/postgres-password"
    # Redis: Prefect's messaging, the gateway's rate limits and the dispute queue.
    assert prefect["environment"]["PREFECT_SERVER_EVENTS_MESSAGING_BROKER"] == "prefect_redis.messaging"
    assert gateway["environment"]["DALRN_GATEWAY_RATE_LIMIT_STORAGE"].startswith("redis://redis:")
    assert gateway["environment"]["DALRN_QUEUE_URL"] == worker["environment"]["DALRN_QUEUE_URL"]
    # Evidence in kubo for every DALRN process; workers scale (no fixed name, no host port).
    for service in (gateway, worker):
        assert service["environment"]["DALRN_CONTENT_STORE"] == "ipfs"
        assert service["environment"]["DALRN_IPFS_API_URL"] == "http://ipfs:5001"
    assert "container_name" not in worker and "ports" not in worker and worker["deploy"]["replicas"] >= 1
    assert worker["command"][:2] == ["dalrn", "worker"]
    # Prometheus scrapes each replica on the port the worker serves its metrics on.
    prometheus = yaml.safe_load((ROOT / "deployments" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "dalrn-worker"]
    port = worker["command"][worker["command"].index("--metrics-port") + 1]
    assert job["dns_sd_configs"] == [{"names": ["worker"], "type": "A", "port": int(port)}]
    assert worker["command"][worker["command"].index("--metrics-host") + 1] == "0.0.0.0"
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    assert "../grafana/dashboards:/var/lib/grafana/dashboards/dalrn:ro" in services["grafana"]["volumes"]


def test_prefect_settings_named_in_compose_exist():
    """Every PREFECT_* variable compose sets is one Prefect 3 reads (a typo would be ignored silently)."""
    from prefect.settings import Settings

    spec = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    names = {key for service in spec["services"].values() for key in (service.get("environment") or {})
             if key.startswith("PREFECT_") and not key.startswith("PREFECT_REDIS_")}
    names = {name.removesuffix("_FILE") for name in names}

    def env_names(model, prefix="PREFECT_"):
        out = set()
        for field, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                out |= env_names(annotation, f"{prefix}{field.upper()}_")
            out.add(f"{prefix}{field.upper()}")
            for alias in getattr(info.validation_alias, "choices", []) or []:
                if isinstance(alias, str):
                    out.add(alias.upper())
        return out

    known = env_names(Settings)
    assert names and names <= known, sorted(names - known)


def test_dockerfile_check_catches_mistakes():
    text = (DOCKER / "Dockerfile").read_text()
    assert check_dockerfile(text) == []
    broken = text.replace("COPY gateway gateway\n", "").replace("USER dalrn\n", "")
    broken = broken.replace("python:3.11.7-slim-bookworm", "python:latest")
    problems = check_dockerfile(broken)
    assert "Dockerfile: package gateway (pyproject.toml) is not copied" in problems
    assert "Dockerfile: the image runs as root (add a USER)" in problems
    assert "Dockerfile: base image python:latest is not pinned to a version" in problems


def test_entrypoint_exports_each_secret_file(tmp_path):
    import subprocess

    secret = tmp_path / "postgres-password"
    secret.write_text("s3cr3t-value\n")
    entrypoint = str(DOCKER / "entrypoint.sh")
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD_FILE": str(secret), "PREFECT_API_AUTH_STRING": "kept"}
    done = subprocess.run([entrypoint, "sh", "-c", 'printf "%s|%s" "$PGPASSWORD" "$PREFECT_API_AUTH_STRING"'],
                          env=env | {"PREFECT_API_AUTH_STRING_FILE": str(tmp_path / "absent")},
                          capture_output=True, text=True, timeout=10, check=False)
    assert (done.returncode, done.stdout) == (0, "s3cr3t-value|kept")  # a set variable wins over its file
    missing = subprocess.run([entrypoint, "true"], env={"PATH": "/usr/bin:/bin", "PGPASSWORD_FILE": "/nonexistent"},
                             capture_output=True, text=True, timeout=10, check=False)
    assert missing.returncode == 64 and "PGPASSWORD_FILE names /nonexistent" in missing.stderr
