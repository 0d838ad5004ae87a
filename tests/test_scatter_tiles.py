"""The Numba scatter's register tiles (2×4 for 16 SIMD registers, 4×4 for 32) against NumPy.

Both are tested on any machine: the kernels use the one that fits the
target's register file, and the other one must stay correct for other CPUs.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from fastem._kernels import full  # noqa: E402
from fastem._kernels._common import BLOCK  # noqa: E402


@pytest.mark.parametrize(("tile", "rows"), [("_scatter_pair", 2), ("_scatter_square", 4)])
@pytest.mark.parametrize(("i0", "j0"), [(0, 4), (4, 4), (2, 8)])
def test_scatter_tile_matches_numpy(tile, rows, i0, j0):
    rng = np.random.default_rng(i0 + 10 * j0)
    n_padded, c, s = 12, 1, 2
    weighted = rng.normal(size=(n_padded, BLOCK))
    xt = rng.normal(3.0, 1.0, (n_padded, BLOCK))
    centres = rng.normal(3.0, 1.0, (3, n_padded))
    second = rng.normal(size=(3, n_padded, n_padded))
    expected = second.copy()
    centred = xt[j0 : j0 + 4] - centres[c, j0 : j0 + 4, None]
    expected[s, i0 : i0 + rows, j0 : j0 + 4] += weighted[i0 : i0 + rows] @ centred.T

    getattr(full, tile)(weighted, xt, centres, c, i0, j0, second, s)

    np.testing.assert_allclose(second, expected, rtol=1e-13, atol=1e-12)
