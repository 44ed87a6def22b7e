"""Random hand models written in the layout of the official MANO pickles.

The official files hold chumpy `Ch` objects and a scipy sparse `J_regressor`.
Neither chumpy nor scipy is needed here: stand-in classes with the same
module paths are registered in `sys.modules` only while pickling, so the file
refers to `chumpy.ch.Ch` and `scipy.sparse._csc.csc_matrix` exactly as a real
MANO file does, and the loader under test must cope without them.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types

import numpy as np

MANO_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]


class _FakeCh:
    """Pickles like chumpy's Ch leaf: the array lives in the state dict under 'x'."""

    def __init__(self, x):
        self.x = x
        self._dirty_vars = set()


class _FakeCsc:
    """Pickles like scipy.sparse.csc_matrix: data/indices/indptr/_shape in the state."""

    def __init__(self, dense):
        dense = np.asarray(dense)
        data, indices, indptr = [], [], [0]
        for col in range(dense.shape[1]):
            rows = np.nonzero(dense[:, col])[0]
            indices.extend(rows.tolist())
            data.extend(dense[rows, col].tolist())
            indptr.append(len(indices))
        self.data = np.asarray(data)
        self.indices = np.asarray(indices, dtype=np.int32)
        self.indptr = np.asarray(indptr, dtype=np.int32)
        self._shape = dense.shape
        self.maxprint = 50
        self.format = "csc"


@contextlib.contextmanager
def _fake_modules():
    ch = types.ModuleType("chumpy.ch")
    csc = types.ModuleType("scipy.sparse._csc")
    _FakeCh.__module__, _FakeCh.__qualname__, _FakeCh.__name__ = "chumpy.ch", "Ch", "Ch"
    _FakeCsc.__module__, _FakeCsc.__qualname__ = "scipy.sparse._csc", "csc_matrix"
    _FakeCsc.__name__ = "csc_matrix"
    ch.Ch, csc.csc_matrix = _FakeCh, _FakeCsc
    modules = {"chumpy.ch": ch, "scipy.sparse._csc": csc}
    # pickle imports the parent packages too: stand-ins for them, only while pickling.
    for parent in ("chumpy", "scipy", "scipy.sparse"):
        modules[parent] = types.ModuleType(parent)
    saved = {k: sys.modules.get(k) for k in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


def random_mano_dict(seed: int, num_vertices: int = 778, num_faces: int = 1538) -> dict:
    """A random model with every key and shape of MANO_RIGHT.pkl (plain NumPy arrays)."""
    rng = np.random.default_rng(seed)
    v = num_vertices
    v_template = rng.normal(scale=0.03, size=(v, 3))
    weights = rng.random((v, 16)) ** 4
    weights /= weights.sum(axis=1, keepdims=True)
    j_regressor = np.zeros((16, v))
    for j in range(16):
        idx = rng.choice(v, size=8, replace=False)
        w = rng.random(8)
        j_regressor[j, idx] = w / w.sum()
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    kintree = np.array([MANO_PARENTS, list(range(16))], dtype=np.int64)
    kintree[0, 0] = 4294967295  # MANO stores the root's parent as uint32 -1
    return {
        "v_template": v_template,
        "f": rng.integers(0, v, size=(num_faces, 3)).astype(np.uint32),
        "shapedirs": rng.normal(scale=0.005, size=(v, 3, 10)),
        "posedirs": rng.normal(scale=0.005, size=(v, 3, 135)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "hands_components": q,
        "hands_mean": rng.normal(scale=0.2, size=45),
        "hands_coeffs": rng.normal(size=(20, 45)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_mano_pickle(path, data: dict, protocol: int = 2) -> None:
    """Writes `data` like an official MANO file: Ch shapedirs, sparse J_regressor."""
    data = dict(data)
    data["shapedirs"] = _FakeCh(np.asarray(data["shapedirs"]))
    data["J_regressor"] = _FakeCsc(data["J_regressor"])
    with _fake_modules(), open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
