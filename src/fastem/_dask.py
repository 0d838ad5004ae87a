"""Dask arrays: each block's statistics on its worker, a tree reduction, the M-step on the client.

One EM iteration is one ``dask.compute``: every block of rows (persisted on
the workers) goes through the backend's fused kernel where it lives, giving
its :class:`~fastem._stats.SufficientStats`; those are summed by a tree of
fixed shape and order (``TREE_FAN_IN`` at a time, blocks in row order), so the
result does not depend on which worker ran what, nor on a worker being lost
and its blocks recomputed; only the small statistics travel to the client.

Dask is optional: this module imports it only when a Dask array is fitted.
"""

from __future__ import annotations

import copy
import sys

import numpy as np

from . import _validation
from ._data import ArrayRows, initialisation_sample_rows, sample_rows, working_dtype
from ._mixture import Mixture
from ._stats import SufficientStats
from ._threads import kernel_threads

TREE_FAN_IN = 8  # statistics summed per reduction task


def is_dask_array(X) -> bool:
    """Whether X is a ``dask.array.Array`` (without importing Dask when it isn't loaded)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(X, dask_array.Array)


def _block_statistics(
    block, weights, mixture: Mixture, backend_name: str, n_threads: int, missing: bool
) -> SufficientStats:
    """One block's statistics, computed on the worker that holds the block."""
    from .backends import get_backend

    backend = get_backend(backend_name)
    with kernel_threads(backend, n_threads):
        return ArrayRows(block, weights, missing=missing).statistics(mixture, backend)


def _sum_statistics(*parts: SufficientStats) -> SufficientStats:
    """Σ parts, in the order given (a new object: Dask may hand the same part to others)."""
    total = copy.deepcopy(parts[0])
    for part in parts[1:]:
        total.add(part)
    return total


def _tree_sum(parts: list, fan_in: int = TREE_FAN_IN):
    """Delayed sums of ``fan_in`` consecutive parts, level by level, down to one."""
    from dask import delayed

    while len(parts) > 1:
        parts = [
            delayed(_sum_statistics, pure=True)(*parts[i : i + fan_in])
            for i in range(0, len(parts), fan_in)
        ]
    return parts[0]


def _dask_weights(sample_weight, row_chunks):
    """(weights as a Dask array chunked like the rows of X, float64, checked, their unit)."""
    import dask
    import dask.array as da

    n_samples = sum(row_chunks)
    if not is_dask_array(sample_weight):
        weights, largest = _validation.scaled_sample_weight(sample_weight, n_samples)
        return da.from_array(weights, chunks=(row_chunks,)), largest
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected "
            f"{(n_samples,)}: one weight per row of X."
        )
    if sample_weight.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric; got dtype {sample_weight.dtype}.")
    weights = sample_weight.astype(np.float64).rechunk((row_chunks,)).persist()
    n_bad, n_negative, largest = dask.compute(
        (~da.isfinite(weights)).sum(), (weights < 0).sum(), weights.max()
    )
    if n_bad:
        raise ValueError("sample_weight contains NaN or infinity.")
    if n_negative:
        raise ValueError(f"sample_weight must be non-negative; {n_negative} weights are negative.")
    if largest <= 0:
        raise ValueError("sample_weight sums to zero: at least one row must have weight.")
    return weights / largest, float(largest)  # scale-free, as _validation.check_sample_weight


