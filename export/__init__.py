"""export: SavedModel / TF Serving, TFLite and inference runtimes."""
