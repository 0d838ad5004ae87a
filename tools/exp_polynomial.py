"""The coefficients of the kernels' exp polynomial, from a high-precision solve.

exp(r) on |r| ≤ ln2/2 (what is left after the Cody–Waite reduction) by the
polynomial of degree 11 that interpolates exp at the 12 Chebyshev nodes of
that interval: near-minimax (its error is spread evenly over the interval),
relative error about 4e-18, far below half an ulp, with two multiply-adds
fewer than the degree-13 Taylor polynomial of the same accuracy.

The 12 × 12 Vandermonde system is solved in 50-digit arithmetic (mpmath) and
each coefficient is rounded once to the nearest double. The script prints
them, highest degree first as the kernels' Horner loops use them, and the
largest relative error of the rounded polynomial, evaluated in 50 digits, on a
fine grid of the interval. Development only (the package does not need mpmath):

    pip install mpmath && python tools/exp_polynomial.py
"""

import mpmath

DEGREE = 11
GRID = 20_001

mpmath.mp.dps = 50


def coefficients(degree: int = DEGREE) -> list[float]:
    """c_0 … c_degree, rounded to doubles, of exp's interpolant at the Chebyshev nodes."""
    half_width = mpmath.log(2) / 2
    nodes = [
        half_width * mpmath.cos(mpmath.pi * (2 * i + 1) / (2 * (degree + 1)))
        for i in range(degree + 1)
    ]
    vandermonde = mpmath.matrix([[node**power for power in range(degree + 1)] for node in nodes])
    values = mpmath.matrix([mpmath.exp(node) for node in nodes])
    return [float(c) for c in mpmath.lu_solve(vandermonde, values)]


def largest_relative_error(coefficients: list[float]) -> float:
    """max |p(r) − exp(r)| / exp(r) over GRID points of |r| ≤ ln2/2 (p's doubles exact)."""
    half_width = mpmath.log(2) / 2
    largest = mpmath.mpf(0)
    for i in range(GRID):
        r = -half_width + 2 * half_width * i / (GRID - 1)
        p = mpmath.mpf(0)
        for c in reversed(coefficients):
            p = p * r + mpmath.mpf(c)
        largest = max(largest, abs(p / mpmath.exp(r) - 1))
    return float(largest)


if __name__ == "__main__":
    found = coefficients()
    for power in reversed(range(DEGREE + 1)):
        print(f"c{power} = {found[power]!r}")
    print(f"largest relative error on |r| <= ln2/2: {largest_relative_error(found):.2e}")
