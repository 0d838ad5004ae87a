# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""What every Cython kernel shares: the row block, its buffers, exp/log over lanes.

As in the Numba kernels (:mod:`fastem._kernels._common`): rows are processed
in blocks of ``BLOCK`` rows held transposed, ``buffer[d * BLOCK + b]``, so every
inner loop runs over the same constant number of lanes and compiles to SIMD
code. Padding lanes repeat the block's first row with weight 0.

exp(x), x ≤ 0: x = n ln2 + r (Cody–Waite, with explicit fused multiply-adds so
that no compiler reassociation can merge the two halves of ln2), exp(r) by the
degree-11 polynomial interpolating exp at the Chebyshev nodes of |r| ≤ ln2/2
(the Numba kernels' coefficients, from ``tools/exp_polynomial.py``), 2ⁿ built
in the exponent bits; 0 below −708.
log(x), 1 ≤ x < 2⁵³: x = 2ᵉ m, m in [√½, √2), log m = 2 atanh((m − 1)/(m + 1)).
"""

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport floor, fma
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    static inline double fastem_from_bits(int64_t bits) {
        double x; memcpy(&x, &bits, sizeof x); return x;
    }
    static inline int64_t fastem_to_bits(double x) {
        int64_t bits; memcpy(&bits, &x, sizeof bits); return bits;
    }
    static const double FASTEM_LN2_HIGH = 0.6931471803691238;  /* ln 2 to 32 bits */
    static const double FASTEM_LN2_LOW = 1.9082149292705877e-10;  /* ln 2 - LN2_HIGH */
    static const double FASTEM_INV_LN2 = 1.4426950408889634;
    static const double FASTEM_EXP_UNDERFLOW = -708.0;
    static const double FASTEM_SQRT_TWO = 1.4142135623730951;
    static const int64_t FASTEM_MANTISSA_MASK = ((int64_t) 1 << 52) - 1;
    static const int64_t FASTEM_EXPONENT_ONE = (int64_t) 1023 << 52;
    /* 2^52 + 1023: an integer i in [-1023, 2^52 - 1023) plus this is exact, and the
       sum's low 52 bits hold i + 1023 (the biased exponent) */
    static const double FASTEM_EXPONENT_SHIFTER = 4503599627371519.0;
    /* the bits of 2^52: OR-ed with a biased exponent e < 2^52 they make the double 2^52 + e */
    static const uint64_t FASTEM_EXPONENT_SHIFTER_HIGH = (uint64_t) 0x4330000000000000;
    """
    double from_bits "fastem_from_bits"(int64_t bits) noexcept nogil
    int64_t to_bits "fastem_to_bits"(double x) noexcept nogil
    const double LN2_HIGH "FASTEM_LN2_HIGH"
    const double LN2_LOW "FASTEM_LN2_LOW"
    const double INV_LN2 "FASTEM_INV_LN2"
    const double EXP_UNDERFLOW "FASTEM_EXP_UNDERFLOW"
    const double SQRT_TWO "FASTEM_SQRT_TWO"
    const int64_t MANTISSA_MASK "FASTEM_MANTISSA_MASK"
    const int64_t EXPONENT_ONE "FASTEM_EXPONENT_ONE"
    const double EXPONENT_SHIFTER "FASTEM_EXPONENT_SHIFTER"
    const uint64_t EXPONENT_SHIFTER_HIGH "FASTEM_EXPONENT_SHIFTER_HIGH"

cdef enum:
    BLOCK = 128  # rows per block: 16 AVX-512 double vectors per row
    TILE = 4  # features per side of a register tile

cdef struct Lanes:
    # A thread's block buffers, each a multiple of BLOCK doubles (or floats).
    double* xt  # (D, BLOCK) the block's rows, transposed
    double* diff  # (D, BLOCK) x − μ_k
    double* weighted  # (D, BLOCK) w r_k (x − μ_k)
    double* log_prob  # (K, BLOCK) log-densities, then w·r
    double* wt  # (BLOCK,) row weights, 0 on padding lanes
    double* peak  # (BLOCK,) max_k log_prob
    double* total  # (BLOCK,) Σ_k exp(l_k − peak)
    double* log_total  # (BLOCK,)
    double* tile  # (TILE, BLOCK)
    float* diff_single  # (D, BLOCK) x − μ_k rounded to float32 (float32 rows)
    float* tile_single  # (TILE, BLOCK)


# A covariance family's log-density of one block: lanes.log_prob[k, b] from lanes.xt.
# factors: the family's precision factors, in the working precision that family
# documents (double, or float for float32 rows where it says so).
ctypedef void (*LogProbBlock)(const double* xt, const double* means, const void* factors,
                              const double* log_norm, Py_ssize_t K, Py_ssize_t D,
                              Lanes* lanes) noexcept nogil


cdef inline Lanes lanes_alloc(Py_ssize_t n_features, Py_ssize_t n_components) noexcept nogil:
    """A thread's buffers in one allocation, freed by free(lanes.xt); xt is NULL if out of memory.

    Returned by value: inside a parallel block, an assigned variable is thread-private.
    """
    cdef Lanes lanes = Lanes(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    lanes.xt = <double*> malloc(
        sizeof(double) * BLOCK * (3 * n_features + n_components + 4 + TILE)
        + sizeof(float) * BLOCK * (n_features + TILE))
    if lanes.xt == NULL:
        return lanes
    lanes.diff = lanes.xt + n_features * BLOCK
    lanes.weighted = lanes.diff + n_features * BLOCK
    lanes.log_prob = lanes.weighted + n_features * BLOCK
    lanes.wt = lanes.log_prob + n_components * BLOCK
    lanes.peak = lanes.wt + BLOCK
    lanes.total = lanes.peak + BLOCK
    lanes.log_total = lanes.total + BLOCK
    lanes.tile = lanes.log_total + BLOCK
    lanes.diff_single = <float*> (lanes.tile + TILE * BLOCK)
    lanes.tile_single = lanes.diff_single + n_features * BLOCK
    return lanes


cdef inline void _load_rows(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                            Py_ssize_t n_features, Py_ssize_t start, double* xt) noexcept nogil:
    """xt[d, b] = X[start + b, d] for a whole block: four features per lane loop.

    Each loop reads a fixed group of columns from every row, so the compiler
    loads them as vectors and transposes in registers (a loop over all columns
    of a row, of unknown length, reads one element at a time).
    """
    cdef Py_ssize_t b, d
    cdef Py_ssize_t n_grouped = n_features - n_features % 4
    cdef const floating* row
    for d in range(0, n_grouped, 4):
        for b in range(BLOCK):
            row = X + (start + b) * row_stride + d * col_stride
            xt[d * BLOCK + b] = row[0]
            xt[(d + 1) * BLOCK + b] = row[col_stride]
            xt[(d + 2) * BLOCK + b] = row[2 * col_stride]
            xt[(d + 3) * BLOCK + b] = row[3 * col_stride]
    d = n_grouped
    if n_features - d == 1:
        for b in range(BLOCK):
            xt[d * BLOCK + b] = X[(start + b) * row_stride + d * col_stride]
    elif n_features - d == 2:
        for b in range(BLOCK):
            row = X + (start + b) * row_stride + d * col_stride
            xt[d * BLOCK + b] = row[0]
            xt[(d + 1) * BLOCK + b] = row[col_stride]
    elif n_features - d == 3:
        for b in range(BLOCK):
            row = X + (start + b) * row_stride + d * col_stride
            xt[d * BLOCK + b] = row[0]
            xt[(d + 1) * BLOCK + b] = row[col_stride]
            xt[(d + 2) * BLOCK + b] = row[2 * col_stride]


cdef inline void load_block(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                            Py_ssize_t n_features, const double* weights, Py_ssize_t start,
                            Py_ssize_t n_rows, double* xt, double* wt) noexcept nogil:
    """xt[d, b] = X[start + b, d] as double; wt[b] = row weight (NULL: 1), 0 on padding."""
    cdef Py_ssize_t b, d, row
    if n_rows == BLOCK:
        _load_rows(X, row_stride, col_stride, n_features, start, xt)
        for b in range(BLOCK):
            wt[b] = 1.0 if weights == NULL else weights[start + b]
        return
    for b in range(BLOCK):
        row = start + b if b < n_rows else start
        for d in range(n_features):
            xt[d * BLOCK + b] = X[row * row_stride + d * col_stride]
        if b >= n_rows:
            wt[b] = 0.0
        elif weights == NULL:
            wt[b] = 1.0
        else:
            wt[b] = weights[row]


cdef inline void store_block(const double* log_prob, Py_ssize_t n_components, Py_ssize_t start,
                             Py_ssize_t n_rows, double* out) noexcept nogil:
    """out[start + b, k] = log_prob[k, b] for the real rows of the block."""
    cdef Py_ssize_t b, k
    for b in range(n_rows):
        for k in range(n_components):
            out[(start + b) * n_components + k] = log_prob[k * BLOCK + b]


cdef inline void exp_lanes(double* x) noexcept nogil:
    """x[b] ← exp(x[b]) for x ≤ 0.

    2ⁿ is built without a float → int64 conversion (which AVX2 lacks, and which
    kept this loop scalar): n + (2⁵² + 1023) is exact and holds n + 1023 in its
    low mantissa bits, which a shift by 52 moves into the exponent field.
    """
    cdef Py_ssize_t b
    cdef double v, n, r, p, scale
    for b in range(BLOCK):
        v = x[b] if x[b] > EXP_UNDERFLOW else EXP_UNDERFLOW
        n = floor(v * INV_LN2 + 0.5)
        r = fma(-n, LN2_LOW, fma(-n, LN2_HIGH, v))
        p = 2.5110037605963777e-08  # c_11 … c_2 (c_1 = c_0 = 1)
        p = p * r + 2.763263963904103e-07
        p = p * r + 2.755724091857897e-06
        p = p * r + 2.4801485482328494e-05
        p = p * r + 0.00019841269890047113
        p = p * r + 0.0013888888952314775
        p = p * r + 0.008333333333319601
        p = p * r + 0.0416666666664881
        p = p * r + 0.1666666666666668
        p = p * r + 0.5000000000000019
        p = p * r + 1.0
        p = p * r + 1.0
        scale = from_bits(<int64_t> (<uint64_t> to_bits(n + EXPONENT_SHIFTER) << 52))
        x[b] = p * scale if x[b] > EXP_UNDERFLOW else 0.0


cdef inline void log_lanes(const double* x, double* out) noexcept nogil:
    """out[b] = log(x[b]) for 1 ≤ x < 2⁵³.

    The exponent field e becomes a double as bits(2⁵² + e) − (2⁵² + 1023):
    integer ops and one subtraction, no int64 → float conversion (see exp_lanes).
    """
    cdef Py_ssize_t b
    cdef int64_t bits
    cdef double e, m, s, s2, p
    for b in range(BLOCK):
        bits = to_bits(x[b])
        e = (from_bits(<int64_t> ((<uint64_t> bits >> 52) | EXPONENT_SHIFTER_HIGH))
             - EXPONENT_SHIFTER)
        m = from_bits((bits & MANTISSA_MASK) | EXPONENT_ONE)
        e = e + 1.0 if m > SQRT_TWO else e
        m = m * 0.5 if m > SQRT_TWO else m
        s = (m - 1.0) / (m + 1.0)
        s2 = s * s
        p = 1.0 / 21.0
        p = p * s2 + 1.0 / 19.0
        p = p * s2 + 1.0 / 17.0
        p = p * s2 + 1.0 / 15.0
        p = p * s2 + 1.0 / 13.0
        p = p * s2 + 1.0 / 11.0
        p = p * s2 + 1.0 / 9.0
        p = p * s2 + 1.0 / 7.0
        p = p * s2 + 1.0 / 5.0
        p = p * s2 + 1.0 / 3.0
        p = p * s2 + 1.0
        out[b] = fma(e, LN2_HIGH, fma(e, LN2_LOW, 2.0 * s * p))


cdef inline double responsibilities_block(double* log_prob, Py_ssize_t n_components,
                                          Lanes* lanes) noexcept nogil:
    """Turn log_prob (K, BLOCK) into w·r in place and return Σ_b w_b log p(x_b).

    log p(x) = m + log Σ_k exp(l_k − m) with m = max_k l_k;  r_k = exp(l_k − m) / Σ.
    """
    cdef Py_ssize_t b, k
    cdef double* row
    cdef double log_likelihood = 0.0
    for b in range(BLOCK):
        lanes.peak[b] = log_prob[b]
    for k in range(1, n_components):
        row = log_prob + k * BLOCK
        for b in range(BLOCK):
            lanes.peak[b] = row[b] if row[b] > lanes.peak[b] else lanes.peak[b]
    for b in range(BLOCK):
        lanes.total[b] = 0.0
    for k in range(n_components):
        row = log_prob + k * BLOCK
        for b in range(BLOCK):
            row[b] -= lanes.peak[b]
        exp_lanes(row)
        for b in range(BLOCK):
            lanes.total[b] += row[b]
    log_lanes(lanes.total, lanes.log_total)
    for b in range(BLOCK):
        log_likelihood += lanes.wt[b] * (lanes.peak[b] + lanes.log_total[b])
        lanes.total[b] = lanes.wt[b] / lanes.total[b]
    for k in range(n_components):
        row = log_prob + k * BLOCK
        for b in range(BLOCK):
            row[b] *= lanes.total[b]
    return log_likelihood


cdef inline void add_partials(Py_ssize_t n_tasks, const double* part_loglik,
                              const double* part_resp_sum, Py_ssize_t resp_size,
                              const double* part_first, Py_ssize_t first_size,
                              const double* part_second, Py_ssize_t second_size,
                              double* out_loglik, double* out_resp_sum, double* out_first,
                              double* out_second) noexcept nogil:
    """Add task partials to the outputs in task order (the fixed-order reduction)."""
    cdef Py_ssize_t t, i
    for t in range(n_tasks):
        out_loglik[0] += part_loglik[t]
        for i in range(resp_size):
            out_resp_sum[i] += part_resp_sum[t * resp_size + i]
        for i in range(first_size):
            out_first[i] += part_first[t * first_size + i]
        for i in range(second_size):
            out_second[i] += part_second[t * second_size + i]


cdef inline bint log_prob_rows(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                               Py_ssize_t n_samples, Py_ssize_t D, LogProbBlock log_prob_block,
                               const double* means, const void* prec_chol,
                               const double* log_norm, Py_ssize_t K, double* out,
                               int n_threads) noexcept nogil:
    """out[n, k] = log(w_k N(x_n | k)) for every row, by blocks of 16 × BLOCK rows per task.

    Returns False if a thread could not allocate its buffers.
    """
    cdef Py_ssize_t task_rows = 16 * BLOCK
    cdef Py_ssize_t n_tasks = (n_samples + task_rows - 1) // task_rows
    cdef Py_ssize_t t, step, block, stop, n_rows
    cdef Lanes lanes
    cdef bint failed = False
    cdef bint* out_of_memory = &failed  # shared: a write through it reaches every thread
    with parallel(num_threads=n_threads):
        lanes = lanes_alloc(D, K)
        # dynamic: on a shared server a thread slowed by another process does not hold
        # the call up. Each task writes its own partial: the bits do not depend on it.
        for t in prange(n_tasks, schedule="dynamic"):
            if lanes.xt == NULL:
                out_of_memory[0] = True
                continue
            stop = min((t + 1) * task_rows, n_samples)
            for step in range((stop - t * task_rows + BLOCK - 1) // BLOCK):
                block = t * task_rows + step * BLOCK
                n_rows = min(<Py_ssize_t> BLOCK, stop - block)
                load_block(X, row_stride, col_stride, D, NULL, block, n_rows, lanes.xt,
                           lanes.wt)
                log_prob_block(lanes.xt, means, prec_chol, log_norm, K, D, &lanes)
                store_block(lanes.log_prob, K, block, n_rows, out)
        free(lanes.xt)
    return not failed
