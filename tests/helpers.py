"""Shared test helpers: `run_layer_test` checks a Keras layer in one call.

In the spirit of keras-hub's `TestCase.run_layer_test`: one call checks that a
layer

1. round-trips its config (`from_config(get_config())` gives the same config,
   and the serialised layer is JSON);
2. runs eagerly with the expected output shapes and dtypes;
3. runs symbolically (on `keras.Input`s with an unknown batch size) with the
   same shapes, batch excepted;
4. trains for one `fit` step in a small functional model, if it has trainable
   weights (skipped otherwise), with a finite loss;
5. saves to `.keras` and reloads into a fresh instance that gives equal outputs;
6. under the `mixed_float16` policy, gives floating outputs in the layer's
   compute dtype and keeps float variables in float32;
7. optionally, gives the same outputs under `tf.function(jit_compile=True)`.

How inputs are passed to the layer (`call_style`):

* `"single"` (default): `layer(input_data)`; `input_data` is a tensor, or a
  list / dict that the layer takes as *one* argument (like `Concatenate`).
* `"args"`: `input_data` is a list or tuple, passed as positional arguments,
  `layer(*input_data)`.
* `"kwargs"`: `input_data` is a dict, passed as keyword arguments,
  `layer(**input_data)`.

Non-tensor call arguments (e.g. `training=False`) go in `call_kwargs`.
Outputs may be a tensor, a list/tuple of tensors or a flat dict of tensors;
`expected_output_shape` (and `expected_output_dtype`) then has the same form:
one shape tuple, a list of them, or a dict of them keyed like the outputs.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

CALL_STYLES = ("single", "args", "kwargs")


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _as_flat_dict(value: Any, what: str) -> dict[str, Any]:
    """A tensor -> {"output": t}; list/tuple -> {"0": ..}; dict -> itself (one level)."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list | tuple) and not _is_shape(value):
        return {str(i): v for i, v in enumerate(value)}
    if value is None:
        raise ValueError(f"{what} is None")
    return {"output": value}


def _is_shape(value: Any) -> bool:
    return isinstance(value, tuple | list) and all(
        d is None or isinstance(d, int | np.integer) for d in value
    )


def _shape_of(x: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in x.shape)


def _call(layer: keras.layers.Layer, inputs: Any, call_style: str, call_kwargs: dict) -> Any:
    if call_style == "single":
        return layer(inputs, **call_kwargs)
    if call_style == "args":
        return layer(*inputs, **call_kwargs)
    return layer(**inputs, **call_kwargs)


def _symbolic_inputs(input_data: Any, call_style: str) -> Any:
    """keras.Input(s) with the structure of `input_data` and an unknown batch size."""

    def make(x: Any, name: str | None) -> keras.KerasTensor:
        x = tf.convert_to_tensor(x)
        return keras.Input(shape=tuple(x.shape[1:]), dtype=x.dtype.name, name=name)

    if isinstance(input_data, Mapping):
        return {k: make(v, k) for k, v in input_data.items()}
    if isinstance(input_data, list | tuple):
        return [make(v, None) for v in input_data]
    return make(input_data, None)


def _batch_size(input_data: Any) -> int:
    first = next(iter(keras.tree.flatten(input_data)))
    return int(tf.convert_to_tensor(first).shape[0])


def _assert_outputs_close(actual: Any, expected: Any, atol: float, rtol: float, what: str) -> None:
    actual, expected = _as_flat_dict(actual, what), _as_flat_dict(expected, what)
    assert sorted(actual) == sorted(expected), f"{what}: output keys {sorted(actual)}"
    for key in expected:
        np.testing.assert_allclose(
            _to_numpy(actual[key]),
            _to_numpy(expected[key]),
            atol=atol,
            rtol=rtol,
            err_msg=f"{what}: output {key!r} differs",
        )


