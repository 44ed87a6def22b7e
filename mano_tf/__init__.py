"""mano_tf: hand model, rotations, linear blend skinning, camera and rendering in TensorFlow.

Names are imported lazily so that `import mano_tf` stays cheap and does not
import TensorFlow until a TensorFlow-backed name is used.
"""

import importlib

_EXPORTS = {
    "HandModel": "mano_tf.hand_model",
    "HandModelError": "mano_tf.hand_model",
    "UnsafePickleError": "mano_tf.hand_model",
    "load_hand_model": "mano_tf.hand_model",
    "resolve_hand_model": "mano_tf.hand_model",
    "default_hand_model": "mano_tf.open_hand",
    "ManoLayer": "mano_tf.mano_layer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mano_tf' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return __all__
