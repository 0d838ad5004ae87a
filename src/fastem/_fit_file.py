"""Fit a ``.npy`` file larger than memory: memory-map it and let EM read it in chunks."""

from __future__ import annotations

import os

import numpy as np
from sklearn import config_context

from .gaussian_mixture import GaussianMixture


def open_npy(path: str | os.PathLike):
    """The array of a ``.npy`` file, memory-mapped read-only (nothing is read yet)."""
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: {os.fspath(path)!r}") from None
    except ValueError as error:
        raise ValueError(f"{os.fspath(path)!r} is not a .npy array file ({error})") from None
    if not isinstance(X, np.memmap):  # np.load gives an NpzFile for .npz archives
        raise ValueError(
            f"{os.fspath(path)!r} is not a .npy file; save the array with "
            "numpy.save to fit it out of core"
        )
    return X


def fit_file(
    path: str | os.PathLike,
    n_components: int = 1,
    *,
    working_memory: float | None = None,
    sample_weight=None,
    **params,
) -> GaussianMixture:
    """Fit a Gaussian mixture to the rows of a ``.npy`` file, reading it in chunks.

    The file is memory-mapped, never loaded: each EM iteration reads it once,
    a chunk of rows at a time, and the initialisation looks at a uniform
    sample of rows, so the memory the fit holds is set by ``working_memory``
    (plus the model), not by the size of the file. With the file in the page
    cache, an iteration costs about what it does in memory.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file of shape (n_samples, n_features), any numeric dtype
        (float32 is fitted in float32, others in float64).
    n_components : int, default=1
        The number of mixture components.
    working_memory : float, default=None
        MiB the fit may use for its chunks; None takes scikit-learn's
        ``working_memory`` setting (1024 MiB unless changed with
        :func:`sklearn.set_config`).
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights; a memory-mapped array is read chunk by chunk too.
    **params
        Any other :class:`fastem.GaussianMixture` parameter.

    Returns
    -------
    model : GaussianMixture
        The fitted mixture.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastem import fit_file
    >>> rng = np.random.default_rng(0)
    >>> path = os.path.join(tempfile.mkdtemp(), "points.npy")
    >>> np.save(path, np.r_[rng.normal(-5, 1, (5000, 2)), rng.normal(5, 1, (5000, 2))])
    >>> model = fit_file(path, n_components=2, working_memory=1, random_state=0)
    >>> np.round(np.sort(model.means_[:, 0]))
    array([-5.,  5.])
    """
    X = open_npy(path)
    model = GaussianMixture(n_components, **params)
    if working_memory is None:
        return model.fit(X, sample_weight=sample_weight)
    with config_context(working_memory=working_memory):
        return model.fit(X, sample_weight=sample_weight)
