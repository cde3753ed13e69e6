"""Confidential evidence items: the model's rules, the server's check of an envelope it cannot
open, the tenant SDK's sealing (and its folder), and the public items left exactly as they were."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from dalrn_cli.tenant_sdk import (
    has_confidential,
    precheck,
    reader_tenants,
    seal_dispute,
    seal_locally,
)
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence import envelope as env
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.confidential import ReaderKeys, evidence_cids
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.tenant_home import envelope_key, tenant_home

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
SECRET = "The internal audit found that Globex shipped the builds to a fourth subcontractor in Lisbon."


@pytest.fixture()
def homes(tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "server"))
    monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / "tenant"))
    return tmp_path / "server", tmp_path / "tenant"


def _file(**changes) -> dict:
    """The sample as its tenant writes it, ev-1 confidential (its text still in the file)."""
    body = copy.deepcopy(SAMPLE)
    body["evidence"][0].update({"confidential": True, "text": SECRET, **changes})
    return body


def test_a_public_item_serialises_exactly_as_before():
    dispute = parse_dispute(SAMPLE)
    assert dispute.model_dump(mode="json")["evidence"] == SAMPLE["evidence"]
    assert canonical_bytes(dispute.model_dump(mode="json")["evidence"]) == canonical_bytes(SAMPLE["evidence"])


def test_a_confidential_item_carries_a_ciphertext_cid_and_no_text():
    cid = cid_of(b"an envelope")
    body = copy.deepcopy(SAMPLE)
    body["evidence"][0] = {"id": "ev-1", "party": "acme", "title": "Audit", "confidential": True,
                           "ciphertext_cid": cid}
    dispute = parse_dispute(body)
    assert dispute.model_dump(mode="json")["evidence"][0] == body["evidence"][0]

    def refused(item: dict) -> list[tuple[str, str]]:
        bad = copy.deepcopy(body)
        bad["evidence"][0] = item
        with pytest.raises(InputError) as caught:
            parse_dispute(bad)
        return [(p.field, p.rule) for p in caught.value.problems]

    with_text = refused({**body["evidence"][0], "text": SECRET})
    assert with_text[0][0] == "evidence[0].text" and "carries no text" in with_text[0][1]
    assert refused({"id": "ev-1", "party": "acme", "title": "Audit", "confidential": True})[0][0] == \
        "evidence[0].ciphertext_cid"
    assert refused({"id": "ev-1", "party": "acme", "title": "Audit", "text": "x", "ciphertext_cid": cid})[0][0] == \
        "evidence[0].ciphertext_cid"
    assert refused({**body["evidence"][0], "ciphertext_cid": "QmNotACidV1"})[0][0] == "evidence[0].ciphertext_cid"
    assert refused({"id": "ev-1", "party": "acme", "title": "Audit"})[0][0] == "evidence[0].text"


def test_the_sdk_seals_into_the_store_and_the_server_checks_without_a_key(homes):
    server, tenant_folder = homes
    store = LocalContentStore()
    body = _file()
    assert has_confidential(body) and not has_confidential(SAMPLE)
    sealed = seal_locally(body, "acme-legal", store.put)
    assert sealed.texts == [SECRET, SAMPLE["evidence"][1]["text"]]
    item = sealed.body["evidence"][0]
    assert set(item) == {"id", "party", "title", "confidential", "ciphertext_cid"}
    assert sealed.body["evidence"][1] == SAMPLE["evidence"][1] and body["evidence"][0]["text"] == SECRET
    dispute = parse_dispute(sealed.body)
    cids = evidence_cids(dispute, dispute.evidence, store)
    assert cids["ev-1"] == item["ciphertext_cid"]
    assert store.get(cids["ev-2"]) == SAMPLE["evidence"][1]["text"].encode()
    # The tenant (and only it: no other tenant was named) opens it with the key in its own folder.
    assert env.open_envelope(store.get(cids["ev-1"]), tenant="acme-legal", private_key=envelope_key("acme-legal"),
                             expect=("acme-legal", SAMPLE["id"], "ev-1")) == SECRET
    assert env.read_header(store.get(cids["ev-1"])).recipients == ("acme-legal",)
    # Keys and data key in the tenant's folder; nothing of the text anywhere in the server's.
    assert sorted(p.name for p in (tenant_folder / "keys").iterdir()) == ["envelope-acme-legal.x25519"]
    assert (tenant_folder / "disputes" / "acme-legal" / f"{SAMPLE['id']}.key").stat().st_mode & 0o777 == 0o600
    assert tenant_home() == tenant_folder.resolve()
    words = SECRET.encode()
    assert not any(words in p.read_bytes() for p in server.rglob("*") if p.is_file())


def test_the_server_refuses_an_envelope_that_is_missing_foreign_or_not_one(homes):
    store = LocalContentStore()
    sealed = seal_locally(_file(), "acme-legal", store.put)
    moved = copy.deepcopy(sealed.body)
    moved["id"] = "another-dispute"
    other_item = copy.deepcopy(sealed.body)
    other_item["evidence"][1]["id"], other_item["evidence"][0]["id"] = "ev-1", "ev-9"
    missing = copy.deepcopy(sealed.body)
    missing["evidence"][0]["ciphertext_cid"] = cid_of(b"never uploaded")
    not_envelope = copy.deepcopy(sealed.body)
    not_envelope["evidence"][0]["ciphertext_cid"] = store.put(b"plain bytes")
    for body, rule in [(moved, "not of acme-legal/another-dispute/ev-1"), (other_item, "not of acme-legal/"),
                       (missing, "not in the content store"), (not_envelope, "is not an evidence envelope")]:
        dispute = parse_dispute(body)
        with pytest.raises(InputError) as caught:
            evidence_cids(dispute, dispute.evidence, store)
        assert caught.value.problems[0].field == "evidence[0].ciphertext_cid"
        assert rule in caught.value.problems[0].rule


def test_sealing_refuses_what_it_cannot_seal_before_uploading(homes):
    uploads: list[bytes] = []

    def put(data: bytes) -> str:
        uploads.append(data)
        return cid_of(data)

    readers = {"acme-legal": env.public_bytes(envelope_key("acme-legal"))}
    with pytest.raises(InputError, match=r"evidence\[0\].text"):
        seal_dispute(_file(text="  "), tenant="acme-legal", readers=readers, put=put)
    with pytest.raises(InputError, match=r"evidence\[0\].ciphertext_cid"):
        seal_dispute(_file(ciphertext_cid=cid_of(b"x")), tenant="acme-legal", readers=readers, put=put)
    foreign = _file()
    foreign["parties"][0]["tenant"] = "acme-firm"
    with pytest.raises(InputError, match="each tenant encrypts only its own"):
        seal_dispute(foreign, tenant="acme-legal", readers=readers, put=put)
    assert reader_tenants(foreign, "acme-legal") == ["acme-firm", "acme-legal"]
    with pytest.raises(InputError, match="through the gateway"):
        seal_locally(foreign, "acme-legal", put)
    bad = _file()
    bad["game"]["row_payoffs"] = [[1]]
    with pytest.raises(InputError, match=r"game.row_payoffs"):
        precheck(bad)
    assert uploads == []
    with pytest.raises(IntegrityError, match="not its CID"):
        seal_dispute(_file(), tenant="acme-legal", readers=readers, put=lambda data: cid_of(b"swapped"))


def test_reader_keys_hold_public_keys_and_the_latest_wins(homes):
    keys = ReaderKeys()
    first = env.public_bytes(envelope_key("acme-legal"))
    record = keys.register("acme-legal", first)
    assert keys.get("acme-legal").raw == first and record.key_id == env.key_id_of(first)
    assert keys.register("acme-legal", first) == record  # unchanged key, unchanged record
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    second = env.public_bytes(X25519PrivateKey.generate())
    keys.register("acme-legal", second)
    assert ReaderKeys().get("acme-legal").raw == second and ReaderKeys().get("globex") is None
    with pytest.raises(InputError, match="32 bytes"):
        keys.register("globex", b"\x00" * 31)


def test_split_keeps_each_confidential_item_marked_in_its_owners_side(homes, tmp_path):
    from dalrn_cli.sides import split

    whole = _file()
    whole["evidence"][1].update({"confidential": True})
    whole["parties"][0]["tenant"], whole["parties"][1]["tenant"] = "acme-legal", "globex-legal"
    (tmp_path / "whole.json").write_text(json.dumps(whole))
    opening_path, side_path = split(tmp_path / "whole.json", tmp_path / "split")
    opening, side = json.loads(opening_path.read_text()), json.loads(side_path.read_text())
    assert opening["side"]["evidence"] == [{**SAMPLE["evidence"][0], "confidential": True, "text": SECRET}]
    assert side["evidence"] == [{**SAMPLE["evidence"][1], "confidential": True}]
    assert SECRET not in side_path.read_text() and "evidence" not in {k for k in opening if k != "side"}
    with pytest.raises(InputError, match="joint opening already"):
        split(opening_path, tmp_path / "again")
