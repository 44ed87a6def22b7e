"""Rotation conversions in TensorFlow: axis-angle, rotation matrices and the 6D representation.

Conventions:

* Rotation matrices act on column vectors, `x' = R @ x`, and are right-handed.
* An axis-angle vector `v` has direction `n` (the unit rotation axis) and norm
  `theta` (radians, counter-clockwise about `n`).
* The 6D representation of Zhou et al. (CVPR 2019, "On the Continuity of
  Rotation Representations in Neural Networks") is the **first two columns** of
  the matrix, concatenated: `[R[:, 0], R[:, 1]]`, i.e.
  `(R00, R10, R20, R01, R11, R21)`. This is the layout of the paper and of
  HaMeR; pytorch3d uses the first two *rows* instead, and SPIN/HMR2 interleave
  the two columns (`(R00, R01, R10, R11, R20, R21)`) — convert before comparing.

Every function takes any number of leading batch dimensions, checks the static
shape of its argument first, and works in the floating dtype of its input
(integers are computed and returned in float32; 16-bit floats are computed in
float32 and cast back). Near the singular points (a zero angle, an
angle of pi) the maths goes through safe branches, so values **and gradients**
are finite and correct there.
"""

from __future__ import annotations

import tensorflow as tf

from mano_tf.checks import check_last_dims

# Below this squared angle (rad^2) the Rodrigues coefficients use their Taylor series.
# The series kept to theta^4 is exact in float64 to ~1e-16 here (next term theta^6/5040).
_SMALL_ANGLE_SQ = 1e-4
# Below this value of sin(theta)^2, matrix_to_axis_angle uses the series of asin(s)/s.
_SMALL_SIN_SQ = 1e-4
# Where cos(theta) is below this, the axis comes from the symmetric part of R
# (the antisymmetric part vanishes as theta -> pi).
_NEAR_PI_COS = -0.5


def _as_float_tensor(value, name: str) -> tuple[tf.Tensor, tf.DType]:
    """Returns `(value as float32/float64, dtype to return)`.

    Integers are computed and returned in float32; 16-bit floats are computed in
    float32 (their range cannot hold the safe-branch constants) and cast back.
    """
    value = tf.convert_to_tensor(value, name=name)
    if not value.dtype.is_floating:
        return tf.cast(value, tf.float32), tf.float32
    if value.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(value, tf.float32), value.dtype
    return value, value.dtype


def _skew(v: tf.Tensor) -> tf.Tensor:
    """`[..., 3]` -> `[..., 3, 3]` cross-product matrix `K` with `K @ x = v x x`."""
    x, y, z = tf.unstack(v, axis=-1)
    zero = tf.zeros_like(x)
    rows = [
        tf.stack([zero, -z, y], axis=-1),
        tf.stack([z, zero, -x], axis=-1),
        tf.stack([-y, x, zero], axis=-1),
    ]
    return tf.stack(rows, axis=-2)


def axis_angle_to_matrix(axis_angle) -> tf.Tensor:
    """Rodrigues' formula: axis-angle vectors to rotation matrices.

    `R = I + a(theta) K + b(theta) K^2`, with `K` the cross-product matrix of the
    *unnormalised* vector, `a = sin(theta) / theta` and
    `b = (1 - cos(theta)) / theta^2 = 2 sin^2(theta/2) / theta^2` (the half-angle
    form avoids the cancellation of `1 - cos`). Both coefficients are functions of
    `theta^2 = |v|^2` and switch to their Taylor series for small angles, so the
    result and its gradient are exact and finite at `v = 0`
    (`dR/dv_k = K(e_k)` there).

    Args:
        axis_angle: `[A1, ..., An, 3]` axis-angle vectors, radians.

    Returns:
        `[A1, ..., An, 3, 3]` rotation matrices.

    Raises:
        ValueError: `axis_angle` does not end with a dimension of 3.
    """
    axis_angle, out_dtype = _as_float_tensor(axis_angle, "axis_angle")
    check_last_dims(axis_angle, "axis_angle", (3,), "[..., 3]")

    theta_sq = tf.reduce_sum(tf.square(axis_angle), axis=-1)  # [...]
    small = theta_sq < _SMALL_ANGLE_SQ
    # Safe branch input: never evaluate sqrt / division at (or near) zero.
    safe_sq = tf.where(small, tf.ones_like(theta_sq), theta_sq)
    theta = tf.sqrt(safe_sq)
    half = 0.5 * theta
    a_big = tf.sin(theta) / theta
    b_big = 0.5 * tf.square(tf.sin(half) / half)
    a_small = 1.0 - theta_sq / 6.0 + tf.square(theta_sq) / 120.0
    b_small = 0.5 - theta_sq / 24.0 + tf.square(theta_sq) / 720.0
    a = tf.where(small, a_small, a_big)[..., tf.newaxis, tf.newaxis]  # [..., 1, 1]
    b = tf.where(small, b_small, b_big)[..., tf.newaxis, tf.newaxis]  # [..., 1, 1]

    k = _skew(axis_angle)  # [..., 3, 3]
    # K^2 = v v^T - |v|^2 I (no tiny matmuls).
    k_sq = axis_angle[..., :, tf.newaxis] * axis_angle[..., tf.newaxis, :] - theta_sq[
        ..., tf.newaxis, tf.newaxis
    ] * tf.eye(3, dtype=axis_angle.dtype)  # [..., 3, 3]
    eye = tf.eye(3, dtype=axis_angle.dtype)
    return tf.cast(eye + a * k + b * k_sq, out_dtype)


