"""hiu_tf: the HIU-DMTL network, targets, losses, metrics, data and visualisation."""
