# cython: language_level=3
# (boundscheck, wraparound, initializedcheck and cdivision are set in setup.py)
"""Full and tied covariance kernels: one fused E-step + sufficient-statistics pass.

The port of :mod:`fastem._kernels.full`. Per block of rows and component k:

    d = x − μ_k                                  (centre first: never x·U − μ·U)
    y_j = Σ_{i≤j} d_i U_k[i, j]                  (U_k upper triangular)
    log(w_k N(x | k)) = log_norm_k − ½ Σ_j y_j²

(y in the data's precision: float32 rows give float32 d, U_k and y; ½ Σ y² is
summed in double four columns at a time), then responsibilities by log-sum-exp
over k, and the shifted sums about the current means (upper triangle; the tied
scatter's diagonal tiles also touch a few entries below):

    R_k += Σ w r_k,   S_k += Σ w r_k d,   C_k[i, j] += Σ w r_k d_i d_j   (full)
    T[i, j] += Σ w (x − c)_i (x − c)_j                                   (tied)
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free

from ._lanes cimport (
    BLOCK, TILE, Lanes, LogProbBlock, add_partials, lanes_alloc, load_block, log_prob_rows,
    responsibilities_block,
)
from ._openmp cimport current_threads


cdef inline void _triangular_step(const floating* rows, const double* mean, const floating* U,
                                  Py_ssize_t D, Py_ssize_t i0, Py_ssize_t j0,
                                  floating* tile) noexcept nogil:
    """tile[c, b] (+)= Σ_{i0≤i<i0+4} d_i U[i, j0 + c], c < 4 (i0 < j0: a full square).

    d_i = rows[i, b] − μ_i for double (rows = x: centred here, beside the
    multiply-adds, nothing stored), d_i = rows[i, b] for float (rows = the
    centred rows stored in float, see ``_triangular_diagonal``). The first step
    of a column group (i0 = 0) sets the tile, later ones add to it. Every row
    loaded feeds four columns.
    """
    cdef Py_ssize_t b
    cdef floating d0, d1, d2, d3
    cdef double m0 = mean[i0], m1 = mean[i0 + 1], m2 = mean[i0 + 2], m3 = mean[i0 + 3]
    cdef floating u00, u01, u02, u03, u10, u11, u12, u13
    cdef floating u20, u21, u22, u23, u30, u31, u32, u33
    cdef const floating* r0 = U + i0 * D + j0
    cdef const floating* r1 = r0 + D
    cdef const floating* r2 = r1 + D
    cdef const floating* r3 = r2 + D
    cdef const floating* e0 = rows + i0 * BLOCK
    cdef const floating* e1 = e0 + BLOCK
    cdef const floating* e2 = e1 + BLOCK
    cdef const floating* e3 = e2 + BLOCK
    u00 = r0[0]; u01 = r0[1]; u02 = r0[2]; u03 = r0[3]
    u10 = r1[0]; u11 = r1[1]; u12 = r1[2]; u13 = r1[3]
    u20 = r2[0]; u21 = r2[1]; u22 = r2[2]; u23 = r2[3]
    u30 = r3[0]; u31 = r3[1]; u32 = r3[2]; u33 = r3[3]
    if i0 == 0:
        for b in range(BLOCK):
            if floating is double:
                d0 = e0[b] - m0; d1 = e1[b] - m1; d2 = e2[b] - m2; d3 = e3[b] - m3
            else:
                d0 = e0[b]; d1 = e1[b]; d2 = e2[b]; d3 = e3[b]
            tile[b] = d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
            tile[BLOCK + b] = d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
            tile[2 * BLOCK + b] = d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
            tile[3 * BLOCK + b] = d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
    else:
        for b in range(BLOCK):
            if floating is double:
                d0 = e0[b] - m0; d1 = e1[b] - m1; d2 = e2[b] - m2; d3 = e3[b] - m3
            else:
                d0 = e0[b]; d1 = e1[b]; d2 = e2[b]; d3 = e3[b]
            tile[b] += d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
            tile[BLOCK + b] += d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
            tile[2 * BLOCK + b] += d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
            tile[3 * BLOCK + b] += d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33


cdef inline void _triangular_diagonal(const double* xt, const double* mean, const floating* U,
                                      Py_ssize_t D, Py_ssize_t j0, floating* diff,
                                      const floating* tile, double* squares) noexcept nogil:
    """The diagonal step of columns j0..j0+3, fused with the centring and the squares.

    y_{j0+c} = tile[c, b] + Σ_{j0≤i≤j0+c} d_i U[i, j0 + c] (the upper triangle
    of the 4×4 square; no tile before the first group), d = x − μ;
    squares[b] (+)= Σ_c y_{j0+c}². For double, d is formed from x where it is
    used, as in ``_triangular_step``; for float (float32 rows) this first use
    of rows j0..j0+3 stores diff[j0 + c, b] = x − μ, computed in double and
    rounded to float, for this and later steps.
    """
    cdef Py_ssize_t b
    cdef floating d0, d1, d2, d3, y0, y1, y2, y3
    cdef double m0 = mean[j0], m1 = mean[j0 + 1], m2 = mean[j0 + 2], m3 = mean[j0 + 3]
    cdef const floating* r0 = U + j0 * D + j0
    cdef const floating* r1 = r0 + D
    cdef const floating* r2 = r1 + D
    cdef const floating* r3 = r2 + D
    cdef floating u00 = r0[0], u01 = r0[1], u02 = r0[2], u03 = r0[3]
    cdef floating u11 = r1[1], u12 = r1[2], u13 = r1[3]
    cdef floating u22 = r2[2], u23 = r2[3]
    cdef floating u33 = r3[3]
    cdef const double* x0 = xt + j0 * BLOCK
    cdef floating* e0 = diff + j0 * BLOCK
    if floating is not double:
        for b in range(BLOCK):
            # x − μ in double, stored in the working precision and read back as stored
            e0[b] = <floating> (x0[b] - m0)
            e0[BLOCK + b] = <floating> (x0[BLOCK + b] - m1)
            e0[2 * BLOCK + b] = <floating> (x0[2 * BLOCK + b] - m2)
            e0[3 * BLOCK + b] = <floating> (x0[3 * BLOCK + b] - m3)
    if j0 == 0:
        for b in range(BLOCK):
            if floating is double:
                d0 = x0[b] - m0; d1 = x0[BLOCK + b] - m1
                d2 = x0[2 * BLOCK + b] - m2; d3 = x0[3 * BLOCK + b] - m3
            else:
                d0 = e0[b]; d1 = e0[BLOCK + b]; d2 = e0[2 * BLOCK + b]; d3 = e0[3 * BLOCK + b]
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            y2 = d0 * u02 + d1 * u12 + d2 * u22
            y3 = d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
            squares[b] = y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3
    else:
        for b in range(BLOCK):
            if floating is double:
                d0 = x0[b] - m0; d1 = x0[BLOCK + b] - m1
                d2 = x0[2 * BLOCK + b] - m2; d3 = x0[3 * BLOCK + b] - m3
            else:
                d0 = e0[b]; d1 = e0[BLOCK + b]; d2 = e0[2 * BLOCK + b]; d3 = e0[3 * BLOCK + b]
            y0 = tile[b] + d0 * u00
            y1 = tile[BLOCK + b] + d0 * u01 + d1 * u11
            y2 = tile[2 * BLOCK + b] + d0 * u02 + d1 * u12 + d2 * u22
            y3 = tile[3 * BLOCK + b] + d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
            squares[b] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3


cdef inline void _triangular_column(const floating* rows, const double* mean, const floating* U,
                                    Py_ssize_t D, Py_ssize_t j, floating* tile) noexcept nogil:
    """tile[0, b] = Σ_{i≤j} d_i U[i, j]: one column of y = d U (d as in ``_triangular_step``)."""
    cdef Py_ssize_t i, b
    cdef floating u
    cdef double m
    for b in range(BLOCK):
        tile[b] = 0.0
    for i in range(j + 1):
        u = U[i * D + j]
        m = mean[i]
        for b in range(BLOCK):
            if floating is double:
                tile[b] += (rows[i * BLOCK + b] - m) * u
            else:
                tile[b] += rows[i * BLOCK + b] * u


cdef inline void _small_log_prob(const double* xt, const double* mean, const floating* U,
                                 double norm, Py_ssize_t D, double* out) noexcept nogil:
    """out[b] = norm − ½ ‖(x_b − μ) U‖² when D < 4, in one lane loop (real columns only).

    x − μ in double, rounded to the working precision, as in the tiled path.
    """
    cdef Py_ssize_t b
    cdef floating d0, d1, d2, y0, y1, y2
    cdef double m0 = mean[0], m1 = 0.0, m2 = 0.0
    cdef floating u00 = U[0], u01 = 0.0, u02 = 0.0, u11 = 0.0, u12 = 0.0, u22 = 0.0
    if D > 1:
        m1 = mean[1]; u01 = U[1]; u11 = U[D + 1]
    if D > 2:
        m2 = mean[2]; u02 = U[2]; u12 = U[D + 2]; u22 = U[2 * D + 2]
    if D == 1:
        for b in range(BLOCK):
            y0 = <floating> (xt[b] - m0) * u00
            out[b] = norm - 0.5 * (y0 * y0)
    elif D == 2:
        for b in range(BLOCK):
            d0 = <floating> (xt[b] - m0)
            d1 = <floating> (xt[BLOCK + b] - m1)
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            out[b] = norm - 0.5 * (y0 * y0 + y1 * y1)
    else:
        for b in range(BLOCK):
            d0 = <floating> (xt[b] - m0)
            d1 = <floating> (xt[BLOCK + b] - m1)
            d2 = <floating> (xt[2 * BLOCK + b] - m2)
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            y2 = d0 * u02 + d1 * u12 + d2 * u22
            out[b] = norm - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2)


cdef inline void _log_prob_lanes(const double* xt, const double* means, const floating* U,
                                 const double* log_norm, Py_ssize_t K, Py_ssize_t D,
                                 floating* diff, floating* tile,
                                 double* log_prob) noexcept nogil:
    """log_prob[k, b] = log_norm_k − ½ ‖(x_b − μ_k) U_k‖², y = d U_k in floating.

    Four columns at a time: the steps below the diagonal, then the diagonal
    step (which adds the squares); then the last D mod 4 columns one by one.
    Rows are centred where they are used for double (no stored centred rows:
    the subtractions run beside the multiply-adds), and stored once per
    component, rounded to float, for float.
    """
    cdef Py_ssize_t k, d, b, column_tile, row_tile, j0, j
    cdef Py_ssize_t n_tiled = D - D % TILE
    cdef double mean
    cdef double* out
    cdef const floating* U_k
    cdef const floating* rows
    for k in range(K):
        out = log_prob + k * BLOCK
        U_k = U + k * D * D
        if D < TILE:
            _small_log_prob(xt, means + k * D, U_k, log_norm[k], D, out)
            continue
        if n_tiled == 0:
            for b in range(BLOCK):
                out[b] = 0.0
        if floating is double:
            rows = xt  # centred where used
        else:
            rows = diff  # centred once per component, stored in float
        for column_tile in range(n_tiled // TILE):
            j0 = column_tile * TILE
            for row_tile in range(column_tile):
                _triangular_step(rows, means + k * D, U_k, D, row_tile * TILE, j0, tile)
            _triangular_diagonal(xt, means + k * D, U_k, D, j0, diff, tile, out)
        if floating is not double:
            for d in range(n_tiled, D):
                mean = means[k * D + d]
                for b in range(BLOCK):
                    diff[d * BLOCK + b] = <floating> (xt[d * BLOCK + b] - mean)
        for j in range(n_tiled, D):
            _triangular_column(rows, means + k * D, U_k, D, j, tile)
            for b in range(BLOCK):
                out[b] += tile[b] * tile[b]
        for b in range(BLOCK):
            out[b] = log_norm[k] - 0.5 * out[b]


cdef void _log_prob_block(const double* xt, const double* means, const void* factors,
                          const double* log_norm, Py_ssize_t K, Py_ssize_t D,
                          Lanes* lanes) noexcept nogil:
    """One block's log-densities, y = d U_k in double (float64 rows; factors: double U)."""
    _log_prob_lanes(xt, means, <const double*> factors, log_norm, K, D, lanes.diff,
                    lanes.tile, lanes.log_prob)