def matrix_to_axis_angle(matrix) -> tf.Tensor:
    """Rotation matrices to axis-angle vectors with angles in [0, pi].

    The angle is `atan2(|w| / 2, (tr(R) - 1) / 2)` with `w` the vector of the
    antisymmetric part (`w = 2 sin(theta) n`), which is well conditioned at every
    angle. The axis is

    * `w / (2 sinc(theta))`, via the series of `asin(s)/s` for small angles (exact,
      finite gradient at the identity);
    * near pi (`cos(theta) < -0.5`), the largest column of the symmetric part
      `(R + R^T)/2 - cos(theta) I = (1 - cos(theta)) n n^T`, normalised, with its
      sign chosen so that `n . w >= 0`. At exactly pi both signs are the same
      rotation; this returns the one whose component along the largest diagonal
      entry of `R` is positive.

    Args:
        matrix: `[A1, ..., An, 3, 3]` rotation matrices.

    Returns:
        `[A1, ..., An, 3]` axis-angle vectors, radians.

    Raises:
        ValueError: `matrix` does not end with dimensions 3 x 3.
    """
    matrix, out_dtype = _as_float_tensor(matrix, "matrix")
    check_last_dims(matrix, "matrix", (3, 3), "[..., 3, 3]")
    dtype = matrix.dtype

    # w = vee(R - R^T) = 2 sin(theta) n.
    w = tf.stack(
        [
            matrix[..., 2, 1] - matrix[..., 1, 2],
            matrix[..., 0, 2] - matrix[..., 2, 0],
            matrix[..., 1, 0] - matrix[..., 0, 1],
        ],
        axis=-1,
    )  # [..., 3]
    # Element-wise trace, diagonal and cross product: tf.linalg.trace / diag_part / cross
    # would become Flex (SELECT_TF_OPS) ops in TFLite, which LiteRT cannot run.
    cos = 0.5 * (matrix[..., 0, 0] + matrix[..., 1, 1] + matrix[..., 2, 2] - 1.0)  # [...]
    sin_sq = 0.25 * tf.reduce_sum(tf.square(w), axis=-1)  # [...]

    # Small angles: theta / sin(theta) = asin(s)/s = 1 + s^2/6 + 3 s^4/40 + ... (s = sin).
    small = (sin_sq < _SMALL_SIN_SQ) & (cos > 0.0)
    factor_small = 1.0 + sin_sq / 6.0 + 0.075 * tf.square(sin_sq)
    # Generic angles: theta / sin(theta) with a safe sine.
    generic_sin_sq = tf.where(small, tf.ones_like(sin_sq), sin_sq)
    sin = tf.sqrt(tf.maximum(generic_sin_sq, tf.constant(1e-30, dtype)))
    theta = tf.atan2(sin, cos)
    factor_generic = theta / sin
    aa_regular = 0.5 * tf.where(small, factor_small, factor_generic)[..., tf.newaxis] * w

    # Near pi: axis from the symmetric part (1 - cos) n n^T, largest column, sign from w.
    near_pi = cos < _NEAR_PI_COS
    sym = 0.5 * (matrix + tf.linalg.matrix_transpose(matrix)) - cos[
        ..., tf.newaxis, tf.newaxis
    ] * tf.eye(3, dtype=dtype)  # [..., 3, 3]
    diag = tf.stack([sym[..., 0, 0], sym[..., 1, 1], sym[..., 2, 2]], axis=-1)  # [..., 3]
    pick = tf.one_hot(tf.argmax(diag, axis=-1), 3, dtype=dtype)  # [..., 3]
    column = tf.reduce_sum(sym * pick[..., tf.newaxis, :], axis=-1)  # [..., 3]
    column_sq = tf.reduce_sum(tf.square(column), axis=-1, keepdims=True)
    column_sq = tf.where(near_pi[..., tf.newaxis], column_sq, tf.ones_like(column_sq))
    axis = column * tf.math.rsqrt(tf.maximum(column_sq, tf.constant(1e-30, dtype)))
    sign = tf.where(tf.reduce_sum(axis * w, axis=-1, keepdims=True) < 0.0, -1.0, 1.0)
    aa_near_pi = tf.cast(sign, dtype) * axis * theta[..., tf.newaxis]

    return tf.cast(tf.where(near_pi[..., tf.newaxis], aa_near_pi, aa_regular), out_dtype)


