"""`python -m mano_tf.open_hand`: the generator's command line (`mano_tf.open_hand.cli`)."""

import sys

from mano_tf.open_hand.cli import main

if __name__ == "__main__":
    sys.exit(main())
