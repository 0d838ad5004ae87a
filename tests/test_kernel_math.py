"""The Numba kernels' lane-wise exp and log against NumPy's (libm's) values."""

import numpy as np
import pytest

pytest.importorskip("numba")

from fastem._kernels import _math  # noqa: E402
from fastem._kernels._common import BLOCK  # noqa: E402

EPS = np.finfo(np.float64).eps


@pytest.mark.parametrize("scale", [0.5, 5.0, 50.0, 300.0])
def test_shifted_exp_row_is_within_an_ulp(scale):
    rng = np.random.default_rng(int(scale))
    peak = rng.normal(0.0, 10.0, BLOCK)
    x = (peak - rng.exponential(scale, BLOCK))[None, :]
    x[0, :5] = peak[:5] + np.array([0.0, -708.0, -708.5, -1e9, -np.inf])
    lanes = np.zeros((3, BLOCK))
    lanes[0] = peak
    lanes[1] = 1.0  # the sum is added to
    shifted = x[0] - peak
    expected = np.exp(shifted)
    _math.shifted_exp_row(x, 0, lanes)

    kept = shifted > -708.0  # below, the kernel returns 0 (exp < 3.3e-308)
    relative = np.abs(x[0, kept] - expected[kept]) / expected[kept]
    assert relative.max() <= 1.0 * EPS
    assert np.all(x[0, ~kept] == 0.0) and not kept[2:5].any()
    np.testing.assert_array_equal(lanes[1], 1.0 + x[0])


def test_shifted_exp_row_keeps_nan():
    x = np.zeros((1, BLOCK))
    x[0, 7] = np.nan
    lanes = np.zeros((3, BLOCK))
    _math.shifted_exp_row(x, 0, lanes)
    assert np.isnan(x[0, 7]) and np.isnan(lanes[1, 7])
    assert np.count_nonzero(np.isnan(x)) == 1


def test_log_rows_is_within_two_ulps():
    rng = np.random.default_rng(1)
    lanes = np.zeros((3, BLOCK))
    lanes[1] = np.exp(rng.uniform(0.0, 36.0, BLOCK))
    lanes[1, :4] = [1.0, 2.0, np.sqrt(2.0), 2.0**53 - 1.0]
    _math.log_rows(lanes, 1, lanes, 2)

    expected = np.log(lanes[1])
    assert lanes[2, 0] == 0.0
    relative = np.abs(lanes[2, 1:] - expected[1:]) / expected[1:]
    assert relative.max() <= 2.0 * EPS


def test_responsibilities_block_matches_logsumexp():
    from scipy.special import logsumexp

    rng = np.random.default_rng(2)
    log_prob = rng.normal(-50.0, 30.0, (7, BLOCK))
    log_prob[3, :10] = -np.inf  # a component with zero weight
    wt = rng.uniform(0.0, 2.0, BLOCK)
    expected_total = logsumexp(log_prob, axis=0)
    expected_resp = np.exp(log_prob - expected_total)

    loglik = _math.responsibilities_block(log_prob, wt, np.empty((3, BLOCK)))

    np.testing.assert_allclose(loglik, wt @ expected_total, rtol=1e-14)
    np.testing.assert_allclose(log_prob, wt * expected_resp, rtol=1e-13, atol=1e-300)