def _safe_normalize(v: tf.Tensor) -> tf.Tensor:
    norm_sq = tf.reduce_sum(tf.square(v), axis=-1, keepdims=True)
    eps = tf.constant(1e-12 if v.dtype == tf.float64 else 1e-8, v.dtype)
    return v * tf.math.rsqrt(tf.maximum(norm_sq, eps))


def rotation_6d_to_matrix(rotation_6d) -> tf.Tensor:
    """The 6D rotation representation (Zhou et al. 2019) to rotation matrices.

    The input holds two 3-vectors `a1 = x[..., 0:3]` and `a2 = x[..., 3:6]`, the
    unnormalised first and second **columns** of the matrix. Gram-Schmidt gives
    `b1 = a1 / |a1|`, `b2 = normalise(a2 - (b1 . a2) b1)`, `b3 = b1 x b2`, and
    `R = [b1 b2 b3]` (as columns). Any input maps to a proper rotation; a zero or
    parallel pair gives a finite (arbitrary) result instead of NaN.

    Args:
        rotation_6d: `[A1, ..., An, 6]`.

    Returns:
        `[A1, ..., An, 3, 3]` rotation matrices.

    Raises:
        ValueError: `rotation_6d` does not end with a dimension of 6.
    """
    rotation_6d, out_dtype = _as_float_tensor(rotation_6d, "rotation_6d")
    check_last_dims(rotation_6d, "rotation_6d", (6,), "[..., 6]")
    a1, a2 = rotation_6d[..., 0:3], rotation_6d[..., 3:6]  # [..., 3] each
    b1 = _safe_normalize(a1)
    b2 = _safe_normalize(a2 - tf.reduce_sum(b1 * a2, axis=-1, keepdims=True) * b1)
    b3 = tf.stack(
        [
            b1[..., 1] * b2[..., 2] - b1[..., 2] * b2[..., 1],
            b1[..., 2] * b2[..., 0] - b1[..., 0] * b2[..., 2],
            b1[..., 0] * b2[..., 1] - b1[..., 1] * b2[..., 0],
        ],
        axis=-1,
    )  # b1 x b2, element-wise (tf.linalg.cross is a Flex op in TFLite)
    return tf.cast(tf.stack([b1, b2, b3], axis=-1), out_dtype)  # b1, b2, b3 as columns


def matrix_to_rotation_6d(matrix) -> tf.Tensor:
    """Rotation matrices to the 6D representation: the first two columns, concatenated.

    Args:
        matrix: `[A1, ..., An, 3, 3]` rotation matrices.

    Returns:
        `[A1, ..., An, 6]`: `[R[..., :, 0], R[..., :, 1]]`.

    Raises:
        ValueError: `matrix` does not end with dimensions 3 x 3.
    """
    matrix, out_dtype = _as_float_tensor(matrix, "matrix")
    check_last_dims(matrix, "matrix", (3, 3), "[..., 3, 3]")
    return tf.cast(tf.concat([matrix[..., :, 0], matrix[..., :, 1]], axis=-1), out_dtype)
