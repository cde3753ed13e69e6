"""Cross-silo mode: a SuperLink and three SuperNodes as real processes, TLS on loopback,
certificates made by the test. Slow (every Flower process imports torch)."""

import os

import pytest

from dalrn_core.fl.crosssilo import LocalFederation, TlsFiles
from dalrn_core.fl.ledger import PrivacyLedger
from dalrn_core.fl.model import model_hash
from dalrn_core.fl.privacy import epsilon
from dalrn_core.fl.store import current
from tests.fl.tls import make_certificates


@pytest.mark.slow
def test_two_rounds_over_tls_with_budget_and_model_store(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    tls = TlsFiles(certs["ca"], certs["cert"], certs["key"])
    home = os.environ["DALRN_HOME"]
    with LocalFederation(tls, tmp_path / "federation", n_silos=3,
                         env={"DALRN_HOME": home}) as federation:
        done = federation.run_app({"rounds": 2, "num-silos": 3, "method": "median"})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "Run finished 2 round(s)" in done.stdout + done.stderr
        superlink_log = (tmp_path / "federation" / "superlink.log").read_text()
        assert "Starting Fleet API (gRPC-rere)" in superlink_log
    model = current()
    assert model.round == 2 and model_hash(model.parameters) == model.hash
    ledger = PrivacyLedger()
    for tenant in ("firm-0", "firm-1", "firm-2"):
        assert [(h["round_id"].rsplit("/", 1)[1], h["steps"]) for h in ledger.history(tenant)] \
            == [("round-1", 10), ("round-2", 10)]
        assert ledger.spent(tenant) == pytest.approx(epsilon(1.1, 0.1, 20, 1e-5))


@pytest.mark.slow
def test_client_without_the_ca_cannot_submit(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    other = make_certificates(tmp_path / "other")  # a CA the SuperLink's cert is not from
    tls = TlsFiles(certs["ca"], certs["cert"], certs["key"])
    with LocalFederation(tls, tmp_path / "federation", n_silos=1) as federation:
        federation.tls = TlsFiles(other["ca"], certs["cert"], certs["key"])
        federation._write_connection()
        refused = federation.run_app({"rounds": 1, "num-silos": 1}, timeout=120)
    assert refused.returncode != 0
    assert "unavailable" in refused.stdout + refused.stderr  # the TLS handshake failed
