"""Reference implementations that tests (and benchmarks) compare the project's code against.

`lbs_numpy`: an independent NumPy MANO forward pass. `silhouette_dense`: the
silhouette renderer's maths without tiling, culling or custom gradient.
"""
