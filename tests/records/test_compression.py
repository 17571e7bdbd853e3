"""Codecs: round trips, the framings each client writes, and real client batches
(decompressed, and searched by timestamp).

CLIENT_BATCHES are batches real producers sent, as kwire stored them: Java
(kafka-clients 4.1.2), librdkafka 2.16 (confluent-kafka), kafka-python 3.0.12
and aiokafka 0.14, each producing seven records k0..k6 with values
`value-<i>-` + 40 x's and the out-of-order CreateTime timestamps T + TS_DELTAS,
to partition 0 of a fresh topic, with compression.type gzip/snappy/lz4/zstd.
(librdkafka only compresses lz4 for a broker that advertises FindCoordinator,
so its lz4 batch went through a proxy adding that to ApiVersions.)
"""

from __future__ import annotations

import dataclasses
import random
import struct

import aiokafka.codec  # type: ignore[import-untyped]
import cramjam
import kafka.codec  # type: ignore[import-untyped]
import pytest

from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    LOG_OVERHEAD,
    BatchError,
    Compression,
    pack_header,
    parse_header,
    set_log_append_time,
)
from kwire.records.builder import decode_records
from kwire.records.compression import XERIAL_MAGIC, compress, decompress, is_xerial
from kwire.records.timestamps import (
    first_record_at_or_after,
    max_timestamp_record,
    record_timestamps,
)

CODECS = [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD]
T = 1_700_000_000_000
TS_DELTAS = [50, 10, 30, 10, 70, 70, 20]

SAMPLES = {
    "empty": b"",
    "one byte": b"x",
    "all bytes": bytes(range(256)) * 3,
    # Over snappy-java's 32 KiB xerial blocks and lz4's 64 KiB frame blocks.
    "repetitive 120k": b"kwire record " * 10_000,
    "random 100k": random.Random(7).randbytes(100_000),
}