def prepared_array(X):
    """X in the working dtype, with all columns in one block and known row chunks."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D Dask array, got {X.ndim}D with shape {X.shape}.")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"Dask array X must be numeric; got dtype {X.dtype}.")
    if any(np.isnan(size) for size in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X.astype(working_dtype(X.dtype))


class DaskRows:
    """The rows of a Dask array (and their weights), persisted on the workers.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        The data: float32 stays float32, other numbers become float64.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), or None
    n_jobs : int or None
        Kernel threads per Dask task; None means one (Dask already runs a task
        per worker thread).
    missing : bool
        Whether NaN entries are missing values rather than an error.
    """

    def __init__(self, X, sample_weight, n_jobs: int | None = None, missing: bool = False):
        import dask

        self.missing = missing
        X = prepared_array(X)
        self.n_samples, self.n_features = (int(size) for size in X.shape)
        self.dtype = X.dtype
        weights, self.weight_unit = (
            (None, 1.0) if sample_weight is None else _dask_weights(sample_weight, X.chunks[0])
        )
        self.X, self.sample_weight = (
            dask.persist(X, weights) if weights is not None else (X.persist(), None)
        )
        self.n_threads = 1 if n_jobs is None else n_jobs
        self.checked = False  # whether every row is known to be finite

    def raise_if_not_finite(self) -> None:
        """Count NaN and ±inf in X (one pass on the workers) and raise if there are any.

        Not run up front: a NaN or inf anywhere makes the first E-step's
        log-likelihood non-finite, and only then is X scanned for the message,
        which saves a pass over the data on every fit. The same pass finds each
        column's range, and a span too wide for float64 sums is reported too.
        """
        import dask
        import dask.array as da

        n_nan, n_inf, low, high = dask.compute(
            0 if self.missing else da.isnan(self.X).sum(),
            da.isinf(self.X).sum(),
            da.nanmin(self.X, axis=0),
            da.nanmax(self.X, axis=0),
        )
        if n_nan or n_inf:
            counts = " and ".join(
                part
                for part in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "")
                if part
            )
            remedy = "Remove or impute them before fitting"
            if n_nan:
                remedy += ", or fit GaussianMixture(missing='em') to treat NaN as missing values"
            raise ValueError(f"Input X contains {counts} value(s). {remedy}.")
        _validation.check_column_spans(low, high, self.n_samples, self.dtype)
        self.checked = True

    def first_rows(self, n_rows: int) -> np.ndarray:
        """The first ``n_rows`` rows (or all), as float64, gathered to the client."""
        return np.array(self.X[:n_rows].compute(), dtype=np.float64)

    def ensure_checked(self) -> None:
        """Scan X for NaN and ±inf unless an E-step has shown every row finite."""
        if not self.checked:
            self.raise_if_not_finite()

    def statistics(self, mixture: Mixture, backend) -> SufficientStats:
        """The statistics of all blocks under ``mixture``: one ``dask.compute``."""
        import dask
        from dask import delayed

        blocks = self.X.to_delayed().ravel()
        weight_blocks = (
            [None] * len(blocks)
            if self.sample_weight is None
            else self.sample_weight.to_delayed().ravel()
        )
        shared_mixture = delayed(mixture, pure=True, traverse=False)
        parts = [
            delayed(_block_statistics, pure=True)(
                block, weights, shared_mixture, backend.name, self.n_threads, self.missing
            )
            for block, weights in zip(blocks, weight_blocks, strict=True)
        ]
        (stats,) = dask.compute(_tree_sum(parts))
        if np.isfinite(stats.log_likelihood):
            self.checked = True
        else:
            self.raise_if_not_finite()
        return stats

    def initialisation_rows(self, random_state, min_rows: int = 1, max_rows: int | None = None):
        """A uniform sample of rows, gathered to the client for the initialisation.

        Its size comes from the memory budget (see
        :func:`fastem._data.initialisation_sample_rows`); X itself never
        leaves the workers.
        """
        import dask

        n_rows = initialisation_sample_rows(
            self.n_samples, self.n_features, min_rows, max_rows=max_rows
        )
        rows = sample_rows(self.n_samples, n_rows, random_state)
        if self.sample_weight is None:
            X, weights = self.X[rows].compute(), None
        else:
            X, weights = dask.compute(self.X[rows], self.sample_weight[rows])
        if np.isinf(X).any() or (not self.missing and np.isnan(X).any()):
            self.raise_if_not_finite()
        if weights is not None and weights.sum() <= 0:
            raise ValueError("the rows sampled for the initialisation all have zero weight")
        return np.ascontiguousarray(X), weights


def map_rows(estimator, method: str, X):
    """``estimator.<method>`` on every block of a Dask X: a lazy Dask array."""
    X = prepared_array(X)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    if method == "predict_proba":
        return X.map_blocks(
            _call_on_block,
            estimator,
            method,
            dtype=X.dtype,
            chunks=(X.chunks[0], (estimator.n_components,)),
        )
    dtype = np.intp if method == "predict" else X.dtype
    return X.map_blocks(_call_on_block, estimator, method, dtype=dtype, drop_axis=1)


def _call_on_block(block, estimator, method: str):
    return getattr(estimator, method)(block)
