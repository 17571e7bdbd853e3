"""The pure BookKeeper codecs: v2 frames, the stored entry and its digests, ledger metadata,
ledger paths, bookie registrations (golden bytes written from bookkeeper.md, not from
the encoders)."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwire.log.bookkeeper.api import DigestMismatch, DigestType
from kwire.log.bookkeeper.digest import DigestManager, master_key
from kwire.log.bookkeeper.metadata import (
    LedgerMetadata,
    LedgerState,
    Segment,
    decode_bookie_address,
    decode_ledger_metadata,
    encode_bookie_service_info,
    encode_ledger_metadata,
    ledger_path,
    write_set,
)
from kwire.log.bookkeeper.reader import covered
from kwire.log.bookkeeper.wire import (
    ADDENTRY,
    EFENCED,
    FLAG_DO_FENCING,
    FLAG_HIGH_PRIORITY,
    FLAG_RECOVERY_ADD,
    READENTRY,
    FrameDecoder,
    add_request_prefix,
    decode_request,
    decode_response,
    encode_response,
    packet_header,
    read_request,
)

KEY = hashlib.sha1(b"ledger").digest()


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: an independent reference for the digest."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


# ---- wire -----------------------------------------------------------------------------------

def test_packet_headers_match_the_java_client() -> None:
    assert packet_header(ADDENTRY) == 0x02010000
    assert packet_header(READENTRY) == 0x02020000
    assert packet_header(READENTRY, FLAG_DO_FENCING) == 0x02020001
    assert packet_header(ADDENTRY, FLAG_RECOVERY_ADD | FLAG_HIGH_PRIORITY) == 0x02010006


def test_read_request_golden_bytes() -> None:
    assert read_request(7, 3) == bytes.fromhex(
        "00000014" "02020000" "0000000000000007" "0000000000000003")
    fence = read_request(7, -1, FLAG_DO_FENCING, KEY)
    assert fence == bytes.fromhex("00000028" "02020001" "0000000000000007"
                                  "ffffffffffffffff") + KEY
    with pytest.raises(ValueError):
        read_request(7, -1, FLAG_DO_FENCING)


def test_add_request_round_trips_through_the_bookie_side() -> None:
    entry = DigestManager(5, DigestType.CRC32C, b"").encode(9, 8, 100, b"payload")
    frame = add_request_prefix(FLAG_RECOVERY_ADD, KEY, len(entry)) + entry
    (size,) = struct.unpack_from(">I", frame)
    assert size == len(frame) - 4 == 4 + 20 + 32 + 4 + 7
    req = decode_request(frame[4:])
    assert (req.op, req.flags, req.ledger_id, req.entry_id) == (ADDENTRY, 2, 5, 9)
    assert req.master_key == KEY and req.body == entry


def test_response_decoding_and_framing() -> None:
    ok = encode_response(READENTRY, 0, 5, -1, b"body")
    err = encode_response(ADDENTRY, EFENCED, 5, 3)
    assert err == bytes.fromhex("00000018" "02010000" "00000068" "0000000000000005"
                                "0000000000000003")
    decoder = FrameDecoder()
    stream = ok + err
    frames = decoder.feed(stream[:7]) + decoder.feed(stream[7:30]) + decoder.feed(stream[30:])
    first, second = (decode_response(f) for f in frames)
    assert (first.op, first.rc, first.ledger_id, first.entry_id, first.body) == \
        (READENTRY, 0, 5, -1, b"body")
    assert second.key == (ADDENTRY, 5, 3) and second.rc == EFENCED and second.body == b""


def test_frame_decoder_refuses_oversized_frames() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_frame=100).feed(struct.pack(">I", 101))


# ---- entries and digests ----------------------------------------------------------------------

def test_master_key_is_sha1_of_ledger_and_password() -> None:
    assert master_key(b"").hex() == hashlib.sha1(b"ledger").hexdigest()
    assert master_key(b"pw") == hashlib.sha1(b"ledgerpw").digest()


def test_crc32c_entry_golden_bytes() -> None:
    header = bytes.fromhex("0000000000000001" "0000000000000000" "ffffffffffffffff"
                           "0000000000000005")
    digest = struct.pack(">I", crc32c_bitwise(header + b"hello"))
    entry = DigestManager(1, DigestType.CRC32C, b"").encode(0, -1, 5, b"hello")
    assert entry == header + digest + b"hello"
    assert crc32c_bitwise(b"123456789") == 0xE3069283  # the reference itself


def test_crc32_and_mac_digests() -> None:
    header = struct.pack(">qqqq", 2, 4, 3, 10)
    crc = DigestManager(2, DigestType.CRC32, b"").encode(4, 3, 10, b"abc")
    assert crc == header + struct.pack(">q", zlib.crc32(header + b"abc")) + b"abc"
    mac = DigestManager(2, DigestType.HMAC, b"pw").encode(4, 3, 10, b"abc")
    import hmac
    key = hashlib.sha1(b"macpw").digest()
    assert mac == header + hmac.new(key, header + b"abc", hashlib.sha1).digest() + b"abc"
    assert DigestManager(2, DigestType.DUMMY, b"").encode(4, 3, 10, b"abc") == header + b"abc"


@pytest.mark.parametrize("kind", list(DigestType))
def test_verify_checks_digest_ledger_and_entry(kind: DigestType) -> None:
    dm = DigestManager(3, kind, b"secret")
    body = dm.encode(7, 6, 42, b"payload")
    entry = dm.verify(body, 7)
    assert (entry.entry_id, entry.last_add_confirmed, entry.length, entry.payload) == \
        (7, 6, 42, b"payload")
    assert dm.verify(body, None).entry_id == 7
    with pytest.raises(DigestMismatch):
        dm.verify(body, 8)
    with pytest.raises(DigestMismatch):
        DigestManager(4, kind, b"secret").verify(body, 7)
    with pytest.raises(DigestMismatch):
        dm.verify(body[:20], 7)
    if kind != DigestType.DUMMY:
        with pytest.raises(DigestMismatch):
            dm.verify(body[:-1] + b"X", 7)


# ---- metadata ---------------------------------------------------------------------------------

ONE_BOOKIE = b"127.0.0.1:3181"
GOLDEN_BODY = (b"\x08\x02" b"\x10\x01" b"\x18\x00" b"\x20" + b"\xff" * 9 + b"\x01" b"\x28\x01"
               + b"\x32\x12" + b"\x0a\x0e" + ONE_BOOKIE + b"\x10\x00"
               + b"\x38\x03" b"\x42\x00" b"\x48\x01" b"\x60\x00")
GOLDEN = b"BookieMetadataFormatVersion\t3\n" + bytes([len(GOLDEN_BODY)]) + GOLDEN_BODY


def test_metadata_v3_golden_bytes() -> None:
    md = LedgerMetadata(ensemble_size=1, write_quorum=2, ack_quorum=1,
                        state=LedgerState.OPEN, segments=(Segment(0, ("127.0.0.1:3181",)),),
                        c_token=0)
    assert encode_ledger_metadata(md) == GOLDEN
    assert decode_ledger_metadata(GOLDEN) == md


bookie_ids = st.from_regex(r"127\.0\.0\.1:3[0-9]{3}", fullmatch=True)


@given(e=st.integers(1, 5), extra=st.integers(0, 3), closed=st.booleans(),
       last=st.integers(-1, 2**40), length=st.integers(0, 2**50),
       password=st.binary(max_size=8), kind=st.sampled_from(list(DigestType)),
       ctime=st.none() | st.integers(0, 2**45),
       custom=st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3),
       members=st.lists(bookie_ids, min_size=5, max_size=5, unique=True))
def test_metadata_v3_round_trips(e: int, extra: int, closed: bool, last: int, length: int,
                                 password: bytes, kind: DigestType, ctime: int | None,
                                 custom: list[tuple[str, bytes]], members: list[str]) -> None:
    segments = tuple(Segment(i * 10, tuple(members[i:] + members[:i])[:e])
                     for i in range(1 + extra))
    md = LedgerMetadata(
        ensemble_size=e, write_quorum=e, ack_quorum=max(1, e - 1),
        state=LedgerState.CLOSED if closed else LedgerState.OPEN, segments=segments,
        digest_type=kind, password=password, length=length if closed else 0,
        last_entry_id=last if closed else -1, ctime=ctime, custom_metadata=tuple(custom),
        c_token=0)
    assert decode_ledger_metadata(encode_ledger_metadata(md)) == md


def test_metadata_v2_text_format() -> None:
    text = (b"BookieMetadataFormatVersion\t2\nquorumSize: 2\nensembleSize: 3\nlength: 10\n"
            b"lastEntryId: 4\nstate: CLOSED\nsegment {\n  ensembleMember: \"a:1\"\n"
            b"  ensembleMember: \"b:2\"\n  ensembleMember: \"c:3\"\n  firstEntryId: 0\n}\n"
            b"segment {\n  ensembleMember: \"a:1\"\n  ensembleMember: \"d:4\"\n"
            b"  ensembleMember: \"c:3\"\n  firstEntryId: 3\n}\n"
            b"digestType: HMAC\npassword: \"p\\001\\\"w\"\nackQuorumSize: 2\nctime: 17\n"
            b"customMetadata {\n  key: \"application\"\n  value: \"pulsar\"\n}\n")
    md = decode_ledger_metadata(text)
    assert md.state == LedgerState.CLOSED and md.last_entry_id == 4 and md.length == 10
    assert md.segments == (Segment(0, ("a:1", "b:2", "c:3")), Segment(3, ("a:1", "d:4", "c:3")))
    assert md.digest_type == DigestType.HMAC and md.password == b'p\x01"w'
    assert (md.write_quorum, md.ensemble_size, md.ack_quorum, md.ctime) == (2, 3, 2, 17)
    assert md.custom_metadata == (("application", b"pulsar"),)
    assert md.ensemble_for(2) == ("a:1", "b:2", "c:3")
    assert md.ensemble_for(3) == md.ensemble_for(99) == ("a:1", "d:4", "c:3")


def test_metadata_v1_text() -> None:
    md = decode_ledger_metadata(b"BookieMetadataFormatVersion\t1\n2\n3\n0\n0\ta:1\tb:2\tc:3\n"
                                b"-102\tCLOSED")
    assert md.state == LedgerState.IN_RECOVERY and md.ack_quorum == 2
    assert md.segments == (Segment(0, ("a:1", "b:2", "c:3")),)


def test_ledger_paths() -> None:
    assert ledger_path("/ledgers", 123456789) == "/ledgers/01/2345/L6789"
    assert ledger_path("/ledgers/", 0) == "/ledgers/00/0000/L0000"
    assert ledger_path("/x/ledgers", 2**31 - 2) == "/x/ledgers/21/4748/L3646"
    assert ledger_path("/ledgers", 2**31 - 1) == "/ledgers/000/0000/0021/4748/L3647"


def test_write_sets_and_coverage() -> None:
    assert write_set(0, 3, 2) == (0, 1) and write_set(2, 3, 2) == (2, 0)
    assert covered(3, 2, 2, {0})  # each write set still has one answer
    assert not covered(3, 2, 2, {0, 1})  # write set (0,1) heard from nobody
    assert not covered(3, 2, 1, {2})  # A=1: one silent bookie may hold an acked entry
    assert covered(3, 3, 2, {1}) and not covered(3, 3, 2, {0, 2})


def test_bookie_address_from_registration_or_id() -> None:
    data = encode_bookie_service_info("10.0.0.7", 4181, "bookie")
    assert decode_bookie_address("some-id", data) == ("10.0.0.7", 4181)
    assert decode_bookie_address("127.0.0.1:3181", b"") == ("127.0.0.1", 3181)
    assert decode_bookie_address("127.0.0.1:3181", b"\xff\xff") == ("127.0.0.1", 3181)
    with pytest.raises(ValueError):
        decode_bookie_address("no-port", b"")
