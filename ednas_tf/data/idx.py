"""Reader for the IDX format of (Fashion-)MNIST, with numpy only.

IDX: 2 zero bytes, a type byte, a dimension-count byte, one big-endian uint32 per dimension, then
the data. We check all of it so that a truncated download fails loudly instead of training on junk.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ednas_tf.data.errors import DatasetFormatError

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, *, where: str = "IDX data") -> np.ndarray:
    """Parse raw (uncompressed) IDX bytes into an array of the declared type and shape."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetFormatError(f"{where}: not an IDX file (bad magic number {data[:4].hex()!r})")
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(f"{where}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetFormatError(
            f"{where}: IDX header declares shape {shape} ({expected} bytes of data) but the file "
            f"has {len(data) - header} bytes of data (truncated or corrupt)"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx_gz(path: Path, *, expected_ndim: int) -> np.ndarray:
    """Read a gzip-compressed IDX file and check its number of dimensions."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetFormatError(f"{path}: corrupt gzip file ({err})") from err
    array = parse_idx(data, where=str(path))
    if array.ndim != expected_ndim:
        raise DatasetFormatError(
            f"{path}: expected {expected_ndim} dimensions, got shape {array.shape}"
        )
    return array
