"""CIDs against the multiformats spec, and the local store's integrity checks."""

import base64
import hashlib

import pytest

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import cid_of, parse_cid
from dalrn_core.evidence.store import LocalContentStore


def _spec_cid(data: bytes) -> str:
    # Built by hand from the spec: multibase 'b' (base32 lower, no padding) over
    # varint(version 1) + varint(raw 0x55) + multihash(sha2-256 0x12, length 0x20, digest).
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


@pytest.mark.parametrize("data", [b"", b"hello", b"\x00" * 1000, "précédent".encode()])
def test_cid_matches_the_spec_by_hand(data):
    assert cid_of(data) == _spec_cid(data)


def test_known_ipfs_cid_of_hello():
    # `ipfs add --cid-version=1 --raw-leaves` of the 5 bytes "hello" gives this CID.
    assert cid_of(b"hello") == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"


def test_parse_refuses_other_codecs_and_garbage():
    with pytest.raises(InputError, match="cid"):
        parse_cid("not-a-cid")
    # CIDv0 (base58 'Qm...', dag-pb) is a valid CID but not what DALRN stores.
    with pytest.raises(InputError, match="CIDv1 with raw codec"):
        parse_cid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")


def test_store_round_trip_and_tamper(tmp_path):
    store = LocalContentStore(tmp_path)
    cid = store.put(b"evidence text")
    assert store.get(cid) == b"evidence text"
    assert store.put(b"evidence text") == cid
    path = next(p for p in tmp_path.rglob(cid))
    path.write_bytes(b"evidence text, edited")
    with pytest.raises(IntegrityError, match="does not match its CID"):
        store.get(cid)


def test_store_missing_content(tmp_path):
    with pytest.raises(IntegrityError, match="not in the store"):
        LocalContentStore(tmp_path).get(cid_of(b"never stored"))


@pytest.mark.parametrize("size", [0, 1, 31, 32, 1000, 70_000])
def test_cid_of_and_parse_cid_agree_with_the_multiformats_library(size):
    from multiformats import CID, multihash

    data = hashlib.sha256(str(size).encode()).digest() * (size // 32) + b"x" * (size % 32)
    reference = CID("base32", 1, "raw", multihash.wrap(hashlib.sha256(data).digest(), "sha2-256"))
    assert cid_of(data) == str(reference)
    assert parse_cid(str(reference)) == bytes(reference.raw_digest) == hashlib.sha256(data).digest()
    # the same CID in another multibase is the same content: accepted, same digest
    assert parse_cid(reference.encode("base58btc")) == bytes(reference.raw_digest)


@pytest.mark.parametrize("text", [
    "b" + "a" * 58,  # base32 of the wrong header
    cid_of(b"hello")[:-1] + "!",  # not base32
    cid_of(b"hello")[:-1],  # one character short
    cid_of(b"hello").upper(),  # base32 upper is another multibase, still this CID... checked below
])
def test_parse_cid_takes_only_what_multiformats_takes(text):
    from multiformats import CID

    try:
        reference = CID.decode(text)
        expected = bytes(reference.raw_digest) if (reference.version, reference.codec.name) == (1, "raw") else None
    except Exception:  # noqa: BLE001 - the library refuses it: so must we
        expected = None
    if expected is None:
        with pytest.raises(InputError):
            parse_cid(text)
    else:
        assert parse_cid(text) == expected
