"""Full and tied covariance kernels: one fused E-step + sufficient-statistics pass.

Per block of rows (transposed, rows along SIMD lanes) and component k:

    d = x − μ_k                                  (centre first: never x·U − μ·U)
    y_j = Σ_{i≤j} d_i U_k[i, j]                  (U_k upper triangular)
    log(w_k N(x | k)) = log_norm_k − ½ Σ_j y_j²

y is computed in the data's precision: float32 data gets d rounded to float32
(from the float64 difference, so an offset costs nothing), U_k as given in
float32 and twice the SIMD lanes; ½ Σ y² is summed in float64 four columns at
a time. The statistics below are float64 whatever the data.

then responsibilities by log-sum-exp over k, and the shifted sums about the
current means a_k = μ_k (upper triangle only; the M-step mirrors it):

    R_k += Σ w r_k,   S_k += Σ w r_k d,   C_k[i, j] += Σ w r_k d_i d_j   (full)
    T[i, j] += Σ w (x − c)_i (x − c)_j                                   (tied)
"""

import numpy as np
from numba import prange

from ._common import (
    BLOCK,
    BLOCKS_PER_TASK,
    VECTOR_REGISTERS,
    add_partials,
    block_kernel,
    clear_partials,
    load_block,
    parallel_kernel,
    store_block,
    tasks_per_group,
)
from ._math import responsibilities_block

TILE = 4  # features per side of a register tile: 16 FMAs per 8 loads


@block_kernel
def _triangular_step(rows, centre, prec_chol, k, i0, j0, tile):
    """tile[c, b] (+)= Σ_{i0≤i<i0+4} d_i U_k[i, j0 + c] for c < 4 (i0 < j0: a full square).

    d_i = rows[i, b] − centre[k, i] (see ``_log_prob_block``: the rows centred
    here, or the stored centred rows about a centre of zeros). The first step
    of a column group (i0 = 0) sets the tile, later ones add to it. Every row
    loaded feeds four columns.
    """
    m0 = centre[k, i0]
    m1 = centre[k, i0 + 1]
    m2 = centre[k, i0 + 2]
    m3 = centre[k, i0 + 3]
    u00 = prec_chol[k, i0, j0]
    u01 = prec_chol[k, i0, j0 + 1]
    u02 = prec_chol[k, i0, j0 + 2]
    u03 = prec_chol[k, i0, j0 + 3]
    u10 = prec_chol[k, i0 + 1, j0]
    u11 = prec_chol[k, i0 + 1, j0 + 1]
    u12 = prec_chol[k, i0 + 1, j0 + 2]
    u13 = prec_chol[k, i0 + 1, j0 + 3]
    u20 = prec_chol[k, i0 + 2, j0]
    u21 = prec_chol[k, i0 + 2, j0 + 1]
    u22 = prec_chol[k, i0 + 2, j0 + 2]
    u23 = prec_chol[k, i0 + 2, j0 + 3]
    u30 = prec_chol[k, i0 + 3, j0]
    u31 = prec_chol[k, i0 + 3, j0 + 1]
    u32 = prec_chol[k, i0 + 3, j0 + 2]
    u33 = prec_chol[k, i0 + 3, j0 + 3]
    if i0 == 0:
        for b in range(BLOCK):
            d0 = rows[0, b] - m0
            d1 = rows[1, b] - m1
            d2 = rows[2, b] - m2
            d3 = rows[3, b] - m3
            tile[0, b] = d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
            tile[1, b] = d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
            tile[2, b] = d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
            tile[3, b] = d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
    else:
        for b in range(BLOCK):
            d0 = rows[i0, b] - m0
            d1 = rows[i0 + 1, b] - m1
            d2 = rows[i0 + 2, b] - m2
            d3 = rows[i0 + 3, b] - m3
            tile[0, b] += d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
            tile[1, b] += d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
            tile[2, b] += d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
            tile[3, b] += d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33


