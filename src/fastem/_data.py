"""Where the rows of a fit come from: an array in memory, or a memory-mapped file read in chunks.

EM only needs the sufficient statistics of the data, and those are sums over
rows, so a data set can be handed to the kernels in pieces: the statistics of
the pieces, accumulated in row order, are the statistics of the whole. An
in-memory array is one piece. A :class:`numpy.memmap` (what ``np.load(path,
mmap_mode='r')`` returns) is read in chunks of rows sized from a memory
budget, each chunk once per EM iteration, so the memory a fit holds does not
grow with the number of rows. Chunks are a whole number of the kernels'
fixed tasks, so a chunked fit gives the same bits as an in-memory one.

Both sources offer the same three things to the driver: :meth:`statistics`
(one E-step pass), :meth:`initialisation_rows` (the rows the initialisation
looks at) and :meth:`check_finite`. The Dask source in :mod:`fastem._dask`
offers them too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
from sklearn import get_config

from . import _missing, _validation
from ._mixture import Mixture
from ._stats import SufficientStats

TASK_ROWS = 1024  # rows per kernel task (a whole number of either kernel family's row
# blocks): fixed, so results never depend on the thread count; chunks hold whole tasks
CHUNKS_HELD = 2  # a chunk is half the budget: one is alive at a time (each loop drops it
# before reading the next), the other half covers what a pass allocates beside it
INIT_SAMPLE_SHARE = 4  # the initialisation sample may use 1/4 of the memory budget
INIT_ROWS_PER_COMPONENT = 20  # the least rows per component a sampled initialisation sees
# A k-means start looks at a uniform sample of at most this many rows (more when 20 per
# component need more): its seeding and Lloyd passes then cost at most about two EM
# iterations of a million rows, and the fits it starts end as well (tests/test_start_sample).
KMEANS_SAMPLE_ROWS = 1 << 15


def memory_budget_bytes() -> int:
    """Bytes a fit may hold for chunks of out-of-core data: scikit-learn's ``working_memory``.

    Set it with ``sklearn.set_config(working_memory=MiB)`` or, for one fit,
    ``with sklearn.config_context(working_memory=MiB): ...``.
    """
    return int(get_config()["working_memory"] * 2**20)


def working_dtype(dtype: np.dtype) -> np.dtype:
    """float32 stays float32; every other number is fitted in float64."""
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def rows_within(budget_bytes: int, bytes_per_row: int, n_samples: int) -> int:
    """The most rows whose buffers fit the budget: a multiple of TASK_ROWS, at least one."""
    rows = budget_bytes // max(bytes_per_row, 1)
    if rows >= TASK_ROWS:
        rows -= rows % TASK_ROWS
    return int(min(max(rows, TASK_ROWS), n_samples))


def initialisation_sample_rows(
    n_samples: int,
    n_features: int,
    min_rows: int = 1,
    budget_bytes: int | None = None,
    max_rows: int | None = None,
) -> int:
    """Rows of the sample that initialises a fit whose rows are not all looked at.

    As many as fit a quarter of the memory budget (the sample in float64,
    its weights, k-means' distances and labels: 8·(D + 3) bytes a row) and
    ``max_rows``, at least ``min_rows``, at most all of them.
    """
    budget_bytes = memory_budget_bytes() if budget_bytes is None else budget_bytes
    n_rows = rows_within(budget_bytes // INIT_SAMPLE_SHARE, 8 * (n_features + 3), n_samples)
    if max_rows is not None:
        n_rows = min(n_rows, max_rows)
    return min(max(n_rows, min_rows), n_samples)


def is_out_of_core(X) -> bool:
    """Whether X is a file mapped into memory, to be read in chunks rather than loaded."""
    return isinstance(X, np.memmap)


def sample_rows(n_samples: int, n_rows: int, random_state) -> np.ndarray:
    """Sorted distinct row indices, about ``n_rows`` of them, drawn uniformly.

    Draws with replacement and drops repeats, so memory is O(n_rows) however
    large ``n_samples`` is (a permutation of all rows would be O(N)). All rows
    when ``n_rows >= n_samples``.
    """
    if n_rows >= n_samples:
        return np.arange(n_samples)
    return np.unique(random_state.randint(0, n_samples, size=n_rows))


class ArrayRows:
    """The rows of a NumPy array (or memory map) and their weights, in chunks.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_samples, n_features)
        In memory: already validated (float, C order) and read in place.
        Memory-mapped: any numeric dtype and order; each chunk is copied to
        the working dtype in C order (the only copy the fit makes).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights (validated chunk by chunk when out of core).
    chunk_rows : int or None
        Rows per chunk; None reads X as one chunk.
    missing : bool
        Whether NaN entries are missing values (:mod:`fastem._missing`)
        rather than an error.
    """

    def __init__(self, X, sample_weight, chunk_rows: int | None = None, missing: bool = False):
        self.X = X
        self.missing = missing
        self._kept_patterns = None
        self.sample_weight = sample_weight
        self.n_samples, self.n_features = X.shape
        self.dtype = working_dtype(X.dtype)
        self.chunk_rows = self.n_samples if chunk_rows is None else int(chunk_rows)
        self.weight_scale = 1.0  # out of core, the largest weight (set by check_finite)
        # What a weight of 1 in the statistics stands for: the largest weight, by which
        # the weights are divided (in memory before, out of core as chunks are read).
        self.weight_unit = 1.0

    @classmethod
    def out_of_core(
        cls, X, sample_weight, budget_bytes: int | None = None, missing: bool = False
    ) -> ArrayRows:
        """Chunks of a memory-mapped X sized so that two chunks' copies fit the budget.

        Two: the next chunk is read while the loop still holds the last one.
        """
        budget_bytes = memory_budget_bytes() if budget_bytes is None else budget_bytes
        bytes_per_row = working_dtype(X.dtype).itemsize * X.shape[1] + 8  # + the weight
        n_rows = rows_within(budget_bytes // CHUNKS_HELD, bytes_per_row, X.shape[0])
        return cls(X, sample_weight, n_rows, missing)

    @property
    def in_memory(self) -> bool:
        return self.chunk_rows >= self.n_samples

    def chunks(self) -> Iterator[tuple[slice, np.ndarray, np.ndarray | None]]:
        """(rows, X[rows] as a float C-ordered array, weights of those rows or None)."""
        for start in range(0, self.n_samples, self.chunk_rows):
            rows = slice(start, min(start + self.chunk_rows, self.n_samples))
            chunk = np.ascontiguousarray(self.X[rows], dtype=self.dtype)
            yield rows, chunk, self._weights(rows)
            del chunk  # before reading the next chunk (the consumer drops it too)

    def _weights(self, rows) -> np.ndarray | None:
        """The weights of these rows as float64, divided by the largest weight of all rows."""
        if self.sample_weight is None:
            return None
        weights = np.ascontiguousarray(self.sample_weight[rows], dtype=np.float64)
        if self.weight_scale != 1.0:  # a new array: the caller's weights are never written
            weights = weights / self.weight_scale  # as check_sample_weight does: same bits
        return weights

    def check_finite(self, spread: bool = False) -> None:
        """Raise on NaN/inf in X or bad weights, reading one chunk at a time.

        The error counts every NaN and infinity of the file and names the
        first. Also finds the largest weight, by which every weight is then
        divided (a fit is scale-free in the weights), and with ``spread``
        checks that no column spans too wide a range (:func:`_validation.check_spread`).
        """
        self.weight_scale = 1.0
        largest = 0.0
        low, high = np.inf, -np.inf
        first_error = None
        n_nan = n_inf = 0
        for rows, chunk, weights in self.chunks():
            try:
                chunk_low, chunk_high = _validation.check_finite(
                    chunk, row_offset=rows.start, allow_nan=self.missing
                )
            except _validation.NonFiniteError as error:
                first_error = first_error or error
                n_nan += error.n_nan
                n_inf += error.n_inf
            else:
                low, high = min(low, chunk_low), max(high, chunk_high)
            if weights is not None:
                largest = max(largest, _validation.check_weight_values(weights))
            del chunk, weights
        if first_error is not None:
            message = _validation.non_finite_message("X", n_nan, n_inf, first_error.first)
            raise _validation.NonFiniteError(n_nan, n_inf, message, first_error.first)
        if self.sample_weight is not None:
            if largest <= 0:
                raise ValueError("sample_weight sums to zero: at least one row must have weight.")
            self.weight_scale = self.weight_unit = largest
        if spread:
            _validation.check_spread(self.X, low, high, self.dtype)

    def ensure_checked(self) -> None:
        """Nothing to do: rows in memory or on disk are checked before the fit starts."""

    def first_rows(self, n_rows: int) -> np.ndarray:
        """The first ``n_rows`` rows (or all), as float64, in memory."""
        return np.array(self.X[:n_rows], dtype=np.float64)

    def statistics(self, mixture: Mixture, backend) -> SufficientStats:
        """The log-likelihood and shifted sums of all rows under ``mixture`` (one pass)."""
        scatter_shift = (
            mixture.weights @ mixture.means if mixture.covariance_type == "tied" else None
        )
        stats = SufficientStats.zeros(mixture.covariance_type, mixture.means, scatter_shift)
        conditionals = functools.cache(lambda: _missing.Conditionals(mixture))
        for _, chunk, weights in self.chunks():
            if self.missing:
                patterns = self._patterns(chunk)
                _missing.accumulate(chunk, weights, mixture, backend, stats, conditionals, patterns)
            else:
                backend.accumulate(chunk, weights, mixture, stats)
            del chunk, weights
        return stats

    def _patterns(self, chunk) -> _missing.Patterns | None:
        """The chunk's missingness patterns: found once per fit for rows in memory.

        In memory (one chunk) they are kept, 4 bytes a row of row numbers;
        chunks read from disk are grouped as they are read, so memory stays
        within the budget.
        """
        if not self.in_memory:
            return _missing.patterns_of(chunk)
        if self._kept_patterns is None:
            self._kept_patterns = (_missing.patterns_of(chunk),)
        return self._kept_patterns[0]

    def initialisation_rows(self, random_state, min_rows: int = 1, max_rows: int | None = None):
        """The rows (and weights) the initialisation works on, in memory.

        All of X when it is in memory and has at most ``max_rows`` rows (None:
        any number). Otherwise a uniform sample of rows within ``max_rows`` and
        a quarter of the memory budget (all rows when they fit, so a small
        file initialises exactly as in memory, and a memory map as the same
        rows in memory): the initialisation then runs on the sample, and EM
        itself on every row.
        """
        if self.in_memory and (max_rows is None or self.n_samples <= max_rows):
            # all rows; a memory map of any numeric dtype is read as floats
            return np.ascontiguousarray(self.X, dtype=self.dtype), self._weights(slice(None))
        n_rows = initialisation_sample_rows(
            self.n_samples, self.n_features, min_rows, max_rows=max_rows
        )
        rows = sample_rows(self.n_samples, n_rows, random_state)
        X = np.ascontiguousarray(self.X[rows], dtype=self.dtype)
        weights = self._weights(rows)
        if weights is not None:
            if weights.sum() <= 0:
                raise ValueError(
                    "the rows sampled for the initialisation all have zero "
                    "weight; give the weighted rows more weight or fit in memory"
                )
        return X, weights
