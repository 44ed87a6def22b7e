"""Dataset readers, one per dataset, each producing the sample dict of `hiu_tf.data.schema`.

`get_reader(name)` returns a reader class by name, importing only its module.
"""

from __future__ import annotations

import importlib

from hiu_tf.errors import UserError

# name -> (module, class); modules are imported only when used.
READERS: dict[str, tuple[str, str]] = {
    "freihand": ("hiu_tf.data.sources.freihand", "FreiHandReader"),
    "rhd": ("hiu_tf.data.sources.rhd", "RHDReader"),
    "stb": ("hiu_tf.data.sources.stb", "STBReader"),
    "panoptic": ("hiu_tf.data.sources.panoptic", "PanopticReader"),
    "coco_hand": ("hiu_tf.data.sources.coco_hand", "CocoHandReader"),
    "folder": ("hiu_tf.data.sources.folder", "FolderReader"),
}


def get_reader(name: str):
    """The reader class called `name` (see `READERS`).

    Raises:
        UserError: an unknown name.
    """
    if name not in READERS:
        raise UserError(f"unknown data source {name!r}; choose one of {sorted(READERS)}")
    module, cls = READERS[name]
    return getattr(importlib.import_module(module), cls)