_CLIENT_HEX: dict[tuple[str, str], tuple[str, ...]] = {
    ("java", "gzip"): (
        "0000000000000000000000970000000002d9f9c1ad0001000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff000000071f8b08000000000000ff2b60606060c93648284bcc294dd535d0ad"
        "2012301430f833b1641b42351a92a2519d8525db08aad188241bd958b28da11a8d49d1a8c1c1926d02d56842"
        "92462e966c53a8465352345af3b0649b41359a11af110028033b4c8f010000"
    ),
    ("java", "snappy"): (
        "0000000000000000000000ac0000000002d9bc57010002000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff0000000782534e41505059000000000100000001000000678f034070000000"
        "046b306076616c75652d302d789a01001c0070004f02046b310d390031ae3900102704046b320d390032ae39"
        "00104f06046b330d390033ae3900102808046b340d390034b239000c0a046b350d390035ae3900103b0c046b"
        "360d390036a63900"
    ),
    ("java", "lz4"): (
        "0000000000000000000000ac0000000002fedf63320003000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff0000000704224d186040826c000000ff0270000000046b306076616c75652d"
        "302d78010014830070004f02046b3139001f31390019532704046b3239001f32390019534f06046b3339001f"
        "33390019532808046b3439001f3439001a430a046b3539001f35390019533b0c046b3639001f363900125078"
        "7878780000000000"
    ),
    ("java", "zstd"): (
        "0000000000000000000000940000000002a56871080004000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff0000000728b52ffd0058bc0200740370000000046b306076616c75652d302d"
        "780070004f02046b31312704046b32324f06046b33332808046b34340a046b35353b0c046b36360d00011420"
        "d38061c04d8161c07d012380ab01c380fb024670e5f24ab004010000"
    ),
    ("librdkafka", "gzip"): (
        "0000000000000000000000970000000002d0effae30001000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff000000071f8b08000000000000032b60606060c93648284bcc294dd535d0ad"
        "2012301430f833b1641b42351a92a2519d8525db08aad188241bd958b28da11a8d49d1a8c1c1926d02d56842"
        "92462e966c53a8465352345af3b0649b41359a11af110028033b4c8f010000"
    ),
    ("librdkafka", "snappy"): (
        "000000000000000000000098000000000205f606100002000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff000000078f034070000000046b306076616c75652d302d789a01001c007000"
        "4f02046b310d390031ae3900102704046b320d390032ae3900104f06046b330d390033ae3900102808046b34"
        "0d390034b239000c0a046b350d390035ae3900103b0c046b360d390036a63900"
    ),
    ("librdkafka", "lz4"): (
        "0000000000000000000000ac0000000002fedf63320003000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff0000000704224d186040826c000000ff0270000000046b306076616c75652d"
        "302d78010014830070004f02046b3139001f31390019532704046b3239001f32390019534f06046b3339001f"
        "33390019532808046b3439001f3439001a430a046b3539001f35390019533b0c046b3639001f363900125078"
        "7878780000000000"
    ),
    ("librdkafka", "zstd"): (
        "00000000000000000000009100000000020ff255f80004000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffffffffffff0000000728b52ffd0058bd0200740370000000046b306076616c75652d302d"
        "780070004f02046b31312704046b32324f06046b33332808046b34340a046b35353b0c046b36360d00011420"
        "d38061c04d8161c07d012380ab01c380fb024670e5f24ab004"
    ),
    ("kafka-python", "gzip"): (
        "000000000000000000000097000000000298dbb5c50001000000060000018bcfe568320000018bcfe5684600"
        "00000000000000000000000000000000071f8b08000e49086b02ff2b60606060c93648284bcc294dd535d0ad"
        "2012301430f833b1641b42351a92a2519d8525db08aad188241bd958b28da11a8d49d1a8c1c1926d02d56842"
        "92462e966c53a8465352345af3b0649b41359a11af110028033b4c8f010000"
    ),
    ("kafka-python", "snappy"): (
        "0000000000000000000000ac0000000002bed5a11f0002000000060000018bcfe568320000018bcfe5684600"
        "000000000000010000000000000000000782534e41505059000000000100000001000000678f034070000000"
        "046b306076616c75652d302d789a01001c0070004f02046b310d390031ae3900102704046b320d390032ae39"
        "00104f06046b330d390033ae3900102808046b340d390034b239000c0a046b350d390035ae3900103b0c046b"
        "360d390036a63900"
    ),
    ("kafka-python", "lz4"): (
        "0000000000000000000000b400000000021b48eb300003000000060000018bcfe568320000018bcfe5684600"
        "000000000000020000000000000000000704224d1868408f01000000000000cb6c000000ff0270000000046b"
        "306076616c75652d302d78010014830070004f02046b3139001f31390019532704046b3239001f3239001953"
        "4f06046b3339001f33390019532808046b3439001f3439001a430a046b3539001f35390019533b0c046b3639"
        "001f3639001250787878780000000000"
    ),
    ("kafka-python", "zstd"): (
        "000000000000000000000092000000000226ab851a0004000000060000018bcfe568320000018bcfe5684600"
        "000000000000030000000000000000000728b52ffd608f00bd0200740370000000046b306076616c75652d30"
        "2d780070004f02046b31312704046b32324f06046b33332808046b34340a046b35353b0c046b36360d000114"
        "20d38061c04d8161c07d012380ab01c380fb024670e5f24ab004"
    ),
    ("aiokafka", "gzip"): (
        "00000000000000000000009700000000025255c78b0001000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffff00000000000000071f8b08000e49086b02ff2b60606060c93648284bcc294dd535d0ad"
        "2012301430f833b1641b42351a92a2519d8525db08aad188241bd958b28da11a8d49d1a8c1c1926d02d56842"
        "92462e966c53a8465352345af3b0649b41359a11af110028033b4c8f010000"
    ),
    ("aiokafka", "snappy"): (
        "0000000000000000000000ac000000000292d9d1c50002000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffff000000000000000782534e41505059000000000100000001000000678f034070000000"
        "046b306076616c75652d302d789a01001c0070004f02046b310d390031ae3900102704046b320d390032ae39"
        "00104f06046b330d390033ae3900102808046b340d390034b239000c0a046b350d390035ae3900103b0c046b"
        "360d390036a63900"
    ),
    ("aiokafka", "lz4"): (
        "0000000000000000000000af000000000248c0cea50003000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffff000000000000000704224d187040ad6b000000ff0270000000046b306076616c75652d"
        "302d78010014830070004f02046b3139001f31390019532704046b3239001f3272001a4306046b3339001f33"
        "390019532808046b3439001f3439001a430a046b3539001f35390019533b0c046b3639001f36390012507878"
        "7878007ae6fa0e00000000"
    ),
    ("aiokafka", "zstd"): (
        "0000000000000000000000920000000002970023530004000000060000018bcfe568320000018bcfe56846ff"
        "ffffffffffffffffff000000000000000728b52ffd608f00bd0200740370000000046b306076616c75652d30"
        "2d780070004f02046b31312704046b32324f06046b33332808046b34340a046b35353b0c046b36360d000114"
        "20d38061c04d8161c07d012380ab01c380fb024670e5f24ab004"
    ),
}
CLIENT_BATCHES = {key: bytes.fromhex("".join(parts)) for key, parts in _CLIENT_HEX.items()}
CODEC_BY_NAME = {"gzip": Compression.GZIP, "snappy": Compression.SNAPPY,
                 "lz4": Compression.LZ4, "zstd": Compression.ZSTD}