@block_kernel
def _triangular_diagonal(xt, means, rows, centre, store, prec_chol, k, j0, diff, tile, squares, s):
    """The diagonal step of columns j0..j0+3, fused with the squares.

    y_{j0+c} = tile[c, b] + Σ_{j0≤i≤j0+c} d_i U_k[i, j0 + c] (only the upper
    triangle of the 4×4 square; no tile before the first group), d_i =
    rows[i, b] − centre[k, i] as in ``_triangular_step``; squares[s, b] +=
    Σ_c y_{j0+c}². With ``store`` (rows = diff, float32), this first use of rows
    j0..j0+3 stores them first: diff[j0 + c, b] = x − μ_k in float64, stored in
    the working precision and read back as stored by this and later steps.
    """
    if store:
        m0 = means[k, j0]
        m1 = means[k, j0 + 1]
        m2 = means[k, j0 + 2]
        m3 = means[k, j0 + 3]
        for b in range(BLOCK):
            diff[j0, b] = xt[j0, b] - m0
            diff[j0 + 1, b] = xt[j0 + 1, b] - m1
            diff[j0 + 2, b] = xt[j0 + 2, b] - m2
            diff[j0 + 3, b] = xt[j0 + 3, b] - m3
    c0 = centre[k, j0]
    c1 = centre[k, j0 + 1]
    c2 = centre[k, j0 + 2]
    c3 = centre[k, j0 + 3]
    u00 = prec_chol[k, j0, j0]
    u01 = prec_chol[k, j0, j0 + 1]
    u02 = prec_chol[k, j0, j0 + 2]
    u03 = prec_chol[k, j0, j0 + 3]
    u11 = prec_chol[k, j0 + 1, j0 + 1]
    u12 = prec_chol[k, j0 + 1, j0 + 2]
    u13 = prec_chol[k, j0 + 1, j0 + 3]
    u22 = prec_chol[k, j0 + 2, j0 + 2]
    u23 = prec_chol[k, j0 + 2, j0 + 3]
    u33 = prec_chol[k, j0 + 3, j0 + 3]
    if j0 == 0:
        for b in range(BLOCK):
            d0 = rows[0, b] - c0
            d1 = rows[1, b] - c1
            d2 = rows[2, b] - c2
            d3 = rows[3, b] - c3
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            y2 = d0 * u02 + d1 * u12 + d2 * u22
            y3 = d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
            squares[s, b] = y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3
    else:
        for b in range(BLOCK):
            d0 = rows[j0, b] - c0
            d1 = rows[j0 + 1, b] - c1
            d2 = rows[j0 + 2, b] - c2
            d3 = rows[j0 + 3, b] - c3
            y0 = tile[0, b] + d0 * u00
            y1 = tile[1, b] + d0 * u01 + d1 * u11
            y2 = tile[2, b] + d0 * u02 + d1 * u12 + d2 * u22
            y3 = tile[3, b] + d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
            squares[s, b] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3


@block_kernel
def _small_log_prob(xt, means, prec_chol, log_norm, k, n_features, diff, log_prob):
    """log_prob[k, b] = log_norm_k − ½ ‖(x_b − μ_k) U_k‖² when D < 4, in one lane loop.

    Only the real columns (for D = 2: 3 multiply-adds, not the tile's 10).
    float64 rows: d = x − μ is formed where used, nothing stored (the stores
    were a third of this loop's time at D = 2). float32 rows: d is stored in
    float32 and read back as stored, which rounds it, as in
    ``_triangular_diagonal``.
    """
    m0 = means[k, 0]
    m1 = means[k, 1]
    m2 = means[k, 2]
    u00 = prec_chol[k, 0, 0]
    u01 = prec_chol[k, 0, 1]
    u02 = prec_chol[k, 0, 2]
    u11 = prec_chol[k, 1, 1]
    u12 = prec_chol[k, 1, 2]
    u22 = prec_chol[k, 2, 2]
    norm = log_norm[k]
    if diff.itemsize == 8:  # float64: nothing to round, so nothing stored
        if n_features == 1:
            for b in range(BLOCK):
                y0 = (xt[0, b] - m0) * u00
                log_prob[k, b] = norm - 0.5 * (y0 * y0)
        elif n_features == 2:
            for b in range(BLOCK):
                d0 = xt[0, b] - m0
                d1 = xt[1, b] - m1
                y0 = d0 * u00
                y1 = d0 * u01 + d1 * u11
                log_prob[k, b] = norm - 0.5 * (y0 * y0 + y1 * y1)
        else:
            for b in range(BLOCK):
                d0 = xt[0, b] - m0
                d1 = xt[1, b] - m1
                d2 = xt[2, b] - m2
                y0 = d0 * u00
                y1 = d0 * u01 + d1 * u11
                y2 = d0 * u02 + d1 * u12 + d2 * u22
                log_prob[k, b] = norm - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2)
    elif n_features == 1:
        for b in range(BLOCK):
            diff[0, b] = xt[0, b] - m0
            y0 = diff[0, b] * u00
            log_prob[k, b] = norm - 0.5 * (y0 * y0)
    elif n_features == 2:
        for b in range(BLOCK):
            diff[0, b] = xt[0, b] - m0
            diff[1, b] = xt[1, b] - m1
            d0 = diff[0, b]
            d1 = diff[1, b]
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            log_prob[k, b] = norm - 0.5 * (y0 * y0 + y1 * y1)
    else:
        for b in range(BLOCK):
            diff[0, b] = xt[0, b] - m0
            diff[1, b] = xt[1, b] - m1
            diff[2, b] = xt[2, b] - m2
            d0 = diff[0, b]
            d1 = diff[1, b]
            d2 = diff[2, b]
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            y2 = d0 * u02 + d1 * u12 + d2 * u22
            log_prob[k, b] = norm - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2)


