"""Numba kernels (importing this package requires numba)."""
