"""A minimal MATLAB Level 5 MAT-file writer for test fixtures (numeric and char arrays)."""

import struct
import zlib

import numpy as np

_MI = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 9, "i8": 12, "u8": 13}
_MX = {
    "f8": 6,
    "f4": 7,
    "i1": 8,
    "u1": 9,
    "i2": 10,
    "u2": 11,
    "i4": 12,
    "u4": 13,
    "i8": 14,
    "u8": 15,
}


def _element(order: str, mtype: int, payload: bytes, small_ok: bool = True) -> bytes:
    if small_ok and len(payload) <= 4:
        return struct.pack(order + "I", (len(payload) << 16) | mtype) + payload.ljust(4, b"\0")
    pad = (-len(payload)) % 8
    return struct.pack(order + "II", mtype, len(payload)) + payload + b"\0" * pad


def _matrix(order: str, name: str, value, stored_as: str | None) -> bytes:
    if isinstance(value, str):
        codes = np.array([ord(c) for c in value], dtype=order + "u2")[None, :]
        flags, dims, data = 4, codes.shape, _element(order, 4, codes.tobytes())
    else:
        value = np.asarray(value)
        kind = value.dtype.str[1:]
        complex_ = np.iscomplexobj(value)
        if complex_:
            kind = "f8"
        stored = stored_as or kind
        flags = _MX[kind] | (0x0800 if complex_ else 0)
        dims = value.shape if value.ndim >= 2 else (1, value.size)
        real = np.real(value).astype(order + stored).tobytes(order="F")
        data = _element(order, _MI[stored], real)
        if complex_:
            data += _element(
                order, _MI[stored], np.imag(value).astype(order + stored).tobytes(order="F")
            )
    body = _element(order, 6, struct.pack(order + "II", flags, 0), small_ok=False)
    body += _element(order, 5, np.array(dims, dtype=order + "i4").tobytes())
    body += _element(order, 1, name.encode())
    body += data
    return _element(order, 14, body, small_ok=False)


def write_mat(path, variables: dict, compress: bool = False, order: str = "<", stored_as=None):
    """Writes `{name: array or str}`; `stored_as` stores numeric data in another type (e.g. "u1")."""
    text = b"MATLAB 5.0 MAT-file, written by the hiu_tf tests".ljust(116, b" ")
    header = (
        text + b"\0" * 8 + struct.pack(order + "H", 0x0100) + (b"IM" if order == "<" else b"MI")
    )
    body = b""
    for name, value in variables.items():
        element = _matrix(order, name, value, stored_as)
        if compress:
            packed = zlib.compress(element)
            element = struct.pack(order + "II", 15, len(packed)) + packed
        body += element
    with open(path, "wb") as f:
        f.write(header + body)
