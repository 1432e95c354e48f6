"""The recommendation engine: framework-free (NumPy, SciPy; PyTorch for neural models)."""
