"""Saved models: a documented ``.npz`` format that loads without pickle.

A file holds plain arrays only, so :func:`load` opens it with
``allow_pickle=False`` and loading an untrusted file cannot run code:

=================== ==========================================================
key                 content
=================== ==========================================================
``format``          the string ``"fastem.GaussianMixture"``
``format_version``  int; a file from a newer format is refused with a clear error
``fastem_version``  the version of fastem that saved it
``params``          the constructor parameters as JSON (``*_init`` arrays as lists)
``weights_``, ``means_``, ``covariances_``, ``precisions_``,
``precisions_cholesky_``, ``lower_bounds_``
                    the fitted arrays, float64
``converged_``, ``n_iter_``, ``lower_bound_``, ``n_features_in_``, ``backend_``
                    the fitted scalars
``feature_names_in_`` column names seen during fit (only if there were any)
=================== ==========================================================
"""

from __future__ import annotations

import json
import os

import numpy as np

FORMAT = "fastem.GaussianMixture"
FORMAT_VERSION = 1
FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                 "lower_bounds_")
FITTED_SCALARS = ("converged_", "n_iter_", "lower_bound_", "n_features_in_", "backend_")


def _json_ready(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def save(model, path: str | os.PathLike) -> None:
    """Write a fitted GaussianMixture to ``path`` (see the module docstring for the format)."""
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(model)
    params = {name: _json_ready(value) for name, value in model.get_params(deep=False).items()}
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None  # a RandomState object is not part of the model
    contents = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "fastem_version": np.array(__version__),
        "params": np.array(json.dumps(params)),
    }
    contents.update({name: np.asarray(getattr(model, name), dtype=np.float64)
                     for name in FITTED_ARRAYS})
    contents.update({name: np.array(getattr(model, name)) for name in FITTED_SCALARS})
    if hasattr(model, "feature_names_in_"):
        contents["feature_names_in_"] = np.asarray(model.feature_names_in_, dtype=str)
    with open(path, "wb") as handle:  # np.savez would append ".npz" to a path without it
        np.savez(handle, **contents)


def load(path: str | os.PathLike):
    """Read a GaussianMixture written by :meth:`GaussianMixture.save`.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.

    Returns
    -------
    model : GaussianMixture
        The fitted model; it predicts exactly as the saved one did.

    Raises
    ------
    ValueError
        If the file is not a saved fastem model, or was written in a newer
        format than this fastem reads.
    """
    from .gaussian_mixture import GaussianMixture

    with open(path, "rb") as file:
        if file.read(4) != b"PK\x03\x04":  # an .npz is a zip archive
            raise ValueError(f"{path}: not a fastem model file (not an .npz archive)")
    with np.load(path, allow_pickle=False) as archive:
        try:
            tag = str(archive["format"]) if "format" in archive.files else None
        except ValueError as error:  # an object array: a pickle inside, never unpickled
            raise ValueError(f"{path}: not a fastem model file ({error})") from error
        if tag != FORMAT:
            raise ValueError(f"{path}: not a fastem model file (no '{FORMAT}' format tag)")
        version = int(archive["format_version"])
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path}: saved in model format {version} by fastem "
                f"{archive['fastem_version']}; this fastem reads format {FORMAT_VERSION} "
                "and older. Upgrade fastem to load it.")
        params = json.loads(str(archive["params"]))
        for name in ("weights_init", "means_init", "precisions_init"):
            if params.get(name) is not None:
                params[name] = np.asarray(params[name], dtype=np.float64)
        model = GaussianMixture(**params)
        for name in FITTED_ARRAYS:
            setattr(model, name, archive[name])
        model.lower_bounds_ = model.lower_bounds_.tolist()
        model.converged_ = bool(archive["converged_"])
        model.n_iter_ = int(archive["n_iter_"])
        model.lower_bound_ = float(archive["lower_bound_"])
        model.n_features_in_ = int(archive["n_features_in_"])
        model.backend_ = str(archive["backend_"])
        if "feature_names_in_" in archive.files:
            model.feature_names_in_ = archive["feature_names_in_"].astype(object)
    model._restore_mixture()
    return model