@block_kernel
def _log_prob_block(xt, means, prec_chol, log_norm, n_features, diff, no_centre, tile, log_prob):
    """log_prob[k, b] = log_norm_k − ½ ‖(x_b − μ_k) U_k‖² for one block.

    y = d U_k four columns at a time: the steps below the diagonal in register
    tiles, then the diagonal step, which adds their squares. d = x − μ_k is
    formed where it is used when the working precision is float64 (the rows
    about the means: subtractions beside the multiply-adds, nothing stored;
    1.3× on this loop at D = 16), and stored once per component otherwise
    (float32: d is rounded to float32 by its store, then read about
    ``no_centre``, zeros of that dtype). D is padded to a multiple of four (see
    ``_padded``); n_features is the real D (below four, only its columns are
    computed). diff, no_centre, tile and prec_chol share the working precision
    (the data's dtype); log_prob is float64.
    """
    n_components = means.shape[0]
    centre_rows = diff.itemsize == 8  # a compile-time constant per dtype
    for k in range(n_components):
        if n_features < TILE:
            _small_log_prob(xt, means, prec_chol, log_norm, k, n_features, diff, log_prob)
            continue
        if centre_rows:
            for j0 in range(0, n_features, TILE):
                for i0 in range(0, j0, TILE):
                    _triangular_step(xt, means, prec_chol, k, i0, j0, tile)
                _triangular_diagonal(
                    xt, means, xt, means, False, prec_chol, k, j0, diff, tile, log_prob, k
                )
        else:
            for j0 in range(0, n_features, TILE):
                for i0 in range(0, j0, TILE):
                    _triangular_step(diff, no_centre, prec_chol, k, i0, j0, tile)
                _triangular_diagonal(
                    xt, means, diff, no_centre, True, prec_chol, k, j0, diff, tile, log_prob, k
                )
        for b in range(BLOCK):
            log_prob[k, b] = log_norm[k] - 0.5 * log_prob[k, b]


@block_kernel
def _scatter_pair(weighted, xt, centres, c, i0, j0, second, s):
    """second[s, i0+r, j0+q] += Σ_b weighted[i0+r, b] (x_{j0+q} − centres[c, j0+q]), r < 2, q < 4.

    A 2×4 register tile: 8 running sums fed by 6 loads per lane, the centred
    columns formed beside the multiply-adds (no stored centred rows). Small
    enough that the sums and their operands stay in 16 SIMD registers (AVX2):
    a 4×4 tile spills to the stack there.
    """
    m0 = centres[c, j0]
    m1 = centres[c, j0 + 1]
    m2 = centres[c, j0 + 2]
    m3 = centres[c, j0 + 3]
    a00 = a01 = a02 = a03 = 0.0
    a10 = a11 = a12 = a13 = 0.0
    for b in range(BLOCK):
        w0 = weighted[i0, b]
        w1 = weighted[i0 + 1, b]
        d0 = xt[j0, b] - m0
        d1 = xt[j0 + 1, b] - m1
        d2 = xt[j0 + 2, b] - m2
        d3 = xt[j0 + 3, b] - m3
        a00 += w0 * d0
        a01 += w0 * d1
        a02 += w0 * d2
        a03 += w0 * d3
        a10 += w1 * d0
        a11 += w1 * d1
        a12 += w1 * d2
        a13 += w1 * d3
    second[s, i0, j0] += a00
    second[s, i0, j0 + 1] += a01
    second[s, i0, j0 + 2] += a02
    second[s, i0, j0 + 3] += a03
    second[s, i0 + 1, j0] += a10
    second[s, i0 + 1, j0 + 1] += a11
    second[s, i0 + 1, j0 + 2] += a12
    second[s, i0 + 1, j0 + 3] += a13