def uncompressed_copy(batch: bytes) -> bytes:
    """The same batch with its payload decompressed and the codec bits cleared,
    so builder.decode_records can read it."""
    header = parse_header(batch)
    payload = decompress(header.compression, batch[BATCH_HEADER_SIZE : header.size])
    out = bytearray(BATCH_HEADER_SIZE)
    pack_header(out, 0, dataclasses.replace(
        header,
        attributes=header.attributes & ~COMPRESSION_MASK,
        batch_length=BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload),
    ))
    return bytes(out + payload)


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("codec", [Compression.NONE, *CODECS], ids=lambda c: c.name)
@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip(codec: Compression, name: str) -> None:
    data = SAMPLES[name]
    packed = compress(codec, data)
    assert isinstance(packed, bytes)
    for view in (packed, bytearray(packed), memoryview(packed)):
        out = decompress(codec, view)
        assert isinstance(out, bytes)
        assert out == data
    if codec != Compression.NONE and name.startswith("repetitive"):
        assert len(packed) < len(data) // 10


def test_none_is_identity() -> None:
    assert compress(Compression.NONE, memoryview(b"abc")) == b"abc"
    assert decompress(Compression.NONE, bytearray(b"abc")) == b"abc"


# -- what our compress writes --------------------------------------------------


