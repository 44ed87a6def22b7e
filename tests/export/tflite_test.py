import re

import numpy as np
import pytest

from export import graph, tflite
from tests.export import fixtures

# Keras vs TFLite at the model's input size, on drawn hands the model was trained on
# the kind of (its outputs vary by several pixels from image to image).
LIMITS = {  # quant: (keypoints px, mask IoU)
    "none": (1.0, 0.98),
    "fp16": (1.0, 0.98),
    "dynamic": (3.0, 0.95),  # no goal set: int8's
}


@pytest.mark.parametrize("quant", ["none", "fp16", pytest.param("dynamic", marks=pytest.mark.slow)])
def test_float_and_dynamic_parity(quant):
    _, model = fixtures.loaded_run()
    images = fixtures.hand_images().astype(np.float32)
    errors, got, ref = fixtures.parity(fixtures.tflite_file(quant), model, images)
    px, iou = LIMITS[quant]
    # Measured: dynamic keypoints within 0.2 px, mesh 1.8 px. (With the "peak" decoder,
    # the default until 2026-11-26, dynamic moved the arg max of a broad peak by a map
    # pixel: largest 5.5 px.)
    assert errors["keypoints_px"] <= px, errors
    assert errors["keypoints_px_mesh"] <= px, errors
    assert errors["mask_iou_min"] >= iou, errors
    assert set(got) == set(ref)


def test_int8_has_an_int8_trunk_and_a_float_tail():
    with open(fixtures.tflite_file("int8"), "rb") as f:
        content = f.read()
    counts = tflite.op_counts(content)
    tflite.check_builtin_ops(content)
    assert counts[("CONV_2D", "int8")] > 20 and counts[("CONV_2D", "float32")] <= 8
    # The tail: heat-map decoding, mask upsampling and sigmoid, MANO's matrix products.
    for op in ("LOGISTIC", "RESIZE_BILINEAR", "BATCH_MATMUL", "DIV"):
        assert counts[(op, "float32")] >= 1 and counts[(op, "int8")] == 0, op
    # The full-size mask comes out of a RESHAPE (free), not a STRIDED_SLICE, which LiteRT
    # runs outside XNNPACK (0.37 ms at 224 x 224; `export.graph.forward`).
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    # No float value rounded to int8 and given back as float: no DEQUANTIZE reads a QUANTIZE
    # (the converter's quantiser left such chains in the tail, around L2_NORMALIZATION and
    # the soft-argmax's column index, until 2026-12-04).
    sg = model.subgraphs[0]
    producer = {out: tflite.op_name(model, op) for op in sg.operators for out in op.outputs}
    for op in sg.operators:
        if tflite.op_name(model, op) == "DEQUANTIZE":
            assert producer.get(op.inputs[0]) != "QUANTIZE", sg.tensors[op.inputs[0]].name
    # Every int8 op is in `INT8_SCOPE`, or a QUANTIZE at its border.
    for op in sg.operators:
        name = sg.tensors[op.outputs[0]].name.decode()
        if sg.tensors[op.outputs[0]].type == 9 and tflite.op_name(model, op) != "QUANTIZE":
            assert re.search(tflite.INT8_SCOPE, name), name
    mask = next(t.tensorIndex for t in model.signatureDefs[0].outputs if t.name == b"mask")
    producer = next(op for op in model.subgraphs[0].operators if mask in op.outputs)
    assert tflite.op_name(model, producer) == "RESHAPE"
    # The regressor head's convolutions run with the int8 trunk (`export.graph._trunk`).
    head = [
        (tflite.op_name(model, op), sg.tensors[op.outputs[0]].type)
        for op in sg.operators
        if sg.tensors[op.outputs[0]].name.decode().startswith("trunk/regressor_head/")
    ]
    int8, float32 = 9, 0  # TensorType
    assert [t for name, t in head if name == "CONV_2D"] == [int8, int8], head
    # The stem's first conv stays float (`tflite.INT8_SCOPE`); the rest is int8.
    stem = [
        (sg.tensors[op.outputs[0]].name.decode(), sg.tensors[op.outputs[0]].type)
        for op in sg.operators
        if tflite.op_name(model, op) == "CONV_2D"
        and sg.tensors[op.outputs[0]].name.decode().startswith("trunk/stem")
    ]
    assert [t for _, t in stem] == [float32, int8], stem
    assert "/conv1" in stem[0][0] and "/conv2" in stem[1][0], stem
    info = tflite.read_info(fixtures.tflite_file("int8"))
    assert info["quantization"] == "int8" and info["float_tail"] is True
    assert len(info["faces"]) > 0 and info["input_size"] == 64


