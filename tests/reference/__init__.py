"""Independent NumPy reference implementations that tests compare the TensorFlow code against."""