@block_kernel
def _scatter_square(weighted, xt, centres, c, i0, j0, second, s):
    """As ``_scatter_pair`` for r < 4: a 4×4 tile, 16 sums fed by 8 loads per lane.

    For 32 SIMD registers (AVX-512): the sums and operands fit, and each loaded
    lane feeds four multiply-adds instead of two or four (1.3× the 2×4 tile's
    rate at D = 16, the same sums in the same order).
    """
    m0 = centres[c, j0]
    m1 = centres[c, j0 + 1]
    m2 = centres[c, j0 + 2]
    m3 = centres[c, j0 + 3]
    a00 = a01 = a02 = a03 = 0.0
    a10 = a11 = a12 = a13 = 0.0
    a20 = a21 = a22 = a23 = 0.0
    a30 = a31 = a32 = a33 = 0.0
    for b in range(BLOCK):
        w0 = weighted[i0, b]
        w1 = weighted[i0 + 1, b]
        w2 = weighted[i0 + 2, b]
        w3 = weighted[i0 + 3, b]
        d0 = xt[j0, b] - m0
        d1 = xt[j0 + 1, b] - m1
        d2 = xt[j0 + 2, b] - m2
        d3 = xt[j0 + 3, b] - m3
        a00 += w0 * d0
        a01 += w0 * d1
        a02 += w0 * d2
        a03 += w0 * d3
        a10 += w1 * d0
        a11 += w1 * d1
        a12 += w1 * d2
        a13 += w1 * d3
        a20 += w2 * d0
        a21 += w2 * d1
        a22 += w2 * d2
        a23 += w2 * d3
        a30 += w3 * d0
        a31 += w3 * d1
        a32 += w3 * d2
        a33 += w3 * d3
    second[s, i0, j0] += a00
    second[s, i0, j0 + 1] += a01
    second[s, i0, j0 + 2] += a02
    second[s, i0, j0 + 3] += a03
    second[s, i0 + 1, j0] += a10
    second[s, i0 + 1, j0 + 1] += a11
    second[s, i0 + 1, j0 + 2] += a12
    second[s, i0 + 1, j0 + 3] += a13
    second[s, i0 + 2, j0] += a20
    second[s, i0 + 2, j0 + 1] += a21
    second[s, i0 + 2, j0 + 2] += a22
    second[s, i0 + 2, j0 + 3] += a23
    second[s, i0 + 3, j0] += a30
    second[s, i0 + 3, j0 + 1] += a31
    second[s, i0 + 3, j0 + 2] += a32
    second[s, i0 + 3, j0 + 3] += a33


# The scatter's register tile: rows per tile for the target's register file.
SCATTER_ROWS = 4 if VECTOR_REGISTERS >= 32 else 2
_scatter_tile = _scatter_square if SCATTER_ROWS == 4 else _scatter_pair


@block_kernel
def _scatter_upper(weighted, xt, centres, n_features, second):
    """second[0, i, j] += Σ_b weighted[i, b] (x_j − c_j) for j ≥ i, c = centres[0] (tied).

    Columns in groups of four, rows in tiles of ``SCATTER_ROWS`` up to the
    group's last column (tiles on the diagonal also fill a few entries below
    it; the M-step reads the upper triangle only). The rows are padded to a
    multiple of four with zeros; tiles of padding rows only (i ≥ n_features)
    are skipped.
    """
    for j0 in range(0, n_features, TILE):
        for i0 in range(0, min(j0 + TILE, n_features), SCATTER_ROWS):
            _scatter_tile(weighted, xt, centres, 0, i0, j0, second, 0)