def test_snappy_compress_writes_xerial_framing_like_java() -> None:
    data = SAMPLES["random 100k"]
    packed = compress(Compression.SNAPPY, data)
    assert packed[:16] == XERIAL_MAGIC + struct.pack(">ii", 1, 1)
    assert is_xerial(packed)
    pos, blocks = 16, []
    while pos < len(packed):
        (length,) = struct.unpack_from(">i", packed, pos)
        blocks.append(bytes(cramjam.snappy.decompress_raw(packed[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    assert pos == len(packed)
    assert [len(b) for b in blocks] == [32768, 32768, 32768, 100_000 - 3 * 32768]
    assert b"".join(blocks) == data


def test_lz4_compress_writes_independent_blocks_like_java() -> None:
    packed = compress(Compression.LZ4, SAMPLES["random 100k"])
    assert packed[:4] == b"\x04\x22\x4d\x18"
    flg, bd = packed[4], packed[5]
    assert flg >> 6 == 0b01  # frame version 1
    assert flg & 0x20  # block independence: Kafka's reader decodes blocks one by one
    assert not flg & 0x01  # no preset dictionary
    assert bd == 0x40  # 64 KiB blocks, as KafkaLZ4BlockOutputStream writes


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("client", [kafka.codec, aiokafka.codec], ids=["kafka-python", "aiokafka"])
def test_client_decoders_read_our_output(codec: Compression, client: object) -> None:
    decode = getattr(client, f"{codec.name.lower()}_decode")
    for data in SAMPLES.values():
        if data:
            assert bytes(decode(compress(codec, data))) == data


# -- what clients write --------------------------------------------------------


@pytest.mark.parametrize("client", [kafka.codec, aiokafka.codec], ids=["kafka-python", "aiokafka"])
def test_we_read_client_encoders(client: object) -> None:
    for data in SAMPLES.values():
        if not data:
            continue
        assert decompress(Compression.GZIP, client.gzip_encode(data)) == data  # type: ignore[attr-defined]
        assert decompress(Compression.LZ4, client.lz4_encode(data)) == data  # type: ignore[attr-defined]
        assert decompress(Compression.ZSTD, client.zstd_encode(data)) == data  # type: ignore[attr-defined]
        for xerial in (True, False):
            packed = client.snappy_encode(data, xerial_compatible=xerial)  # type: ignore[attr-defined]
            assert is_xerial(packed) == xerial
            assert decompress(Compression.SNAPPY, packed) == data


def test_snappy_reads_every_framing() -> None:
    data = SAMPLES["repetitive 120k"]
    raw = bytes(cramjam.snappy.compress_raw(data))  # librdkafka
    framed = bytes(cramjam.snappy.compress(data))  # Google's framing format
    assert framed.startswith(b"\xff\x06\x00\x00sNaPpY")
    xerial = compress(Compression.SNAPPY, data)
    # Redpanda writes the xerial version and compat ints little-endian.
    xerial_le = XERIAL_MAGIC + struct.pack("<ii", 1, 1) + xerial[16:]
    for packed in (raw, framed, xerial, xerial_le):
        assert decompress(Compression.SNAPPY, packed) == data


def test_multi_member_gzip_and_multi_frame_zstd_and_lz4() -> None:
    a, b = b"first " * 100, b"second " * 100
    for codec in (Compression.GZIP, Compression.ZSTD, Compression.LZ4):
        assert decompress(codec, compress(codec, a) + compress(codec, b)) == a + b


@pytest.mark.parametrize(
    ("codec", "data"),
    [
        (Compression.GZIP, b"not gzip at all"),
        (Compression.GZIP, compress(Compression.GZIP, b"abc" * 100)[:-10]),
        (Compression.SNAPPY, b"\x05not snappy"),
        (Compression.SNAPPY, XERIAL_MAGIC + b"\x00\x00"),  # header cut short
        (Compression.SNAPPY, compress(Compression.SNAPPY, b"abc" * 100)[:-3]),
        (Compression.SNAPPY, compress(Compression.SNAPPY, b"abc")[:18]),  # length cut short
        (Compression.SNAPPY, XERIAL_MAGIC + struct.pack(">iii", 1, 1, -1)),
        (Compression.LZ4, b"not lz4 at all"),
        (Compression.LZ4, compress(Compression.LZ4, b"abc" * 100)[:-6]),
        (Compression.ZSTD, b"not zstd at all"),
        (Compression.ZSTD, compress(Compression.ZSTD, b"abc" * 100)[:-4]),
    ],
)
def test_corrupt_payload_is_a_batch_error(codec: Compression, data: bytes) -> None:
    with pytest.raises(BatchError):
        decompress(codec, data)


def test_lz4_header_checksum_is_checked() -> None:
    # v2 batches always carry the correct checksum (KIP-57); a wrong one is corrupt.
    packed = bytearray(compress(Compression.LZ4, b"abc" * 100))
    packed[6] ^= 0xFF
    with pytest.raises(BatchError):
        decompress(Compression.LZ4, bytes(packed))


# -- real client batches -------------------------------------------------------


@pytest.mark.parametrize("key", CLIENT_BATCHES, ids="-".join)
def test_real_client_batches_decompress(key: tuple[str, str]) -> None:
    batch = CLIENT_BATCHES[key]
    header = parse_header(batch)
    assert header.compression == CODEC_BY_NAME[key[1]]
    records = decode_records(uncompressed_copy(batch))
    assert [r.key for r in records] == [b"k%d" % i for i in range(7)]
    assert [r.value for r in records] == [f"value-{i}-".encode() + b"x" * 40 for i in range(7)]
    assert [r.offset for r in records] == list(range(7))
    assert [r.timestamp - T for r in records] == TS_DELTAS


def test_snappy_framing_by_client() -> None:
    """Java, kafka-python and aiokafka write xerial framing; librdkafka raw snappy."""
    payloads = {
        client: CLIENT_BATCHES[client, "snappy"][BATCH_HEADER_SIZE:]
        for client in ("java", "librdkafka", "kafka-python", "aiokafka")
    }
    assert is_xerial(payloads["java"])
    assert is_xerial(payloads["kafka-python"])
    assert is_xerial(payloads["aiokafka"])
    assert not is_xerial(payloads["librdkafka"])
    raw = payloads["librdkafka"]
    assert bytes(cramjam.snappy.decompress_raw(raw)) == decompress(Compression.SNAPPY, raw)


@pytest.mark.parametrize("key", CLIENT_BATCHES, ids="-".join)
def test_real_client_batches_timestamp_lookups(key: tuple[str, str]) -> None:
    batch = CLIENT_BATCHES[key]
    expected = [(i, T + d) for i, d in enumerate(TS_DELTAS)]
    assert list(record_timestamps(batch)) == expected
    for target in range(T - 5, T + 80, 5):
        brute = next(((o, t) for o, t in expected if t >= target), None)
        assert first_record_at_or_after(batch, target) == brute
    # The first record by offset, not the one with the closest timestamp.
    assert first_record_at_or_after(batch, T + 10) == (0, T + 50)
    assert first_record_at_or_after(batch, T + 51) == (4, T + 70)
    assert first_record_at_or_after(batch, T + 71) is None
    assert first_record_at_or_after(batch, T + 10, min_offset=1) == (1, T + 10)
    assert first_record_at_or_after(batch, T + 31, min_offset=1) == (4, T + 70)
    assert max_timestamp_record(batch) == (4, T + 70)  # first of the two at T+70

    appended = bytearray(batch)
    set_log_append_time(appended, 0, T + 1000)
    assert list(record_timestamps(appended)) == [(i, T + 1000) for i in range(7)]
    assert first_record_at_or_after(appended, T + 60) == (0, T + 1000)
    assert first_record_at_or_after(appended, T + 1001) is None
    assert max_timestamp_record(appended) == (0, T + 1000)
