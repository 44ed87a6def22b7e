"""The project's open hand model, "open-hand-v1": a MANO-compatible hand that is **not MANO**.

It stands in for the licensed MANO files wherever none is given (CI, the demo,
the tests, `ManoLayer("open:right")`). Everything in it is generated offline by
the modules of this package, deterministically, in pure NumPy; the result is
committed as `mano_tf/assets/open_hand_right.npz`, and at run time only that file
is read (`default_hand_model`, module `asset`). Regenerate it with
`python -m mano_tf.open_hand [--out PATH]` (module `cli`).

**Frame and units** are those of MANO's right hand at rest: metres; the flat
hand with the fingers along -x (the wrist at +x), the back of the hand towards
+y (the palm faces -y), the thumb and index towards +z, the pinky towards -z.
The origin is near the middle finger's knuckle, as in MANO. The wrist joint is
18.1 cm from the middle fingertip; the palm is 8.3 cm wide across the knuckles
and 2.9 cm thick.

**Joints** follow MANO's 16-joint tree and order: 0 wrist; 1-3 index (MCP, PIP,
DIP); 4-6 middle; 7-9 pinky; 10-12 ring; 13-15 thumb (CMC, MCP, IP); parents
`MANO_PARENTS`. Fingertips (`tip_vertex_ids`) are the vertices at the very end
of each finger, in the order thumb, index, middle, ring, pinky. Pose rotations
are axis-angles in the rest frame, as in MANO: finger flexion is a positive
rotation about +z (the fingers curl towards the palm, -y).

**How it is made** (`generate_hand_model`, module `generate`), one module a step:

1. `design`: a skeleton with realistic segment lengths and radii (`HandDesign`).
2. `surface`: an implicit surface: tapered capsules with elliptical sections
   for the phalanges, a rounded slab for the palm, a wrist stump, a hypothenar
   pad, each finger joined to the palm by a smooth union (`hand_sdf`).
3. `mesh` and `remesh`: marching tetrahedra on a 2.5 mm grid, then isotropic
   remeshing (short-edge collapses with link-condition and fold checks,
   valence-improving edge flips, tangential relaxation with re-projection onto
   the surface) to about 1,500 vertices (1,508 vertices, 3,012 faces): finer on
   the fingers (4.5 mm edges) than on the palm (8.5 mm). The mesh is closed
   (the wrist is capped), genus 0, and free of self-intersections at rest.
4. `rig`: skinning weights from the nearest part of the hand, blended
   across each joint along the bone and smoothed over the mesh; a joint
   regressor whose rows are convex weights of the vertices around each joint
   that reproduce the joint exactly.
5. `blend_shapes`: the shape and pose blend shapes below.
6. `poses`: the named poses (`named_pose`) and a PCA basis of finger poses
   from plausible poses drawn with a fixed seed.

**Shape coefficients** (`betas`; one unit is about one standard deviation of
adult hands; they are designed, not learned, so they are not orthogonal):

* `beta[0]` size: the whole hand scales by 5 % about the wrist (hand length
  +9 mm).
* `beta[1]` palm width: the palm widens by 6 % about its midline at the
  knuckles, half that at the wrist (about 4 mm across the knuckles); the
  fingers move apart with their knuckles.
* `beta[2]` palm length: the palm lengthens by 5 % (wrist to knuckles, about
  4 mm); the fingers move out with their knuckles.
* `beta[3]` finger length: index, middle, ring and pinky lengthen by 6 %
  (middle finger about 5.6 mm).
* `beta[4]` thumb length: the thumb (metacarpal and phalanges) lengthens by 6 %
  (about 6 mm).
* `beta[5]` finger thickness: the fingers and the thumb's phalanges thicken by
  7 % (about 1.2 mm in diameter).
* `beta[6]` hand thickness: the palm and the wrist thicken by 8 % (back to
  palm, about 2 mm).
* `beta[7]` index-to-ring ratio: the index lengthens by 3 % and the ring finger
  shortens by 3 % (about 2.5 mm each; the "2D:4D" ratio).
* `beta[8]` little finger length: the pinky lengthens by 7 % (about 5 mm).
* `beta[9]` finger taper: fingers thicken at the base (+5 %) and thin towards
  the tips (-8 % at the tip, about -0.5 mm in radius).

**Pose blend shapes** are small: on flexion the skin over each knuckle bulges
outwards (up to 2 mm at 90 degrees) and the skin of the crease on the palm
side moves in a little. **hands_components** is an orthonormal PCA basis (rows)
of the 15 finger-joint axis-angles of 4,000 plausible poses (seed `PCA_SEED`),
taken about **hands_mean**, a slightly relaxed hand (every finger a little bent,
the pose "relaxed"), as in MANO.

**Differences from MANO**: different vertex count, topology and vertex ids;
a closed mesh (MANO is open at the wrist); designed, not learned, shape and
pose blend shapes; joints placed at anatomical joint centres. The left model
is the exact mirror of the right one (`mano_tf.hand_model.mirror_hand_model`).

Licence: the project's own, like the rest of the code; no MANO data is used.
"""

# The run-time loader (`asset`) and the named poses are what the rest of the code uses;
# the generator's names are here too, for the command line, the tests and the docs.
from mano_tf.open_hand.asset import ASSET_NAME, asset_path, default_hand_model
from mano_tf.open_hand.cli import main
from mano_tf.open_hand.design import FINGER_JOINTS, FINGERS
from mano_tf.open_hand.generate import (
    MODEL_NAME,
    arrays_digest,
    generate_hand_model,
    save_compact_npz,
)
from mano_tf.open_hand.poses import NAMED_POSES, NUM_PCA_SAMPLES, PCA_SEED, named_pose

__all__ = [
    "ASSET_NAME",
    "FINGERS",
    "FINGER_JOINTS",
    "MODEL_NAME",
    "NAMED_POSES",
    "NUM_PCA_SAMPLES",
    "PCA_SEED",
    "arrays_digest",
    "asset_path",
    "default_hand_model",
    "generate_hand_model",
    "main",
    "named_pose",
    "save_compact_npz",
]