@block_kernel
def _scatter_diagonal(xt, means, resp, k, j0, weighted, first, t, second):
    """The diagonal tile of rows and columns j0..j0+3 of component k, fused with their weighting.

    d = x − μ_k, weighted[j0 + c, b] = w r_k d_{j0+c} (stored for the tiles
    above this one); first[t, k, j0 + c] += Σ_b weighted; second[k, j0 + r,
    j0 + c] += Σ_b weighted[j0 + r, b] d_{j0+c} for r ≤ c. Padding features
    (x = μ = 0) give zero rows and sums.
    """
    m0 = means[k, j0]
    m1 = means[k, j0 + 1]
    m2 = means[k, j0 + 2]
    m3 = means[k, j0 + 3]
    f0 = f1 = f2 = f3 = 0.0
    a00 = a01 = a02 = a03 = a11 = a12 = a13 = a22 = a23 = a33 = 0.0
    for b in range(BLOCK):
        r = resp[k, b]
        d0 = xt[j0, b] - m0
        d1 = xt[j0 + 1, b] - m1
        d2 = xt[j0 + 2, b] - m2
        d3 = xt[j0 + 3, b] - m3
        w0 = r * d0
        w1 = r * d1
        w2 = r * d2
        w3 = r * d3
        weighted[j0, b] = w0
        weighted[j0 + 1, b] = w1
        weighted[j0 + 2, b] = w2
        weighted[j0 + 3, b] = w3
        f0 += w0
        f1 += w1
        f2 += w2
        f3 += w3
        a00 += w0 * d0
        a01 += w0 * d1
        a02 += w0 * d2
        a03 += w0 * d3
        a11 += w1 * d1
        a12 += w1 * d2
        a13 += w1 * d3
        a22 += w2 * d2
        a23 += w2 * d3
        a33 += w3 * d3
    first[t, k, j0] += f0
    first[t, k, j0 + 1] += f1
    first[t, k, j0 + 2] += f2
    first[t, k, j0 + 3] += f3
    second[k, j0, j0] += a00
    second[k, j0, j0 + 1] += a01
    second[k, j0, j0 + 2] += a02
    second[k, j0, j0 + 3] += a03
    second[k, j0 + 1, j0 + 1] += a11
    second[k, j0 + 1, j0 + 2] += a12
    second[k, j0 + 1, j0 + 3] += a13
    second[k, j0 + 2, j0 + 2] += a22
    second[k, j0 + 2, j0 + 3] += a23
    second[k, j0 + 3, j0 + 3] += a33


@block_kernel
def _scatter_component(xt, means, resp, k, n_features, weighted, first, t, second):
    """second[k] += Σ_b w r_k d dᵀ (upper), first[t, k] += Σ_b w r_k d, d = x − μ_k.

    Column groups of four in order: the diagonal tile weights its rows, then
    the tiles above it in the same columns use them.
    """
    for j0 in range(0, n_features, TILE):
        _scatter_diagonal(xt, means, resp, k, j0, weighted, first, t, second)
        for i0 in range(0, j0, SCATTER_ROWS):
            _scatter_tile(weighted, xt, means, k, i0, j0, second, k)


@block_kernel
def _padded(means, prec_chol):
    """Copies of the parameters with D rounded up to a multiple of TILE, zeros in the padding.

    Padded features have x = μ = c = 0 and zero rows and columns of U, so they
    add exact zeros to y, the squares and the sums: every kernel loop works on
    whole four-feature tiles, with no edge code.
    """
    n_components, n_features = means.shape
    n_padded = (n_features + TILE - 1) // TILE * TILE
    padded_means = np.zeros((n_components, n_padded))
    padded_factors = np.zeros((n_components, n_padded, n_padded), prec_chol.dtype)
    padded_means[:, :n_features] = means
    padded_factors[:, :n_features, :n_features] = prec_chol
    return padded_means, padded_factors