cdef void _log_prob_block_single(const double* xt, const double* means, const void* factors,
                                 const double* log_norm, Py_ssize_t K, Py_ssize_t D,
                                 Lanes* lanes) noexcept nogil:
    """One block's log-densities, y = d U_k in float (float32 rows; factors: float U)."""
    _log_prob_lanes(xt, means, <const float*> factors, log_norm, K, D, lanes.diff_single,
                    lanes.tile_single, lanes.log_prob)


cdef inline void _scatter_tile(const double* weighted, const double* xt, const double* centre,
                               Py_ssize_t D, Py_ssize_t i0, Py_ssize_t j0,
                               double* second) noexcept nogil:
    """second[i0 + r, j0 + c] += Σ_b weighted[i0 + r, b] (x_{j0+c} − centre[j0 + c]), r, c < 4.

    A 4×4 register tile: 16 running sums fed by 8 loads per lane; the centred
    columns come from the rows (subtractions beside the multiply-adds).
    """
    cdef Py_ssize_t b
    cdef double w0, w1, w2, w3, d0, d1, d2, d3
    cdef double m0 = centre[j0], m1 = centre[j0 + 1], m2 = centre[j0 + 2], m3 = centre[j0 + 3]
    cdef double a00 = 0.0, a01 = 0.0, a02 = 0.0, a03 = 0.0
    cdef double a10 = 0.0, a11 = 0.0, a12 = 0.0, a13 = 0.0
    cdef double a20 = 0.0, a21 = 0.0, a22 = 0.0, a23 = 0.0
    cdef double a30 = 0.0, a31 = 0.0, a32 = 0.0, a33 = 0.0
    cdef double* row
    for b in range(BLOCK):
        w0 = weighted[i0 * BLOCK + b]
        w1 = weighted[(i0 + 1) * BLOCK + b]
        w2 = weighted[(i0 + 2) * BLOCK + b]
        w3 = weighted[(i0 + 3) * BLOCK + b]
        d0 = xt[j0 * BLOCK + b] - m0
        d1 = xt[(j0 + 1) * BLOCK + b] - m1
        d2 = xt[(j0 + 2) * BLOCK + b] - m2
        d3 = xt[(j0 + 3) * BLOCK + b] - m3
        a00 += w0 * d0; a01 += w0 * d1; a02 += w0 * d2; a03 += w0 * d3
        a10 += w1 * d0; a11 += w1 * d1; a12 += w1 * d2; a13 += w1 * d3
        a20 += w2 * d0; a21 += w2 * d1; a22 += w2 * d2; a23 += w2 * d3
        a30 += w3 * d0; a31 += w3 * d1; a32 += w3 * d2; a33 += w3 * d3
    row = second + i0 * D + j0
    row[0] += a00; row[1] += a01; row[2] += a02; row[3] += a03
    row += D
    row[0] += a10; row[1] += a11; row[2] += a12; row[3] += a13
    row += D
    row[0] += a20; row[1] += a21; row[2] += a22; row[3] += a23
    row += D
    row[0] += a30; row[1] += a31; row[2] += a32; row[3] += a33


