"""Data: the sample dict (`schema`), dataset readers (`sources`), TFRecords, augmentation, pipeline.

Submodules are imported explicitly (nothing is imported here), so that reading
one dataset does not import the others.
"""