def run_layer_test(
    layer_cls: Callable[..., keras.layers.Layer],
    init_kwargs: dict[str, Any],
    input_data: Any,
    expected_output_shape: Any = None,
    expected_output_dtype: Any = None,
    *,
    call_style: str = "single",
    call_kwargs: dict[str, Any] | None = None,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    run_training_check: bool = True,
    run_saving_check: bool = True,
    run_mixed_precision_check: bool = True,
    run_xla_check: bool = False,
    atol: float = 1e-6,
    rtol: float = 1e-6,
) -> Any:
    """Checks a layer class end to end (see the module docstring for the steps).

    Args:
        layer_cls: the layer class (registered serializable for the saving check).
        init_kwargs: constructor arguments; `layer_cls(**init_kwargs)` is built
            afresh for each check.
        input_data: a tensor / array, a list or a dict, as `call_style` says.
            Arrays with a leading batch dimension.
        expected_output_shape: the eager output shape(s), batch included; None
            skips the comparison (symbolic shapes are still compared to eager).
        expected_output_dtype: dtype name(s) of the outputs, same form; None skips.
        call_style: "single", "args" or "kwargs".
        call_kwargs: extra non-tensor keyword arguments for every call.
        expected_num_trainable_weights: checked when given.
        expected_num_non_trainable_weights: checked when given.
        run_training_check: run one `fit` step (only if the layer has trainable
            weights; floating outputs get an MSE loss against zeros).
        run_saving_check: save the model as `.keras` and reload it.
        run_mixed_precision_check: run under the `mixed_float16` global policy.
        run_xla_check: compare eager outputs with `tf.function(jit_compile=True)`.
        atol: absolute tolerance for output comparisons.
        rtol: relative tolerance for output comparisons.

    Returns:
        The eager outputs of a layer built from `init_kwargs`.

    Raises:
        AssertionError: a check failed.
        ValueError: a bad `call_style` or an `input_data` that does not fit it.
    """
    if call_style not in CALL_STYLES:
        raise ValueError(f"call_style must be one of {CALL_STYLES}. Received: {call_style!r}")
    if call_style == "args" and not isinstance(input_data, list | tuple):
        raise ValueError(
            f"call_style='args' needs a list or tuple. Received: {type(input_data).__name__}"
        )
    if call_style == "kwargs" and not isinstance(input_data, Mapping):
        raise ValueError(f"call_style='kwargs' needs a dict. Received: {type(input_data).__name__}")
    call_kwargs = dict(call_kwargs or {})
    input_data = keras.tree.map_structure(tf.convert_to_tensor, input_data)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config, "from_config(get_config()) changed the config"
    json.dumps(keras.saving.serialize_keras_object(layer))

    # 2. Eager call: shapes, dtypes, weight counts.
    outputs = _call(layer, input_data, call_style, call_kwargs)
    flat_out = _as_flat_dict(outputs, "outputs")
    if expected_output_shape is not None:
        expected = _as_flat_dict(expected_output_shape, "expected_output_shape")
        assert sorted(expected) == sorted(flat_out), f"output keys {sorted(flat_out)}"
        for key, shape in expected.items():
            assert _shape_of(flat_out[key]) == tuple(shape), (
                f"output {key!r}: eager shape {_shape_of(flat_out[key])}, expected {tuple(shape)}"
            )
    if expected_output_dtype is not None:
        expected = _as_flat_dict(expected_output_dtype, "expected_output_dtype")
        for key, dtype in expected.items():
            actual = keras.backend.standardize_dtype(flat_out[key].dtype)
            assert actual == keras.backend.standardize_dtype(dtype), (
                f"output {key!r}: dtype {actual}, expected {dtype}"
            )
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # 3. Symbolic call.
    symbolic_inputs = _symbolic_inputs(input_data, call_style)
    symbolic_layer = layer_cls(**init_kwargs)
    symbolic_out = _as_flat_dict(
        _call(symbolic_layer, symbolic_inputs, call_style, call_kwargs), "symbolic outputs"
    )
    assert sorted(symbolic_out) == sorted(flat_out)
    for key, tensor in symbolic_out.items():
        want = (None,) + _shape_of(flat_out[key])[1:]
        assert _shape_of(tensor) == want, f"output {key!r}: symbolic {_shape_of(tensor)} != {want}"

    def build_model() -> tuple[keras.layers.Layer, keras.Model]:
        model_layer = layer_cls(**init_kwargs)
        inputs = _symbolic_inputs(input_data, call_style)
        model_out = _call(model_layer, inputs, call_style, call_kwargs)
        return model_layer, keras.Model(inputs, model_out)

    # 4. One training step.
    if run_training_check and layer.trainable_weights:
        _, model = build_model()
        targets = keras.tree.map_structure(lambda t: np.zeros(t.shape, t.dtype.name), outputs)
        losses = keras.tree.map_structure(lambda t: "mse" if t.dtype.is_floating else None, outputs)
        model.compile(optimizer="sgd", loss=losses)
        history = model.fit(
            input_data, targets, batch_size=_batch_size(input_data), epochs=1, verbose=0
        )
        loss = history.history["loss"][-1]
        assert math.isfinite(loss), f"training step gave a non-finite loss: {loss}"

    # 5. .keras save and reload into fresh instances.
    if run_saving_check:
        _, model = build_model()
        expected_out = model(input_data)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            reloaded = keras.saving.load_model(path)
        reloaded_layers = [lr for lr in reloaded.layers if isinstance(lr, layer_cls)]
        assert reloaded_layers, f"the reloaded model holds no {layer_cls.__name__}"
        _assert_outputs_close(reloaded(input_data), expected_out, atol, rtol, "reloaded model")

    # 6. Mixed precision.
    if run_mixed_precision_check:
        previous = keras.config.dtype_policy()
        try:
            keras.config.set_dtype_policy("mixed_float16")
            mp_layer = layer_cls(**init_kwargs)
            mp_out = _as_flat_dict(
                _call(mp_layer, input_data, call_style, call_kwargs), "mixed outputs"
            )
        finally:
            keras.config.set_dtype_policy(previous)
        for key, tensor in mp_out.items():
            dtype = keras.backend.standardize_dtype(tensor.dtype)
            if keras.backend.is_float_dtype(dtype):
                assert dtype == mp_layer.compute_dtype, (
                    f"mixed precision: output {key!r} is {dtype}, "
                    f"layer compute dtype is {mp_layer.compute_dtype}"
                )
                assert np.all(np.isfinite(_to_numpy(tensor))), f"output {key!r} not finite"
        for weight in mp_layer.weights:
            if keras.backend.is_float_dtype(weight.dtype):
                assert keras.backend.standardize_dtype(weight.dtype) == "float32", (
                    f"mixed precision: weight {weight.path} is {weight.dtype}, expected float32"
                )

    # 7. XLA.
    if run_xla_check:
        xla_layer = layer_cls(**init_kwargs)
        eager = _call(xla_layer, input_data, call_style, call_kwargs)
        compiled = tf.function(
            lambda data: _call(xla_layer, data, call_style, call_kwargs), jit_compile=True
        )
        _assert_outputs_close(compiled(input_data), eager, atol, rtol, "XLA")

    return outputs
