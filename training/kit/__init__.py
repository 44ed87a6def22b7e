"""The experiment kit: the pieces that the demo and the ablations are made of.

`training/demo.py` and `training/ablate.py` are short scripts of stages; what
they share lives here, one job per module:

* `datasets`: the synthetic training set and the held-out set (another seed,
  another background family), made once and reused; the labelled / unlabelled
  split of a set for the self-supervised study.
* `budget`: training for a wall-clock budget, the untrained model kept for
  comparison, the step calibration that turns minutes into steps.
* `learning`: what a held-out evaluation says about learning (the headline
  numbers, the targets, learning curves).
* `figures`: the pictures of a report (data strips, prediction panels, the hand
  model, the training curve, before / after PCK curves).
* `report`: the demo's HTML page.
* `studies`, `results`: the ablation studies (variants and their configs) and
  their tables.

Nothing here imports `training.demo` or `training.ablate`.
"""

from hiu_tf.errors import UserError


class ExperimentError(UserError, ValueError):
    """A bad experiment option, or a file an experiment cannot write."""
