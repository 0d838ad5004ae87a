"""Cython kernels: the compiled fallback for machines without Numba.

The same fused one-pass kernels as :mod:`fastem._kernels` (rows in transposed
blocks of 64 lanes, 4×4 register tiles, fixed tasks reduced in task order),
compiled ahead of time by ``pip install`` with OpenMP where the compiler has it.
"""
