"""Argument and shape checks shared by every package, with one wording for their errors.

It sits in `mano_tf`, the package that imports no other of the project's, so
that `hiu_tf`, `training` and `export` can use it without an import loop. Each
check raises the error class its caller passes (ValueError by default), with a
message that names the argument and repeats the value received.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_int", "check_last_dims", "check_positive", "is_int"]


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers; False for bools, which Python counts as ints."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def check_int(value: Any, name: str, minimum: int = 1, error: type[Exception] = ValueError) -> int:
    """`value` as an int, or `error` unless it is an integer >= `minimum`.

    The message says "a positive int" when `minimum` is 1, "an int >= minimum"
    otherwise.
    """
    if not is_int(value) or value < minimum:
        wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise error(f"{name} must be {wanted}. Received: {name}={value!r}")
    return int(value)


def check_positive(value: Any, name: str, error: type[Exception] = ValueError) -> float:
    """`value` as a float, or `error` unless it is a real number > 0 (NaN is not)."""
    is_real = isinstance(value, int | float | np.integer | np.floating)
    if isinstance(value, bool) or not is_real or not value > 0:  # np.bool_ is not real
        raise error(f"{name} must be a positive number. Received: {name}={value!r}")
    return float(value)


def check_last_dims(value: Any, name: str, dims: tuple, shown: str) -> None:
    """ValueError unless the static shape of `value` ends with `dims`.

    A None in `dims` or in the static shape matches any size; an unknown rank
    passes (the check is left to run time). `shown` is the expected shape as the
    message prints it, e.g. "[..., 21, 3]".
    """
    shape = value.shape
    if shape.rank is None:
        return
    ok = shape.rank >= len(dims) and all(
        d is None or e is None or d == e
        for d, e in zip(shape[shape.rank - len(dims) :].as_list(), dims, strict=True)
    )
    if not ok:
        raise ValueError(
            f"{name} must have shape {shown}. Received: {name}.shape={tuple(shape.as_list())}"
        )
