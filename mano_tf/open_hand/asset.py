"""The open hand model at run time: the committed asset, read as the right hand or its mirror.

This is all that the rest of the code needs of the open model ("open:right" /
"open:left" in `mano_tf.hand_model.resolve_hand_model`, hence `ManoLayer`,
the data sources and the demo): it reads the shipped `.npz` and caches it.
The generator that writes that file is the rest of this package.
"""

from __future__ import annotations

import functools
import importlib.resources
import os

from mano_tf.hand_model import HandModel, load_hand_model, mirror_hand_model

ASSET_NAME = "open_hand_right.npz"


def asset_path() -> str:
    """The path of the committed right-hand asset inside the installed package."""
    return str(importlib.resources.files("mano_tf").joinpath("assets", ASSET_NAME))


@functools.lru_cache(maxsize=2)
def _load_default(side: str) -> HandModel:
    path = asset_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"the open hand model asset is missing: {path}. "
            "Regenerate it with `python -m mano_tf.open_hand`."
        )
    model = load_hand_model(path)
    return model if side == "right" else mirror_hand_model(model)


def default_hand_model(side: str = "right") -> HandModel:
    """The project's open hand model (not MANO), read from the committed asset.

    Args:
        side: "right", or "left" for the exact mirror image of the right model.

    Returns:
        The (immutable, cached) `HandModel`.

    Raises:
        ValueError: `side` is neither "right" nor "left".
        FileNotFoundError: the asset is missing from the installation.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left'. Received: side={side!r}")
    return _load_default(side)