def test_int8_parity():
    """int8 trunk + float tail vs Keras (see docs/export.md), calibrated on 128 drawn hands.

    Every keypoint within 3 px and mask IoU >= 0.95: stricter than the int8 goal
    (`fixtures.INT8_KEYPOINT_GOAL`, for many keypoints; `test_mobile_parity`), which
    this well-localising `tiny` fixture keeps on its few images. Measured on the 6
    test images (docs/export.md): largest keypoint error 0.30 px (median 0.07 px;
    2.0 px with the "peak" decoder, the default until 2026-11-26), mask IoU >= 0.98,
    mesh keypoints within 3.6 px. (Before the task decoders' output convs started near
    zero, this fixture did not localise keypoints at all, and int8 was off by up to
    35 px: arg maxes of noise-like maps follow any rounding.)
    """
    _, model = fixtures.loaded_run()
    images = fixtures.hand_images().astype(np.float32)
    errors, _, _ = fixtures.parity(fixtures.tflite_file("int8"), model, images)
    assert errors["keypoints_px"] <= 3.0, errors
    assert errors["mask_iou_min"] >= 0.95, errors
    assert errors["keypoints_px_mesh"] <= 8.0, errors  # no goal set: a guard


def test_fixture_localises_keypoints():
    """Parity compares something only if the model works: its keypoints and mask follow the hand."""
    _, model = fixtures.loaded_run()
    unseen = fixtures.drawn_hands(fixtures.TINY_SIZE, 6, 100)
    images = np.stack([x["image"] for x in unseen]).astype(np.float32)
    out = {k: np.asarray(v) for k, v in graph.forward(model, images).items()}
    truth = np.stack([x["keypoints_px"] for x in unseen])
    distance = np.linalg.norm(out["keypoints_px"] - truth, axis=-1)
    ious = [fixtures.mask_iou(m, x["mask"]) for m, x in zip(out["mask"], unseen, strict=True)]
    # Measured: median 1.7 px on 64 px crops (1.9 px with the "peak" decoder), mask IoU
    # 0.78 (benchmarks/bench_head_init.py: 13-15 px and 0.46-0.53 when the decoders'
    # output convs started from Keras' default).
    assert np.median(distance) <= 4.0, np.median(distance)
    assert np.mean(ious) >= 0.7, ious


def test_representative_images_from_synthetic_and_records(tmp_path):
    config, _ = fixtures.loaded_run()
    images = tflite.representative_images(config, 2)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255 and images.std() > 5
    with pytest.raises(tflite.ExportError, match="quant"):
        tflite.export_tflite(config, None, str(tmp_path / "x.tflite"), "int4")


def test_int8_keypoint_parity_measures_agreement_and_accuracy():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 256, (10, 10, 2))
    ref = truth + rng.normal(0, 2, truth.shape)
    same = fixtures.int8_keypoint_parity(ref, ref, truth)
    assert same["within_3px"] == 1 and same["max_px"] == 0 and same["meets_goal"]
    got = ref.copy()
    got[0, :2] += [12.0, 16.0]  # 2 of 100 keypoints move 20 px, 0.4 px on the mean
    moved = fixtures.int8_keypoint_parity(got, ref, truth)
    assert moved["within_3px"] == pytest.approx(0.98) and moved["max_px"] == pytest.approx(20)
    rise = np.linalg.norm(got - truth, axis=-1).mean() - np.linalg.norm(ref - truth, axis=-1).mean()
    assert moved["mean_error_rise_px"] == pytest.approx(rise)
    assert 0.3 < rise <= 0.4 and not moved["meets_goal"]  # agreement kept, accuracy not
    toward = fixtures.int8_keypoint_parity(got, ref, got)  # moved onto the labels
    assert toward["mean_error_rise_px"] < 0 and toward["meets_goal"]
    got[1:5] += 4.0  # 5.7 px: 42 of 100 beyond 3 px
    assert not fixtures.int8_keypoint_parity(got, ref, got)["meets_goal"]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["mobile-lite", "mobile", "mobile-2stack"])
