"""A small reader for MATLAB Level 5 MAT-files (v5 / v7), NumPy only.

It covers the subset that hand datasets use (STB's `B*_SK.mat` hold one
`handPara` matrix): real and complex numeric arrays of any class, logical
arrays and char arrays, compressed (`miCOMPRESSED`, v7) or not, little- or
big-endian. Cell arrays, structs, sparse matrices and objects are skipped
(asking for one by name is an error). v7.3 files are HDF5 and not supported.

Format (MathWorks, "MAT-File Format", Level 5): a 128-byte header (116 bytes
of text, 8 bytes of subsystem offset, a 2-byte version 0x0100 and the
2-byte endian indicator "IM" / "MI"), then data elements. Each element has an
8-byte tag (uint32 data type, uint32 byte count) and its data padded to 8
bytes; a tag whose upper 16 bits are non-zero is the "small data element"
format (byte count in the upper half, data in the next 4 bytes). A variable
is an `miMATRIX` element with subelements: array flags (class in the low
byte, complex 0x0800, logical 0x0200), dimensions (int32), name (int8), real
part, imaginary part — stored column-major and possibly in a smaller type
than the class (e.g. a double matrix of integers written as uint8).
`miCOMPRESSED` elements hold one zlib-compressed element.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib

import numpy as np

from hiu_tf.errors import UserError

logger = logging.getLogger(__name__)

# MAT-file data types.
_MI_TYPES = {
    1: "i1",  # miINT8
    2: "u1",  # miUINT8
    3: "i2",  # miINT16
    4: "u2",  # miUINT16
    5: "i4",  # miINT32
    6: "u4",  # miUINT32
    7: "f4",  # miSINGLE
    9: "f8",  # miDOUBLE
    12: "i8",  # miINT64
    13: "u8",  # miUINT64
    16: "u1",  # miUTF8
    17: "u2",  # miUTF16
    18: "u4",  # miUTF32
}
_MI_MATRIX = 14
_MI_COMPRESSED = 15
# MATLAB array classes -> NumPy dtypes (numeric) or names (others).
_MX_NUMERIC = {
    6: "f8",  # mxDOUBLE
    7: "f4",  # mxSINGLE
    8: "i1",
    9: "u1",
    10: "i2",
    11: "u2",
    12: "i4",
    13: "u4",
    14: "i8",
    15: "u8",
}
_MX_CHAR = 4
_MX_OTHER = {1: "cell", 2: "struct", 3: "object", 5: "sparse", 16: "function", 17: "opaque"}
_FLAG_COMPLEX = 0x0800
_FLAG_LOGICAL = 0x0200


class MatFileError(UserError, ValueError):
    """A file that is not a readable Level 5 MAT-file, or a missing variable."""


class _Unsupported:
    def __init__(self, kind: str):
        self.kind = kind


def _elements(buf: bytes, order: str, where: str):
    """Yields `(data_type, payload bytes)` for each data element in `buf`."""
    pos = 0
    n = len(buf)
    while pos + 8 <= n:
        mtype, nbytes = struct.unpack_from(order + "II", buf, pos)
        if mtype >> 16:  # small data element: 2-byte count, 2-byte type, 4 bytes of data
            nbytes, mtype = mtype >> 16, mtype & 0xFFFF
            if nbytes > 4:
                raise MatFileError(f"{where}: corrupt small data element ({nbytes} bytes)")
            yield mtype, buf[pos + 4 : pos + 4 + nbytes]
            pos += 8
            continue
        start = pos + 8
        end = start + nbytes
        if end > n:
            raise MatFileError(
                f"{where}: truncated data element (needs {nbytes} bytes, {n - start} left)"
            )
        yield mtype, buf[start:end]
        # Elements are padded to 8 bytes; compressed ones are not.
        pos = end if mtype == _MI_COMPRESSED else start + ((nbytes + 7) // 8) * 8


def _numeric(mtype: int, payload: bytes, order: str, where: str) -> np.ndarray:
    if mtype not in _MI_TYPES:
        raise MatFileError(f"{where}: unexpected data type {mtype} in a numeric subelement")
    dtype = np.dtype(_MI_TYPES[mtype]).newbyteorder(order)
    if len(payload) % dtype.itemsize:
        raise MatFileError(f"{where}: {len(payload)} bytes is not a multiple of {dtype}")
    return np.frombuffer(payload, dtype=dtype)


def _matrix(payload: bytes, order: str, where: str) -> tuple[str, object]:
    """Parses an miMATRIX payload into `(name, array or _Unsupported)`."""
    if not payload:
        return "", np.zeros((0, 0))
    subs = list(_elements(payload, order, where))
    if len(subs) < 3:
        raise MatFileError(f"{where}: a matrix element needs flags, dimensions and a name")
    flags = _numeric(*subs[0], order, where)
    dims = tuple(int(d) for d in _numeric(*subs[1], order, where))
    name = bytes(subs[2][1]).decode("ascii", errors="replace")
    mx_class = int(flags[0]) & 0xFF
    if mx_class in _MX_OTHER:
        return name, _Unsupported(_MX_OTHER[mx_class])
    if mx_class == _MX_CHAR:
        if len(subs) < 4:
            return name, ""
        codes = _numeric(*subs[3], order, where)
        if subs[3][0] == 16:  # miUTF8
            return name, bytes(codes).decode("utf-8", errors="replace")
        chars = np.asarray(codes, dtype=np.uint32).reshape(dims, order="F")
        rows = ["".join(map(chr, row)) for row in np.atleast_2d(chars)]
        return name, rows[0] if len(rows) == 1 else rows
    if mx_class not in _MX_NUMERIC:
        return name, _Unsupported(f"class {mx_class}")
    if len(subs) < 4:
        raise MatFileError(f"{where}: variable {name!r} has no data")
    real = _numeric(*subs[3], order, where).astype(_MX_NUMERIC[mx_class])
    if int(flags[0]) & _FLAG_COMPLEX:
        if len(subs) < 5:
            raise MatFileError(f"{where}: complex variable {name!r} without an imaginary part")
        imag = _numeric(*subs[4], order, where).astype(_MX_NUMERIC[mx_class])
        real = real + 1j * imag
    count = int(np.prod(dims)) if dims else 0
    if real.size != count:
        raise MatFileError(
            f"{where}: variable {name!r} has {real.size} values for dimensions {list(dims)}"
        )
    array = real.reshape(dims, order="F")
    if int(flags[0]) & _FLAG_LOGICAL:
        array = array.astype(bool)
    return name, array


def load_mat(path: str | os.PathLike, variable_names: list[str] | None = None) -> dict:
    """Reads the numeric and char variables of a Level 5 MAT-file.

    Args:
        path: the `.mat` file.
        variable_names: read only these (each must exist and be supported);
            None reads all supported variables and skips the others.

    Returns:
        `{name: array}`: NumPy arrays in their MATLAB shape (column-major data
        reshaped, so `a[i, j, k]` is MATLAB's `a(i+1, j+1, k+1)`), in the class's
        dtype (double -> float64); char arrays as `str` (or a list of rows).

    Raises:
        MatFileError: not a Level 5 MAT-file, corrupt, or a requested variable
            missing or unsupported.
        FileNotFoundError: no such file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 128:
        raise MatFileError(f"{path} is too short to be a MAT-file ({len(data)} bytes)")
    text = data[:116].decode("latin1", errors="replace")
    endian = data[126:128]
    if text.startswith("MATLAB 7.3") or data[512:520] == b"\x89HDF\r\n\x1a\n":
        raise MatFileError(
            f"{path} is a MAT-file v7.3 (HDF5), which this reader does not support; "
            "re-save it with save(..., '-v7')"
        )
    if endian not in (b"IM", b"MI") or not text.startswith("MATLAB"):
        raise MatFileError(
            f"{path} is not a Level 5 MAT-file (no 'MATLAB 5.0 MAT-file' header); "
            "Level 4 files are not supported"
        )
    order = "<" if endian == b"IM" else ">"
    wanted = set(variable_names) if variable_names is not None else None
    out: dict = {}
    for mtype, payload in _elements(data[128:], order, path):
        if mtype == _MI_COMPRESSED:
            try:
                inner = zlib.decompress(payload)
            except zlib.error as e:
                raise MatFileError(f"{path}: corrupt compressed element: {e}") from e
            elements = list(_elements(inner, order, path))
        else:
            elements = [(mtype, payload)]
        for inner_type, inner_payload in elements:
            if inner_type != _MI_MATRIX:
                continue
            name, value = _matrix(inner_payload, order, path)
            if wanted is not None and name not in wanted:
                continue
            if isinstance(value, _Unsupported):
                if wanted is not None:
                    raise MatFileError(
                        f"{path}: variable {name!r} is a {value.kind}, not supported"
                    )
                logger.debug("%s: skipping %s variable %r", path, value.kind, name)
                continue
            out[name] = value
    if wanted is not None:
        missing = sorted(wanted - set(out))
        if missing:
            raise MatFileError(f"{path} has no variable(s) {missing}. Found: {sorted(out)}")
    return out
