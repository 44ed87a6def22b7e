"""The shared argument and shape checks: what they accept, reject, and say."""

import numpy as np
import pytest
import tensorflow as tf

from mano_tf import checks


class _Custom(Exception):
    pass


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(2)])
def test_check_int_accepts_python_and_numpy_integers(value):
    got = checks.check_int(value, "n")
    assert got == int(value) and type(got) is int


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "3", None, np.float32(2), np.bool_(1)])
def test_check_int_rejects_the_rest_with_the_value(value):
    with pytest.raises(ValueError, match=r"^n must be a positive int\. Received: n="):
        checks.check_int(value, "n")


def test_check_int_minimum_and_error_class():
    assert checks.check_int(0, "steps", minimum=0) == 0
    with pytest.raises(_Custom, match=r"^steps must be an int >= 0\. Received: steps=-1$"):
        checks.check_int(-1, "steps", minimum=0, error=_Custom)


@pytest.mark.parametrize("value", [0.5, 3, np.float32(1e-3), float("inf")])
def test_check_positive_accepts_positive_reals(value):
    assert checks.check_positive(value, "s") == float(value)


@pytest.mark.parametrize("value", [0, -0.1, float("nan"), True, "1", None, np.bool_(1)])
def test_check_positive_rejects_the_rest(value):
    with pytest.raises(ValueError, match=r"^s must be a positive number\. Received: s="):
        checks.check_positive(value, "s")


def test_check_last_dims():
    checks.check_last_dims(tf.zeros((2, 21, 3)), "j", (21, 3), "[..., 21, 3]")
    checks.check_last_dims(tf.zeros((21, 3)), "j", (None, 3), "[..., N, 3]")  # None: any size
    spec = tf.TensorSpec(shape=None)  # unknown rank: left to run time
    checks.check_last_dims(
        tf.function(lambda x: x).get_concrete_function(spec).inputs[0], "j", (3,), "[..., 3]"
    )
    for shape in ((2, 21, 2), (3,)):
        with pytest.raises(
            ValueError, match=r"^j must have shape \[\.\.\., 21, 3\]\. Received: j\.shape="
        ):
            checks.check_last_dims(tf.zeros(shape), "j", (21, 3), "[..., 21, 3]")