def test_mobile_parity(tmp_path, preset):
    """A phone-class preset at 256 x 256 (the acceptance's size), trained 300 steps, on 32
    unseen images (672 keypoints; the same model and images as `python
    benchmarks/bench_decoders.py --preset P --seeds 0 --sigmas 2`).

    fp32 and fp16 keep every keypoint within 1 px of Keras'; int8 (and dynamic) meet
    `fixtures.INT8_KEYPOINT_GOAL` and mask IoU >= 0.95 on every image. Measured: see
    docs/export.md, "The int8 goal". (Until 2026-11-27 the goal was "every keypoint
    within 3 px", checked on the first 4 of these images only.)
    """
    cfg, model = fixtures.trained_phone_model(preset)
    images, truth, rep = fixtures.phone_test_images()
    measured, keypoints = {}, {}
    for quant in ("none", "fp16", "dynamic", "int8"):
        path = str(tmp_path / f"{preset}_{quant}.tflite")
        tflite.export_tflite(cfg, model, path, quant, representative=rep)
        measured[quant], got, ref = fixtures.parity(path, model, images)
        keypoints[quant] = fixtures.int8_keypoint_parity(
            got["keypoints_px"], ref["keypoints_px"], truth
        )
    localised = float(np.median(np.linalg.norm(ref["keypoints_px"] - truth, axis=-1)))
    print(preset, measured, keypoints, localised)
    # The model works: its keypoints follow the drawn hand and its masks are not empty
    # (an empty pair would have IoU 1 and prove nothing).
    assert localised <= 6.0, localised
    assert all(np.mean(m > 0.5) > 0.02 for m in ref["mask"]), [
        np.mean(m > 0.5) for m in ref["mask"]
    ]
    for quant in ("none", "fp16"):
        assert measured[quant]["keypoints_px"] <= 1.0, measured
        assert measured[quant]["mask_iou_min"] >= 0.98, measured
    for quant in ("dynamic", "int8"):  # dynamic has no goal of its own: int8's
        assert measured[quant]["mask_iou_min"] >= 0.95, measured
        assert keypoints[quant]["meets_goal"], (quant, keypoints[quant])
    # Mesh keypoints: no goal set; the fixture's random regressor weights (std 1) amplify
    # any change of the features, so the figures move with any change of the training
    # (largest over 672 keypoints, mobile / mobile-2stack: dynamic 68 / 32 px and int8
    # 161 / 77 px until 2026-12-04; for mobile, dynamic 30 px with UpSampling2D and 139 px
    # with the nearest resize of the task decoders, whose gradient is written out, so the
    # trained fixture differs). Guards against a broken export, above those values.
    assert measured["dynamic"]["keypoints_px_mesh"] <= 250.0, measured
    assert measured["int8"]["keypoints_px_mesh"] <= 250.0, measured


