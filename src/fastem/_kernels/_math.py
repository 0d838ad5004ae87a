"""exp, log and log-sum-exp over a block of lanes, written so that LLVM vectorises them.

Numba calls libm's scalar exp/log inside loops unless SVML is present; these
lane-wise versions use only +, ×, fused multiply-add, comparisons and integer
bit operations on the exponent, so a loop over a block becomes SIMD code. Both
are accurate to about 1 ulp over the range the kernels use them on.

exp(x), x ≤ 0 (arguments are l_k − max_l):
    x = n ln2 + r, |r| ≤ ln2/2 (Cody–Waite: ln2 split in a high and a low part),
    exp(r) by the degree-11 polynomial interpolating exp at the Chebyshev nodes
    of that range (relative error 1.7e-17 with its coefficients rounded to
    doubles; ``tools/exp_polynomial.py`` derives them), 2ⁿ built in the
    exponent bits. Below −708 the result is 0 (as for −inf).

log(x), 1 ≤ x < 2⁵³ (arguments are Σ_k exp(l_k − max_l) ≥ 1):
    x = 2ᵉ m with m in [√½, √2), s = (m − 1)/(m + 1),
    log m = 2 atanh s = 2 (s + s³/3 + s⁵/5 + …), |s| < 0.172, to s²¹.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._common import BLOCK, FASTMATH_ORDERED, block_kernel

_LN2_HIGH = 0.6931471803691238  # ln 2 to 32 bits: n · _LN2_HIGH is exact for |n| < 2²¹
_LN2_LOW = 1.9082149292705877e-10  # ln 2 − _LN2_HIGH
_INV_LN2 = 1.4426950408889634
_EXP_UNDERFLOW = -708.0
_MANTISSA_BITS = 52
_EXPONENT_BIAS = 1023
_MANTISSA_MASK = (1 << 52) - 1
_SQRT_HALF = 0.7071067811865476
_ROUND_SHIFTER = 6755399441055744.0  # 1.5 · 2⁵²: t + S − S rounds t to an integer
_EXPONENT_SHIFTER = 4503599627370496.0  # 2⁵²: the double whose low mantissa bits hold an integer
_EXPONENT_SHIFTER_BITS = 0x4330000000000000  # its bits
# exp(r) ≈ Σ c_i rⁱ on |r| ≤ ln2/2, from tools/exp_polynomial.py (c_0 = c_1 = 1)
_EXP_C11 = 2.5110037605963777e-08
_EXP_C10 = 2.763263963904103e-07
_EXP_C9 = 2.755724091857897e-06
_EXP_C8 = 2.4801485482328494e-05
_EXP_C7 = 0.00019841269890047113
_EXP_C6 = 0.0013888888952314775
_EXP_C5 = 0.008333333333319601
_EXP_C4 = 0.0416666666664881
_EXP_C3 = 0.1666666666666668
_EXP_C2 = 0.5000000000000019
_PEAK, _TOTAL, _LOG_TOTAL = 0, 1, 2  # rows of responsibilities_block's lanes scratch


@intrinsic
def _bits(typingctx, value):
    """The int64 with value's bits (a register move: no memory, no conversion)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, bits):
    """The float64 with these bits (the inverse of ``_bits``)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@block_kernel(fastmath=FASTMATH_ORDERED)
def shifted_exp_row(x, row, lanes):
    """x[row, b] ← exp(x[row, b] − m_b) and Σ_b += x[row, b], for x ≤ m.

    m = lanes[_PEAK] and Σ = lanes[_TOTAL] (the rows of responsibilities_block's
    scratch: the shift and the sum are fused into the exp's one pass).
    n = round(x / ln2) is taken as t − S with t = x / ln2 + S, S = 1.5 · 2⁵²: t's
    low mantissa bits then hold n as an integer, and 2ⁿ is (bits(t) + 1023) << 52
    — integer adds and shifts only, which SIMD units have (no float ↔ int64
    conversion, which AVX2 lacks and would make the loop scalar).
    """
    for b in range(BLOCK):
        v = max(x[row, b] - lanes[_PEAK, b], _EXP_UNDERFLOW)
        shifted = v * _INV_LN2 + _ROUND_SHIFTER
        n = shifted - _ROUND_SHIFTER
        r = (v - n * _LN2_HIGH) - n * _LN2_LOW
        p = _EXP_C11
        p = p * r + _EXP_C10
        p = p * r + _EXP_C9
        p = p * r + _EXP_C8
        p = p * r + _EXP_C7
        p = p * r + _EXP_C6
        p = p * r + _EXP_C5
        p = p * r + _EXP_C4
        p = p * r + _EXP_C3
        p = p * r + _EXP_C2
        p = p * r + 1.0
        p = p * r + 1.0
        scale = _from_bits((_bits(shifted) + _EXPONENT_BIAS) << _MANTISSA_BITS)  # 2ⁿ
        value = 0.0 if v <= _EXP_UNDERFLOW else p * scale  # NaN stays NaN
        x[row, b] = value
        lanes[_TOTAL, b] += value


@block_kernel(fastmath=FASTMATH_ORDERED)
def log_rows(x, row, out, out_row):
    """out[out_row, b] = log(x[row, b]) for 1 ≤ x < 2⁵³.

    The exponent field e of x becomes a double as bits(2⁵² + e) − 2⁵² and the
    mantissa m by replacing the exponent field: integer ops and one
    subtraction, all SIMD on AVX2 (which has no int64 → float conversion).
    """
    for b in range(BLOCK):
        bits = _bits(x[row, b])
        e = _from_bits((bits >> _MANTISSA_BITS) | _EXPONENT_SHIFTER_BITS) - (
            _EXPONENT_SHIFTER + _EXPONENT_BIAS
        )  # the unbiased exponent
        m = _from_bits((bits & _MANTISSA_MASK) | (_EXPONENT_BIAS << _MANTISSA_BITS))
        if m > 2.0 * _SQRT_HALF:
            m *= 0.5
            e += 1.0
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
        out[out_row, b] = e * _LN2_HIGH + (e * _LN2_LOW + 2.0 * s * p)


@block_kernel
def responsibilities_block(log_prob, wt, lanes):
    """Turn log_prob (K, BLOCK) into w·r in place and return Σ_b w_b log p(x_b).

    log p(x) = m + log Σ_k exp(l_k − m) with m = max_k l_k;  r_k = exp(l_k − m) / Σ.
    lanes: a (3, BLOCK) scratch buffer.
    """
    n_components = log_prob.shape[0]
    for b in range(BLOCK):
        lanes[_PEAK, b] = log_prob[0, b]
    for k in range(1, n_components):
        for b in range(BLOCK):
            lanes[_PEAK, b] = max(lanes[_PEAK, b], log_prob[k, b])
    for b in range(BLOCK):
        lanes[_TOTAL, b] = 0.0
    for k in range(n_components):
        shifted_exp_row(log_prob, k, lanes)
    log_rows(lanes, _TOTAL, lanes, _LOG_TOTAL)
    log_likelihood = 0.0
    for b in range(BLOCK):
        log_likelihood += wt[b] * (lanes[_PEAK, b] + lanes[_LOG_TOTAL, b])
        lanes[_TOTAL, b] = wt[b] / lanes[_TOTAL, b]
    for k in range(n_components):
        for b in range(BLOCK):
            log_prob[k, b] *= lanes[_TOTAL, b]
    return log_likelihood
