"""Confidential evidence envelopes: a round trip for every reader, nothing for anyone else,
and every altered byte (ciphertext, binding, wrapped key) caught before any text comes out."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence import envelope as env
from dalrn_core.podp.canonical import canonical_bytes

TEXT = "The shipment logs show the goods left the warehouse on 3 March, not 14 February. ünïcødé"


@pytest.fixture(scope="module")
def keys():
    return {name: X25519PrivateKey.generate() for name in ("acme", "globex", "initech")}


def _sealed(keys, readers=("acme", "globex"), text=TEXT, data_key=None):
    data_key = data_key or env.new_data_key()
    recipients = {name: env.public_bytes(keys[name]) for name in readers}
    return env.seal(text, data_key=data_key, tenant="acme", dispute="d-1", evidence="ev-1",
                    recipients=recipients), data_key


def _edit(data: bytes, change) -> bytes:
    envelope = json.loads(data)
    change(envelope)
    return canonical_bytes(envelope)


def _flip(value: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_every_reader_opens_it_and_it_is_canonical(keys):
    data, data_key = _sealed(keys)
    assert canonical_bytes(json.loads(data)) == data
    header = env.read_header(data)
    assert (header.tenant, header.dispute, header.evidence, header.recipients) == \
        ("acme", "d-1", "ev-1", ("acme", "globex"))
    for reader in ("acme", "globex"):
        assert env.open_envelope(data, tenant=reader, private_key=keys[reader],
                                 expect=("acme", "d-1", "ev-1")) == TEXT
        assert env.unwrap_data_key(data, tenant=reader, private_key=keys[reader]) == data_key
    assert TEXT.encode() not in data and TEXT.split()[3].encode() not in data


def test_the_text_is_aes_gcm_under_the_data_key_with_the_binding_as_aad(keys):
    """An independent decryption with the primitive itself, from the documented format."""
    data, data_key = _sealed(keys)
    envelope = json.loads(data)
    aad = canonical_bytes({"format": env.FORMAT, "tenant": "acme", "dispute": "d-1", "evidence": "ev-1"})
    plain = AESGCM(data_key).decrypt(base64.b64decode(envelope["nonce"]),
                                     base64.b64decode(envelope["ciphertext"]), aad)
    assert plain.decode() == TEXT
    assert len(base64.b64decode(envelope["nonce"])) == 12
    assert all(len(base64.b64decode(r["ephemeral"])) == 32 for r in envelope["recipients"])


def test_two_seals_differ_but_share_the_dispute_key(keys):
    first, key = _sealed(keys)
    second, _ = _sealed(keys, data_key=key)
    assert first != second  # fresh nonces and ephemeral keys each time
    assert env.unwrap_data_key(second, tenant="globex", private_key=keys["globex"]) == key


def test_a_tenant_it_was_not_wrapped_for_gets_nothing(keys):
    data, _ = _sealed(keys)
    with pytest.raises(InputError, match="not readable by tenant 'initech'"):
        env.open_envelope(data, tenant="initech", private_key=keys["initech"])
    # Claiming to be a reader without its private key does not open it either.
    with pytest.raises(InputError, match="wrapped for key"):
        env.open_envelope(data, tenant="globex", private_key=keys["initech"])


def test_the_owner_must_be_a_reader_and_the_key_must_be_whole(keys):
    with pytest.raises(InputError, match="recipients"):
        _sealed(keys, readers=("globex",))
    with pytest.raises(InputError, match="data_key"):
        env.seal(TEXT, data_key=b"short", tenant="acme", dispute="d-1", evidence="ev-1",
                 recipients={"acme": env.public_bytes(keys["acme"])})
    with pytest.raises(InputError, match="recipients.globex"):
        env.seal(TEXT, data_key=env.new_data_key(), tenant="acme", dispute="d-1", evidence="ev-1",
                 recipients={"acme": env.public_bytes(keys["acme"]), "globex": b"\x01" * 31})


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(ciphertext=_flip(e["ciphertext"])), "ciphertext does not authenticate"),
    (lambda e: e.update(ciphertext=_flip(e["ciphertext"], at=-1)), "ciphertext does not authenticate"),
    (lambda e: e.update(nonce=_flip(e["nonce"])), "ciphertext does not authenticate"),
    (lambda e: e.update(dispute="d-2"), "ciphertext does not authenticate|wrapped data key"),
    (lambda e: e.update(evidence="ev-2"), "ciphertext does not authenticate|wrapped data key"),
    (lambda e: e["recipients"][1].update(wrapped_key=_flip(e["recipients"][1]["wrapped_key"])),
     "wrapped data key for globex does not authenticate"),
    (lambda e: e["recipients"][1].update(ephemeral=_flip(e["recipients"][1]["ephemeral"])),
     "wrapped data key for globex does not authenticate"),
])
def test_any_altered_part_is_caught(keys, change, message):
    data, _ = _sealed(keys)
    with pytest.raises(IntegrityError, match=message):
        env.open_envelope(_edit(data, change), tenant="globex", private_key=keys["globex"])


def test_an_envelope_moved_to_another_item_is_refused_before_decrypting(keys):
    data, _ = _sealed(keys)
    with pytest.raises(IntegrityError, match="bound to acme/d-1/ev-1, not acme/d-1/ev-9"):
        env.open_envelope(data, tenant="acme", private_key=keys["acme"], expect=("acme", "d-1", "ev-9"))


def test_a_moved_wrapped_key_does_not_open_another_envelope(keys):
    """globex's wrapped key from one envelope, pasted into another of the same dispute key."""
    first, key = _sealed(keys)
    other = env.seal("another text", data_key=key, tenant="acme", dispute="d-1", evidence="ev-2",
                     recipients={n: env.public_bytes(keys[n]) for n in ("acme", "globex")})
    moved = _edit(other, lambda e: e["recipients"].__setitem__(1, json.loads(first)["recipients"][1]))
    with pytest.raises(IntegrityError, match="wrapped data key for globex"):
        env.open_envelope(moved, tenant="globex", private_key=keys["globex"])


@pytest.mark.parametrize("data, message", [
    (b"not json", "not JSON"),
    (b'{"format": "other/1"}', "is not a dalrn.evidence-envelope/1"),
    (canonical_bytes({"format": env.FORMAT}), "fields must be exactly"),
])
def test_foreign_bytes_are_not_envelopes(data, message):
    with pytest.raises(IntegrityError, match=message):
        env.read_header(data)


def test_header_checks_shape_and_canonical_form(keys):
    data, _ = _sealed(keys)
    pretty = json.dumps(json.loads(data), indent=2).encode()
    with pytest.raises(IntegrityError, match="canonical"):
        env.read_header(pretty)
    unsorted = _edit(data, lambda e: e["recipients"].reverse())
    with pytest.raises(IntegrityError, match="sorted"):
        env.read_header(unsorted)
    no_owner = _edit(data, lambda e: e.update(tenant="globex-2"))
    with pytest.raises(IntegrityError, match="owner among them"):
        env.read_header(no_owner)
    with pytest.raises(IntegrityError, match="nonce"):
        env.read_header(_edit(data, lambda e: e.update(nonce=base64.b64encode(b"123").decode())))
    with pytest.raises(IntegrityError, match="base64"):
        env.read_header(_edit(data, lambda e: e.update(ciphertext="***")))