cdef inline void _scatter_column_edge(const double* weighted, const double* xt,
                                      const double* centre, Py_ssize_t D, Py_ssize_t i0,
                                      Py_ssize_t j, double* second) noexcept nogil:
    """second[i0 + r, j] += Σ_b weighted[i0 + r, b] (x_j − centre[j]) for r < 4."""
    cdef Py_ssize_t b
    cdef double d, m = centre[j], a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
    for b in range(BLOCK):
        d = xt[j * BLOCK + b] - m
        a0 += weighted[i0 * BLOCK + b] * d
        a1 += weighted[(i0 + 1) * BLOCK + b] * d
        a2 += weighted[(i0 + 2) * BLOCK + b] * d
        a3 += weighted[(i0 + 3) * BLOCK + b] * d
    second[i0 * D + j] += a0
    second[(i0 + 1) * D + j] += a1
    second[(i0 + 2) * D + j] += a2
    second[(i0 + 3) * D + j] += a3


cdef void _scatter_edge(const double* weighted, const double* xt, const double* centre,
                       Py_ssize_t D, double* second) noexcept nogil:
    """The last D mod 4 columns j of the upper scatter: entries i ≤ j."""
    cdef Py_ssize_t row_tile, i, j, b
    cdef Py_ssize_t n_tiled = D - D % TILE
    cdef double acc, m
    for j in range(n_tiled, D):
        for row_tile in range(n_tiled // TILE):
            _scatter_column_edge(weighted, xt, centre, D, row_tile * TILE, j, second)
        m = centre[j]
        for i in range(n_tiled, j + 1):
            acc = 0.0
            for b in range(BLOCK):
                acc += weighted[i * BLOCK + b] * (xt[j * BLOCK + b] - m)
            second[i * D + j] += acc


cdef void _scatter_upper(const double* weighted, const double* xt, const double* centre,
                         Py_ssize_t D, double* second) noexcept nogil:
    """second[i, j] += Σ_b weighted[i, b] (x_j − centre[j]) for j ≥ i (and a few i > j on tiles)."""
    cdef Py_ssize_t row_tile, column_tile
    cdef Py_ssize_t n_tiles = (D - D % TILE) // TILE
    for row_tile in range(n_tiles):
        for column_tile in range(row_tile, n_tiles):
            _scatter_tile(weighted, xt, centre, D, row_tile * TILE, column_tile * TILE, second)
    _scatter_edge(weighted, xt, centre, D, second)


cdef inline void _weight_component(const double* xt, const double* mean, const double* resp,
                                   Py_ssize_t D, double* weighted, double* first) noexcept nogil:
    """weighted = w r_k (x − μ_k); first[d] += Σ_b weighted[d, b]."""
    cdef Py_ssize_t d, b
    cdef double acc, value, m
    for d in range(D):
        m = mean[d]
        acc = 0.0
        for b in range(BLOCK):
            value = resp[b] * (xt[d * BLOCK + b] - m)
            weighted[d * BLOCK + b] = value
            acc += value
        first[d] += acc


cdef inline void _scatter_diagonal(const double* xt, const double* mean, const double* resp,
                                   Py_ssize_t D, Py_ssize_t j0, double* weighted,
                                   double* first, double* second) noexcept nogil:
    """The diagonal tile of rows and columns j0..j0+3, fused with their weighting.

    d = x − μ_k, weighted[j0 + c, b] = w r_k d (stored for the tiles above this
    one); first[j0 + c] += Σ_b weighted; second[j0 + r, j0 + c] += Σ_b
    weighted[j0 + r, b] d_{j0+c} for r ≤ c.
    """
    cdef Py_ssize_t b
    cdef double r, d0, d1, d2, d3, w0, w1, w2, w3
    cdef double m0 = mean[j0], m1 = mean[j0 + 1], m2 = mean[j0 + 2], m3 = mean[j0 + 3]
    cdef double f0 = 0.0, f1 = 0.0, f2 = 0.0, f3 = 0.0
    cdef double a00 = 0.0, a01 = 0.0, a02 = 0.0, a03 = 0.0
    cdef double a11 = 0.0, a12 = 0.0, a13 = 0.0, a22 = 0.0, a23 = 0.0, a33 = 0.0
    cdef const double* x0 = xt + j0 * BLOCK
    cdef double* v0 = weighted + j0 * BLOCK
    cdef double* row
    for b in range(BLOCK):
        r = resp[b]
        d0 = x0[b] - m0
        d1 = x0[BLOCK + b] - m1
        d2 = x0[2 * BLOCK + b] - m2
        d3 = x0[3 * BLOCK + b] - m3
        w0 = r * d0; w1 = r * d1; w2 = r * d2; w3 = r * d3
        v0[b] = w0; v0[BLOCK + b] = w1; v0[2 * BLOCK + b] = w2; v0[3 * BLOCK + b] = w3
        f0 += w0; f1 += w1; f2 += w2; f3 += w3
        a00 += w0 * d0; a01 += w0 * d1; a02 += w0 * d2; a03 += w0 * d3
        a11 += w1 * d1; a12 += w1 * d2; a13 += w1 * d3
        a22 += w2 * d2; a23 += w2 * d3
        a33 += w3 * d3
    first[j0] += f0; first[j0 + 1] += f1; first[j0 + 2] += f2; first[j0 + 3] += f3
    row = second + j0 * D + j0
    row[0] += a00; row[1] += a01; row[2] += a02; row[3] += a03
    row += D
    row[1] += a11; row[2] += a12; row[3] += a13
    row += D
    row[2] += a22; row[3] += a23
    row += D
    row[3] += a33


cdef void _scatter_component(const double* xt, const double* mean, const double* resp,
                             Py_ssize_t D, double* weighted, double* first,
                             double* second) noexcept nogil:
    """One component: second += Σ_b w r d dᵀ (upper), first += Σ_b w r d, d = x − μ_k.

    Column groups of four in order: the diagonal tile weights its rows, then the
    tiles above it use them; the last D mod 4 rows and columns come after.
    """
    cdef Py_ssize_t column_tile, row_tile, j0
    cdef Py_ssize_t n_tiled = D - D % TILE
    for column_tile in range(n_tiled // TILE):
        j0 = column_tile * TILE
        _scatter_diagonal(xt, mean, resp, D, j0, weighted, first, second)
        for row_tile in range(column_tile):
            _scatter_tile(weighted, xt, mean, D, row_tile * TILE, j0, second)
    if n_tiled < D:
        _weight_component(xt + n_tiled * BLOCK, mean + n_tiled, resp, D - n_tiled,
                          weighted + n_tiled * BLOCK, first + n_tiled)
        _scatter_edge(weighted, xt, mean, D, second)


cdef void _small_component(const double* xt, const double* mean, const double* resp,
                           Py_ssize_t D, double* resp_sum, double* first,
                           double* second) noexcept nogil:
    """One component's sums when D < 4, in one lane loop (no stored rows).

    d = x − μ_k: resp_sum += Σ_b w r_k, first += Σ_b w r_k d, second[i, j] += Σ_b
    w r_k d_i d_j for i ≤ j.
    """
    cdef Py_ssize_t b
    cdef double r, d0, d1, d2, w0, w1, w2
    cdef double m0 = mean[0], m1 = mean[1] if D > 1 else 0.0, m2 = mean[2] if D > 2 else 0.0
    cdef double r_sum = 0.0, f0 = 0.0, f1 = 0.0, f2 = 0.0
    cdef double s00 = 0.0, s01 = 0.0, s02 = 0.0, s11 = 0.0, s12 = 0.0, s22 = 0.0
    if D == 1:
        for b in range(BLOCK):
            r = resp[b]
            d0 = xt[b] - m0
            w0 = r * d0
            r_sum += r; f0 += w0; s00 += w0 * d0
    elif D == 2:
        for b in range(BLOCK):
            r = resp[b]
            d0 = xt[b] - m0
            d1 = xt[BLOCK + b] - m1
            w0 = r * d0; w1 = r * d1
            r_sum += r; f0 += w0; f1 += w1
            s00 += w0 * d0; s01 += w0 * d1; s11 += w1 * d1
    else:
        for b in range(BLOCK):
            r = resp[b]
            d0 = xt[b] - m0
            d1 = xt[BLOCK + b] - m1
            d2 = xt[2 * BLOCK + b] - m2
            w0 = r * d0; w1 = r * d1; w2 = r * d2
            r_sum += r; f0 += w0; f1 += w1; f2 += w2
            s00 += w0 * d0; s01 += w0 * d1; s02 += w0 * d2
            s11 += w1 * d1; s12 += w1 * d2; s22 += w2 * d2
    resp_sum[0] += r_sum
    first[0] += f0
    second[0] += s00
    if D > 1:
        first[1] += f1
        second[1] += s01
        second[D + 1] += s11
    if D > 2:
        first[2] += f2
        second[2] += s02
        second[D + 2] += s12
        second[2 * D + 2] += s22


cdef inline void _weight_rows(const double* xt, const double* centre, const double* wt,
                              Py_ssize_t D, double* weighted) noexcept nogil:
    """weighted = w (x − c) (the tied scatter about c)."""
    cdef Py_ssize_t d, b
    cdef double c
    for d in range(D):
        c = centre[d]
        for b in range(BLOCK):
            weighted[d * BLOCK + b] = wt[b] * (xt[d * BLOCK + b] - c)


cdef void _accumulate_task(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                           const double* weights, Py_ssize_t start, Py_ssize_t stop,
                           const double* means, const floating* prec_chol,
                           const double* log_norm, bint per_component,
                           const double* scatter_shift, Py_ssize_t K, Py_ssize_t D,
                           Lanes* lanes, double* loglik, double* resp_sum, double* first,
                           double* second) noexcept nogil:
    """Add the shifted sums of rows start..stop to one task's partials."""
    cdef Py_ssize_t step, block, k, b
    cdef double total
    cdef const double* resp
    for step in range((stop - start + BLOCK - 1) // BLOCK):
        block = start + step * BLOCK
        load_block(X, row_stride, col_stride, D, weights, block,
                   min(<Py_ssize_t> BLOCK, stop - block), lanes.xt, lanes.wt)
        if floating is float:
            _log_prob_block_single(lanes.xt, means, prec_chol, log_norm, K, D, lanes)
        else:
            _log_prob_block(lanes.xt, means, prec_chol, log_norm, K, D, lanes)
        loglik[0] += responsibilities_block(lanes.log_prob, K, lanes)
        for k in range(K):
            resp = lanes.log_prob + k * BLOCK
            if per_component and D < TILE:
                _small_component(lanes.xt, means + k * D, resp, D, resp_sum + k, first + k * D,
                                 second + k * D * D)
                continue
            total = 0.0
            for b in range(BLOCK):
                total += resp[b]
            resp_sum[k] += total
            if per_component:
                _scatter_component(lanes.xt, means + k * D, resp, D, lanes.weighted,
                                   first + k * D, second + k * D * D)
            else:
                _weight_component(lanes.xt, means + k * D, resp, D, lanes.weighted,
                                  first + k * D)
        if not per_component:
            _weight_rows(lanes.xt, scatter_shift, lanes.wt, D, lanes.weighted)
            _scatter_upper(lanes.weighted, lanes.xt, scatter_shift, D, second)


def accumulate(const floating[:, :] X, const double[::1] sample_weight,
               const double[:, ::1] means, const floating[:, :, ::1] prec_chol,
               const double[::1] log_norm, bint per_component,
               const double[::1] scatter_shift, Py_ssize_t task_rows,
               double[::1] out_loglik, double[::1] out_resp_sum, double[:, ::1] out_first,
               double[:, :, ::1] out_second):
    """One fused E-step and statistics pass over the rows of X (see the Numba kernel).

    X (n, D) float32/float64; sample_weight (n,) or (0,) for unit weights;
    means (K, D), log_norm (K,); prec_chol (K, D, D) upper triangular, in X's
    dtype (the precision of y = d U);
    per_component: full (True) or tied (False) scatter about scatter_shift (D,);
    out_loglik (1,), out_resp_sum (K,), out_first (K, D), out_second (K or 1, D, D):
    added to, task by task in task order.
    """
    cdef Py_ssize_t n_samples = X.shape[0], D = X.shape[1], K = means.shape[0]
    if n_samples == 0:
        return
    cdef Py_ssize_t n_tasks = (n_samples + task_rows - 1) // task_rows
    cdef Py_ssize_t n_scatter = K if per_component else 1
    cdef double[::1] part_loglik = np.zeros(n_tasks)
    cdef double[:, ::1] part_resp_sum = np.zeros((n_tasks, K))
    cdef double[:, :, ::1] part_first = np.zeros((n_tasks, K, D))
    cdef double[:, :, :, ::1] part_second = np.zeros((n_tasks, n_scatter, D, D))
    cdef const floating* data = &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t col_stride = X.strides[1] // sizeof(floating)
    cdef const double* weights = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef const double* shift = &scatter_shift[0] if scatter_shift.shape[0] > 0 else NULL
    cdef Py_ssize_t t
    cdef Lanes lanes
    cdef int failed = 0
    cdef int* out_of_memory = &failed  # shared: a write through it reaches every thread
    with nogil, parallel(num_threads=current_threads()):
        lanes = lanes_alloc(D, K)
        # dynamic: on a shared server a thread slowed by another process does not hold
        # the call up. Each task writes its own partial: the bits do not depend on it.
        for t in prange(n_tasks, schedule="dynamic"):
            if lanes.xt == NULL:
                out_of_memory[0] = 1
            else:
                _accumulate_task(
                    data, row_stride, col_stride, weights, t * task_rows,
                    min((t + 1) * task_rows, n_samples), &means[0, 0], &prec_chol[0, 0, 0],
                    &log_norm[0], per_component, shift, K, D, &lanes, &part_loglik[t],
                    &part_resp_sum[t, 0], &part_first[t, 0, 0], &part_second[t, 0, 0, 0],
                )
        free(lanes.xt)
    if failed:
        raise MemoryError("could not allocate the kernel's block buffers")
    add_partials(n_tasks, &part_loglik[0], &part_resp_sum[0, 0], K, &part_first[0, 0, 0],
                 K * D, &part_second[0, 0, 0, 0], n_scatter * D * D, &out_loglik[0],
                 &out_resp_sum[0], &out_first[0, 0], &out_second[0, 0, 0])


def weighted_log_prob(const floating[:, :] X, const double[:, ::1] means,
                      const floating[:, :, ::1] prec_chol, const double[::1] log_norm,
                      double[:, ::1] out):
    """out[n, k] = log(w_k N(x_n | μ_k, Σ_k)) for every row (predict, score).

    prec_chol in X's dtype, as for ``accumulate``; out (n, K) double.
    """
    cdef Py_ssize_t n_samples = X.shape[0]
    if n_samples == 0:
        return
    cdef LogProbBlock log_prob_block
    if floating is float:
        log_prob_block = _log_prob_block_single
    else:
        log_prob_block = _log_prob_block
    cdef bint done
    with nogil:
        done = log_prob_rows(&X[0, 0], X.strides[0] // sizeof(floating),
                             X.strides[1] // sizeof(floating), n_samples, X.shape[1],
                             log_prob_block, &means[0, 0], &prec_chol[0, 0, 0], &log_norm[0],
                             means.shape[0], &out[0, 0], current_threads())
    if not done:
        raise MemoryError("could not allocate the kernel's block buffers")
