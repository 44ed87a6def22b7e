"""Rendering: a differentiable silhouette renderer (TensorFlow) and a shaded renderer (NumPy)."""

import importlib

_EXPORTS = {
    "render_silhouette": "mano_tf.render.silhouette",
    "SilhouetteRenderer": "mano_tf.render.silhouette",
    "render_shaded": "mano_tf.render.shaded",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mano_tf.render' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