@block_kernel
def _small_component(xt, means, resp, k, n_features, t, resp_sum, first, second):
    """One component's sums when D < 4, in one lane loop (no stored rows).

    With d = x − μ_k and w r_k = resp[k]: R_k += Σ w r_k, first[t, k] += Σ w r_k d
    and second[k, i, j] += Σ w r_k d_i d_j for i ≤ j < D. The padding rows and
    columns are left alone (the tiled path adds exact zeros there).
    """
    m0 = means[k, 0]
    m1 = means[k, 1]
    m2 = means[k, 2]
    r_sum = f0 = f1 = f2 = 0.0
    s00 = s01 = s02 = s11 = s12 = s22 = 0.0
    if n_features == 1:
        for b in range(BLOCK):
            r = resp[k, b]
            d0 = xt[0, b] - m0
            w0 = r * d0
            r_sum += r
            f0 += w0
            s00 += w0 * d0
    elif n_features == 2:
        for b in range(BLOCK):
            r = resp[k, b]
            d0 = xt[0, b] - m0
            d1 = xt[1, b] - m1
            w0 = r * d0
            w1 = r * d1
            r_sum += r
            f0 += w0
            f1 += w1
            s00 += w0 * d0
            s01 += w0 * d1
            s11 += w1 * d1
    else:
        for b in range(BLOCK):
            r = resp[k, b]
            d0 = xt[0, b] - m0
            d1 = xt[1, b] - m1
            d2 = xt[2, b] - m2
            w0 = r * d0
            w1 = r * d1
            w2 = r * d2
            r_sum += r
            f0 += w0
            f1 += w1
            f2 += w2
            s00 += w0 * d0
            s01 += w0 * d1
            s02 += w0 * d2
            s11 += w1 * d1
            s12 += w1 * d2
            s22 += w2 * d2
    resp_sum[t, k] += r_sum
    first[t, k, 0] += f0
    second[k, 0, 0] += s00
    if n_features > 1:
        first[t, k, 1] += f1
        second[k, 0, 1] += s01
        second[k, 1, 1] += s11
    if n_features > 2:
        first[t, k, 2] += f2
        second[k, 0, 2] += s02
        second[k, 1, 2] += s12
        second[k, 2, 2] += s22


@block_kernel
def _first_moment(xt, means, resp, k, n_features, first, t):
    """first[t, k] += Σ_b w r_k (x − μ_k): the tied scatter needs no stored rows per component."""
    for d in range(n_features):
        mean = means[k, d]
        acc = 0.0
        for b in range(BLOCK):
            acc += (xt[d, b] - mean) * resp[k, b]
        first[t, k, d] += acc


@block_kernel
def _weight_rows(xt, centres, wt, n_features, weighted):
    """weighted = w (x − c) for the tied scatter about c = centres[0].

    Only the first n_features rows: the padding rows stay zero.
    """
    for d in range(n_features):
        c = centres[0, d]
        for b in range(BLOCK):
            weighted[d, b] = wt[b] * (xt[d, b] - c)


@block_kernel
def _stats_block(
    xt,
    wt,
    means,
    resp,
    per_component,
    scatter_centre,
    n_features,
    weighted,
    t,
    resp_sum,
    first,
    second,
):
    """Add one block's shifted sums (see module docstring) to task t's partials.

    scatter_centre: (1, D), the tied centre c; second: task t's (K or 1, D, D)
    scatter partial; weighted: (D, BLOCK) float64 scratch, D padded, whose rows
    from n_features (the real feature count) on are zero. Below four features
    each component's sums take one lane loop (``_small_component``).
    """
    n_components = means.shape[0]
    for k in range(n_components):
        if per_component and n_features < TILE:
            _small_component(xt, means, resp, k, n_features, t, resp_sum, first, second)
            continue
        acc = 0.0
        for b in range(BLOCK):
            acc += resp[k, b]
        resp_sum[t, k] += acc
        if per_component:
            _scatter_component(xt, means, resp, k, n_features, weighted, first, t, second)
        else:
            _first_moment(xt, means, resp, k, n_features, first, t)
    if not per_component:
        _weight_rows(xt, scatter_centre, wt, n_features, weighted)
        _scatter_upper(weighted, xt, scatter_centre, n_features, second)


