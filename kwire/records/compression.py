"""The compression codecs of v2 record batches (attributes bits 0-2), via cramjam.

The payload after the 61-byte batch header is one compressed stream holding the
records back to back. What each codec's stream looks like in practice:

- gzip: an RFC 1952 stream (Java's GZIPOutputStream, zlib in librdkafka).
- snappy: three framings are about. Java's producer (snappy-java's
  SnappyOutputStream), kafka-python and aiokafka write xerial framing: the
  16-byte header b"\\x82SNAPPY\\x00" + int32 version + int32 compat, then blocks
  of big-endian int32 length + raw snappy. librdkafka (confluent-kafka) writes
  one raw snappy block. Kafka's own readers (Java, librdkafka, kafka-python)
  accept those two and tell them apart by the xerial magic; we do the same, and
  also accept Google's snappy framing format (stream identifier chunk
  b"\\xff\\x06\\x00\\x00sNaPpY"), which no Kafka client is known to write.
- lz4: the LZ4 frame format with a correct header checksum (KIP-57; v2 batches
  never carry the broken pre-0.10 checksum) and independent blocks.
- zstd: one or more zstd frames, with or without the content size.

`decompress` raises BatchError (CORRUPT_MESSAGE) for bytes the codec cannot read.
"""

from __future__ import annotations

import struct
from typing import Final

import cramjam

from kwire.records.batch import BatchError, Buffer, Compression

XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
_XERIAL_HEADER: Final = struct.Struct(">8sii")
_XERIAL_VERSION: Final = 1
_XERIAL_COMPAT: Final = 1
# snappy-java's default block size, which Kafka's SnappyOutputStream uses.
_XERIAL_BLOCK_SIZE: Final = 32 * 1024
_INT32: Final = struct.Struct(">i")
_SNAPPY_FRAMED_MAGIC: Final = b"\xff\x06\x00\x00sNaPpY"


def decompress(codec: Compression, data: Buffer) -> bytes:
    """The records bytes of a batch payload compressed with `codec`."""
    if codec == Compression.NONE:
        return bytes(data)
    try:
        if codec == Compression.GZIP:
            return bytes(cramjam.gzip.decompress(data))
        if codec == Compression.SNAPPY:
            return _snappy_decompress(data)
        if codec == Compression.LZ4:
            return bytes(cramjam.lz4.decompress(data))
        if codec == Compression.ZSTD:
            return bytes(cramjam.zstd.decompress(data))
    except cramjam.DecompressionError as exc:
        raise BatchError(f"cannot decompress {codec.name} records: {exc}") from exc
    raise ValueError(f"unknown compression codec {codec!r}")


# Kafka's default levels (CompressionType.*.defaultLevel; the topic configs
# compression.gzip.level, compression.lz4.level, compression.zstd.level).
GZIP_DEFAULT_LEVEL: Final = -1  # Deflater.DEFAULT_COMPRESSION, zlib's level 6
LZ4_DEFAULT_LEVEL: Final = 9
ZSTD_DEFAULT_LEVEL: Final = 3
_ZLIB_DEFAULT_LEVEL: Final = 6


def compress(codec: Compression, data: Buffer, level: int | None = None) -> bytes:
    """`data` compressed as the Java producer would: gzip, snappy in xerial
    framing, lz4 frames with independent 64 KiB blocks, or zstd.

    `level` is Kafka's level for that codec (None: Kafka's default); snappy has none.
    """
    if codec == Compression.NONE:
        return bytes(data)
    if codec == Compression.GZIP:
        gzip_level = _ZLIB_DEFAULT_LEVEL if level in (None, GZIP_DEFAULT_LEVEL) else level
        return bytes(cramjam.gzip.compress(data, level=gzip_level))
    if codec == Compression.SNAPPY:
        return _xerial_compress(data)
    if codec == Compression.LZ4:
        # Kafka's KafkaLZ4BlockInputStream decodes each block on its own, so blocks
        # must not refer back to earlier ones (cramjam's one-shot compress links them).
        # Kafka's Lz4BlockOutputStream uses lz4's fast compressor at the default
        # level and the high-compression one (LZ4 HC) at any other level.
        lz4_level = 0 if level in (None, LZ4_DEFAULT_LEVEL) else level
        compressor = cramjam.lz4.Compressor(
            level=lz4_level, content_checksum=False, block_linked=False)
        compressor.compress(data if isinstance(data, bytes) else bytes(data))  # bytes only
        return bytes(compressor.finish())
    if codec == Compression.ZSTD:
        zstd_level = ZSTD_DEFAULT_LEVEL if level is None else level
        return bytes(cramjam.zstd.compress(data, level=zstd_level))
    raise ValueError(f"unknown compression codec {codec!r}")


def is_xerial(data: Buffer) -> bool:
    """Whether a snappy payload is in xerial framing (the check Kafka's readers make)."""
    return bytes(memoryview(data)[: len(XERIAL_MAGIC)]) == XERIAL_MAGIC


def _snappy_decompress(data: Buffer) -> bytes:
    if is_xerial(data):
        return _xerial_decompress(data)
    if bytes(memoryview(data)[: len(_SNAPPY_FRAMED_MAGIC)]) == _SNAPPY_FRAMED_MAGIC:
        return bytes(cramjam.snappy.decompress(data))
    return bytes(cramjam.snappy.decompress_raw(data))


def _xerial_decompress(data: Buffer) -> bytes:
    # The version and compat ints are ignored, as kafka-python does: every xerial
    # stream in the wild is version 1, and some writers (Redpanda) put them
    # little-endian.
    view = memoryview(data)
    if len(view) < _XERIAL_HEADER.size:
        raise BatchError("snappy xerial header truncated")
    out = bytearray()
    pos = _XERIAL_HEADER.size
    while pos < len(view):
        if len(view) - pos < _INT32.size:
            raise BatchError("snappy xerial block length truncated")
        (length,) = _INT32.unpack_from(view, pos)
        pos += _INT32.size
        if length < 0 or length > len(view) - pos:
            raise BatchError(f"snappy xerial block of {length} bytes runs past the payload")
        out += cramjam.snappy.decompress_raw(view[pos : pos + length])
        pos += length
    return bytes(out)


def _xerial_compress(data: Buffer) -> bytes:
    view = memoryview(data)
    out = bytearray(_XERIAL_HEADER.pack(XERIAL_MAGIC, _XERIAL_VERSION, _XERIAL_COMPAT))
    for start in range(0, len(view), _XERIAL_BLOCK_SIZE):
        block = cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_SIZE])
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)