def _float_model(folder: str, name: str) -> bytes:
    """A float TFLite model of `2 x + 1` on `[1, 8]` (MUL, then ADD) under the name scope
    `name`, with one `serving_default` signature (written as a SavedModel in `folder`)."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32, "x")])
    def fn(x):
        with tf.name_scope(name):
            return {"y": x * 2.0 + 1.0}

    module.fn = fn
    tf.saved_model.save(module, folder, signatures={tflite.SIGNATURE: fn.get_concrete_function()})
    return tf.lite.TFLiteConverter.from_saved_model(folder).convert()


def test_calibrate_takes_the_range_over_all_samples(tmp_path):
    """Each tensor's range is the smallest min and the largest max of any sample (as the
    converter calibrates), not the quantizer's moving average of per-sample ranges."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import qtyping, quantizer

    content = _float_model(str(tmp_path / "saved_model"), "trunk")
    rng = np.random.default_rng(0)
    samples = [rng.uniform(-s, s, (1, 8)).astype(np.float32) for s in (1.0, 10.0, 1.0, 2.0)]
    q = quantizer.Quantizer(content)
    q.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 8, 8)
    ranges = tflite.calibrate(q, lambda: iter({"x": x} for x in samples))
    # The reference: every tensor's value on each sample, from the float model (NumPy min/max).
    interpreter = Interpreter(model_content=content, experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    values: dict[str, list[np.ndarray]] = {}
    for x in samples:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        for detail in interpreter.get_tensor_details():
            if detail["name"] in ranges:
                values.setdefault(detail["name"], []).append(
                    interpreter.get_tensor(detail["index"])
                )
    assert len(values) >= 3, ranges  # the input, the product and the sum
    for name, arrays in values.items():
        low, high = np.min([a.min() for a in arrays]), np.max([a.max() for a in arrays])
        np.testing.assert_allclose(np.ravel(ranges[name]["min"]), [low], rtol=1e-6)
        np.testing.assert_allclose(np.ravel(ranges[name]["max"]), [high], rtol=1e-6)
    xs = np.concatenate(samples)
    output = interpreter.get_output_details()[0]["name"]
    np.testing.assert_allclose(
        np.ravel([ranges[output]["min"], ranges[output]["max"]]),
        [2 * xs.min() + 1, 2 * xs.max() + 1],
        rtol=1e-5,
    )
    assert ranges[output]["max"] > 15  # the one wide sample: a moving average would give ~3
    with pytest.raises(tflite.ExportError, match="no samples"):
        tflite.calibrate(q, lambda: iter([]))


def test_int8_scope_is_the_trunk_but_two_convs():
    inside = [
        "trunk/stack1_1/encoder_1/input_proj_1/act_1/Relu;trunk/stack1_1/encoder_1/"
        "input_proj_1/conv_1/convolution;",
        "trunk/stem_1/conv2_1/act_1/Relu;",
        "trunk/stack2_1/heatmap_decoder_1/block0_1/conv1_1/act_1/Relu;",
        "trunk/regressor_head/conv0_1/act_1/Relu;",
    ]
    outside = [
        "trunk/stem_1/conv1_1/act_1/Relu;trunk/stem_1/conv1_1/conv_1/convolution;",
        "trunk/stack2_1/heatmap_decoder_1/predict_1/BiasAdd;trunk/stack2_1/"
        "heatmap_decoder_1/predict_1/convolution;",
        "float_tail/mano_1/einsum/Einsum;",
        "float_tail/soft_argmax_1/ArgMax;",
        "StatefulPartitionedCall:0;",
        "serving_default_images:0;",
    ]
    assert all(re.search(tflite.INT8_SCOPE, name) for name in inside)
    assert not any(re.search(tflite.INT8_SCOPE, name) for name in outside)


def test_int16_scopes_give_int16_activations(tmp_path):
    """int16 activations ("a16w8") on the heat-map decoders, int8 elsewhere in the trunk."""
    from ai_edge_litert.tools import flatbuffer_utils

    config, model = fixtures.loaded_run()
    scope = r"^trunk/stack\d+(_\d+)?/heatmap_decoder"
    rep = np.stack([x["image"] for x in fixtures.drawn_hands(fixtures.TINY_SIZE, 16, 7)])
    path = str(tmp_path / "a16.tflite")
    info = tflite.export_tflite(
        config, model, path, "int8", representative=rep.astype(np.float32), int16_scopes=[scope]
    )
    assert info["int16_scopes"] == [scope]
    with open(path, "rb") as f:
        flat = flatbuffer_utils.convert_bytearray_to_object(bytearray(f.read()))
    sg = flat.subgraphs[0]
    int8, int16 = 9, 7  # TensorType
    types = {"int16": set(), "int8": set()}
    for op in sg.operators:
        name = sg.tensors[op.outputs[0]].name.decode()
        if tflite.op_name(flat, op) == "CONV_2D" and re.search(tflite.INT8_SCOPE, name):
            types["int16" if re.search(scope, name) else "int8"].add(sg.tensors[op.outputs[0]].type)
    assert types == {"int16": {int16}, "int8": {int8}}, types
    errors, _, _ = fixtures.parity(path, model, fixtures.hand_images().astype(np.float32))
    assert errors["keypoints_px"] <= 3.0 and errors["mask_iou_min"] >= 0.95, errors


def _keras_to_tflite(model, fp16: bool = False) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fp16:  # weights stored in float16, each reaching its op through a DEQUANTIZE
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def test_graph_cost_counts_convolutions_and_dense_layers():
    import keras

    keras.utils.set_random_seed(0)
    # Non-zero biases: the converter drops biases that are all zero (Keras' default).
    bias = {"bias_initializer": "random_normal"}
    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", **bias)(inputs)  # 8 x 8 x 8
    x = keras.layers.DepthwiseConv2D(3, padding="same", **bias)(x)  # 8 x 8 x 8
    x = keras.layers.Conv2DTranspose(4, 2, strides=2, **bias)(x)  # 16 x 16 x 4
    x = keras.layers.ReLU()(x)  # not counted
    y = keras.layers.Dense(5, **bias)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, y)
    # Multiply-adds from each layer's own shapes, 2 FLOPs each: every output element of
    # a convolution takes kh * kw * in_channels (1 for depthwise); a transposed
    # convolution spreads every input element over kh * kw * out_channels.
    expected = 2 * (8 * 8 * 8 * 3 * 3 * 3 + 8 * 8 * 8 * 3 * 3 + 8 * 8 * 8 * 2 * 2 * 4 + 5 * 4)
    for fp16 in (False, True):
        content = _keras_to_tflite(model, fp16)
        counts = tflite.op_counts(content)
        assert (sum(n for (op, _), n in counts.items() if op == "DEQUANTIZE") > 0) == fp16
        cost = tflite.graph_cost(content)
        assert cost == {"flops": expected, "params": model.count_params()}, fp16


def test_graph_cost_counts_a_dynamic_batch_as_one_image():
    import keras

    inputs = keras.Input((4,))  # batch None: the file's shape signature says -1
    model = keras.Model(inputs, keras.layers.Dense(3, bias_initializer="ones")(inputs))
    assert tflite.graph_cost(_keras_to_tflite(model)) == {"flops": 2 * 3 * 4, "params": 15}