@parallel_kernel
def accumulate(
    X,
    sample_weight,
    means,
    prec_chol,
    log_norm,
    per_component,
    scatter_shift,
    task_rows,
    out_loglik,
    out_resp_sum,
    out_first,
    out_second,
):
    """One fused E-step and statistics pass over the rows of X.

    X (n, D) float32/float64 IN; sample_weight (n,) or (0,) for unit weights IN;
    means (K, D), log_norm (K,) IN; prec_chol (K, D, D) upper triangular, in
    X's dtype (the working precision of y = d U) IN; per_component: full (True)
    or tied (False) scatter; scatter_shift (D,) the tied centre c IN;
    out_loglik (1,), out_resp_sum (K,), out_first (K, D), out_second (K or 1, D, D)
    INOUT: added to, in task order.

    Inside the parallel loop, helpers take whole arrays and indices, never
    slices: a slice costs an atomic reference count, which threads would
    contend on. The feature padding (``_padded``) is added before that loop and
    dropped after it.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_tasks = (n_samples + task_rows - 1) // task_rows
    n_scatter = n_components if per_component else 1
    padded_means, padded_factors = _padded(means, prec_chol)
    no_centre = np.zeros(padded_means.shape, X.dtype)  # see _log_prob_block
    n_padded = padded_means.shape[1]
    scatter_centre = np.zeros((1, n_padded))
    scatter_centre[0, :n_features] = scatter_shift
    part_loglik = np.empty(n_tasks)
    part_resp_sum = np.empty((n_tasks, n_components))
    part_first = np.empty((n_tasks, n_components, n_padded))
    part_second = np.empty((n_tasks, n_scatter, n_padded, n_padded))
    group = tasks_per_group(n_tasks)
    for g in prange((n_tasks + group - 1) // group):  # scratch allocated once per group
        xt = np.zeros((n_padded, BLOCK))  # rows past D stay 0: the padding
        centred = np.empty((n_padded, BLOCK), X.dtype)  # x − μ_k for the log-densities
        weighted = np.zeros((n_padded, BLOCK))  # w r_k (x − μ_k) for the statistics
        log_prob = np.empty((n_components, BLOCK))
        wt = np.empty(BLOCK)
        lanes = np.empty((3, BLOCK))
        tile = np.empty((TILE, BLOCK), X.dtype)
        for t in range(g * group, min((g + 1) * group, n_tasks)):
            clear_partials(t, part_loglik, part_resp_sum, part_first, part_second)
            second = part_second[t]
            stop = min((t + 1) * task_rows, n_samples)
            for start in range(t * task_rows, stop, BLOCK):
                load_block(X, sample_weight, start, min(BLOCK, stop - start), xt, wt)
                _log_prob_block(
                    xt,
                    padded_means,
                    padded_factors,
                    log_norm,
                    n_features,
                    centred,
                    no_centre,
                    tile,
                    log_prob,
                )
                part_loglik[t] += responsibilities_block(log_prob, wt, lanes)
                _stats_block(
                    xt,
                    wt,
                    padded_means,
                    log_prob,
                    per_component,
                    scatter_centre,
                    n_features,
                    weighted,
                    t,
                    part_resp_sum,
                    part_first,
                    second,
                )
    add_partials(  # without the padding (zeros)
        part_loglik,
        part_resp_sum,
        part_first[:, :, :n_features],
        part_second[:, :, :n_features, :n_features],
        out_loglik,
        out_resp_sum,
        out_first,
        out_second,
    )


@parallel_kernel
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    """out[n, k] = log(w_k N(x_n | μ_k, Σ_k)) for every row (predict, score).

    prec_chol in X's dtype, as for ``accumulate``; out (n, K) float64.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_tasks = (n_samples + BLOCKS_PER_TASK * BLOCK - 1) // (BLOCKS_PER_TASK * BLOCK)
    padded_means, padded_factors = _padded(means, prec_chol)
    no_centre = np.zeros(padded_means.shape, X.dtype)  # see _log_prob_block
    n_padded = padded_means.shape[1]
    no_weights = np.empty(0)
    for t in prange(n_tasks):
        xt = np.zeros((n_padded, BLOCK))
        centred = np.empty((n_padded, BLOCK), X.dtype)
        log_prob = np.empty((n_components, BLOCK))
        wt = np.empty(BLOCK)
        tile = np.empty((TILE, BLOCK), X.dtype)
        stop = min((t + 1) * BLOCKS_PER_TASK * BLOCK, n_samples)
        for start in range(t * BLOCKS_PER_TASK * BLOCK, stop, BLOCK):
            n_rows = min(BLOCK, stop - start)
            load_block(X, no_weights, start, n_rows, xt, wt)
            _log_prob_block(
                xt,
                padded_means,
                padded_factors,
                log_norm,
                n_features,
                centred,
                no_centre,
                tile,
                log_prob,
            )
            store_block(log_prob, start, n_rows, out)
