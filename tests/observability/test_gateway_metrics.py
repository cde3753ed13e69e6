"""The gateway's /metrics: requests by route template (never the raw path), refusals by code."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from dalrn_core.observability.metrics import families, metric_names
from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_counted_by_route_template_and_refusals_by_code(home, tmp_path):
    app = make_app(tmp_path)
    issued = add_tenant(app, "acme-legal")
    with client_of(app) as client:
        before = _samples(client.get("/metrics").text)
        headers = bearer(token_of(client, issued))
        for dispute_id in ("d-one", "d-two", "d-three"):  # three raw paths, one template
            assert client.get(f"/v1/disputes/{dispute_id}", headers=headers).status_code == 404
        assert client.get("/v1/disputes/d-one", headers={"Authorization": "Bearer nonsense"}).status_code == 401
        assert client.get("/no/such/page").status_code == 404
        answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    after = _samples(answer.text)
    template = "/v1/disputes/{dispute_id}"
    grew = lambda name, **labels: _value(after, name, **labels) - _value(before, name, **labels)
    assert grew("dalrn_http_requests_total", route=template, method="GET", status="404") == 3
    assert grew("dalrn_http_requests_total", route=template, method="GET", status="401") == 1
    assert grew("dalrn_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert grew("dalrn_http_request_duration_seconds_count", route=template, method="GET") == 4
    assert grew("dalrn_http_requests_total", route="/v1/oauth/token", method="POST", status="200") == 1
    assert not any("d-one" in str(labels) for _name, labels in after)  # no raw path became a label
    assert grew("dalrn_gateway_auth_failures_total", code="auth.invalid_token") == 1
    assert grew("dalrn_gateway_rejected_inputs_total", code="dispute.not_found") == 3


def test_catalogue_names_are_unique_and_prefixed():
    names = [f.name for f in families()]
    assert len(names) == len(set(names))
    assert all(n.startswith("dalrn_") for n in names)
    assert "dalrn_http_requests_total" in metric_names()
    assert "dalrn_dispute_stage_duration_seconds_bucket" in metric_names()


def _self_signed(path, not_after):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(not_after - timedelta(days=90)).not_valid_after(not_after)
                   .sign(key, hashes.SHA256()))
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def test_key_creation_and_certificate_expiry_are_exported(home, tmp_path):
    not_after = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)
    _self_signed(tmp_path / "proxy.pem", not_after)
    app = make_app(tmp_path, tls_certificate_files=[str(tmp_path / "proxy.pem"), str(tmp_path / "missing.pem")])
    issued = add_tenant(app, "acme-legal")
    with client_of(app) as client:
        before = time.time()
        token_of(client, issued)  # the first token makes the gateway's JWT signing key
        answer = client.get("/metrics")
    assert answer.status_code == 200
    samples = _samples(answer.text)
    assert _value(samples, "dalrn_certificate_expiry_timestamp_seconds", certificate="proxy.pem") == not_after.timestamp()
    assert not any(labels == frozenset({("certificate", "missing.pem")}) for _name, labels in samples)
    created = _value(samples, "dalrn_key_created_timestamp_seconds", key="jwt_signing")
    assert before - 5 <= created <= time.time() + 1
    assert str(tmp_path) not in answer.text  # file names only, no paths
