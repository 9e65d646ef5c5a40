"""A small reader for TensorFlow checkpoints (the v2 "tensor bundle" format), no TensorFlow needed.

A checkpoint is ``<prefix>.index`` plus ``<prefix>.data-00000-of-00001``. The index is a sorted
string table (LevelDB's SSTable layout): prefix-compressed key/value blocks, an index block of
block handles, and a 48-byte footer. Each value is a serialized ``BundleEntryProto`` saying where
in the data file a tensor's raw little-endian bytes are, with its dtype and shape. We read only
what musicnn's checkpoints use: uncompressed blocks, one data shard, numeric dtypes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48
_BLOCK_TRAILER = 5  # compression type byte + masked crc32c
# tensorflow/core/framework/types.proto enum values we can map to numpy
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 19: np.float16}


class CheckpointError(ValueError):
    """The files are not a checkpoint this reader understands."""


@dataclass(frozen=True)
class Entry:
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message: varints as int, lengths as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((field, value))
        elif wire == 2:
            n, pos = _varint(buf, pos)
            out.append((field, buf[pos:pos + n]))
            pos += n
        elif wire == 5:
            out.append((field, struct.unpack_from("<I", buf, pos)[0]))
            pos += 4
        elif wire == 1:
            out.append((field, struct.unpack_from("<Q", buf, pos)[0]))
            pos += 8
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
    return out


def _entry(value: bytes) -> Entry:
    dtype = shard = offset = size = 0
    shape: list[int] = []
    for field, v in _proto_fields(value):
        if field == 1:
            dtype = int(v)  # type: ignore[arg-type]
        elif field == 2:
            for f2, dim in _proto_fields(v):  # type: ignore[arg-type]
                if f2 == 2:
                    shape.append(next((int(x) for f3, x in _proto_fields(dim)  # type: ignore
                                       if f3 == 1), 0))
        elif field == 3:
            shard = int(v)  # type: ignore[arg-type]
        elif field == 4:
            offset = int(v)  # type: ignore[arg-type]
        elif field == 5:
            size = int(v)  # type: ignore[arg-type]
        elif field == 7:
            raise CheckpointError("sliced (partitioned) tensors are not supported")
    return Entry(dtype, tuple(shape), shard, offset, size)


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The key/value pairs of one table block (keys are delta-encoded against the previous)."""
    if data[offset + size] != 0:
        raise CheckpointError("compressed checkpoint index blocks are not supported")
    block = data[offset:offset + size]
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    pairs: list[tuple[bytes, bytes]] = []
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        pairs.append((key, block[pos:pos + vlen]))
        pos += vlen
    return pairs


def read_index(index_path: str | Path) -> dict[str, Entry]:
    """Tensor name -> where and what it is, from a checkpoint's ``.index`` file."""
    data = Path(index_path).read_bytes()
    if len(data) < _FOOTER_LEN or struct.unpack("<Q", data[-8:])[0] != _MAGIC:
        raise CheckpointError(f"{index_path} is not a TensorFlow checkpoint index")
    footer = data[-_FOOTER_LEN:]
    _, pos = _varint(footer, 0)  # metaindex handle: unused
    _, pos = _varint(footer, pos)
    idx_off, pos = _varint(footer, pos)
    idx_size, pos = _varint(footer, pos)
    entries: dict[str, Entry] = {}
    for _, handle in _block(data, idx_off, idx_size):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block(data, off, size):
            if key:  # the empty key holds the BundleHeaderProto
                entries[key.decode()] = _entry(value)
    return entries


def load_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at `prefix` (``prefix + ".index"`` etc.) as numpy arrays."""
    prefix = str(prefix)
    entries = read_index(prefix + ".index")
    shards = {e.shard for e in entries.values()}
    n_shards = max(shards, default=0) + 1
    blobs = {s: Path(f"{prefix}.data-{s:05d}-of-{n_shards:05d}").read_bytes() for s in shards}
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if e.dtype not in _DTYPES:
            continue  # strings, resources: not weights
        dt = np.dtype(_DTYPES[e.dtype]).newbyteorder("<")
        raw = blobs[e.shard][e.offset:e.offset + e.size]
        count = int(np.prod(e.shape)) if e.shape else 1
        if len(raw) != count * dt.itemsize:
            raise CheckpointError(f"tensor {name}: {len(raw)} bytes for shape {e.shape}")
        out[name] = np.frombuffer(raw, dtype=dt).reshape(e.shape).astype(dt.newbyteorder("="))
    return out
