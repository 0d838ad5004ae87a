"""Backend selection: one mechanism for the estimator, the environment and the tests.

A backend offers the same functions (``accumulate``, ``weighted_log_prob`` and
the k-means primitives): 'numba' (kernels compiled just in time), 'cython' (the
same kernels compiled at install time, the fallback where Numba is missing or
disabled) and 'numpy' (the slow, readable reference). ``'auto'`` takes the
first of these that can run here; ``FASTEM_BACKEND`` overrides ``'auto'``.
"""

from __future__ import annotations

import importlib
import os
import warnings

BACKENDS = ("numba", "cython", "numpy")
BACKEND_CHOICES = ("auto",) + BACKENDS

_MODULES = {
    "numba": "fastem.backends.numba_backend",
    "cython": "fastem.backends.cython_backend",
    "numpy": "fastem.backends.numpy_backend",
}


def _disabled_reason(name: str) -> str | None:
    if name == "numba" and os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return "disabled: NUMBA_DISABLE_JIT is set (the kernels would run as slow Python)"
    return None


def _import_failure(name: str, error: ImportError) -> str:
    if name == "cython" and (error.name or "").startswith("fastem._cython"):
        return (
            "not built: the compiled extension is missing (reinstall fastem with a C "
            "compiler, Cython and NumPy available; see the warnings of `pip install -v .`)"
        )
    if name == "numba" and error.name in ("numba", "llvmlite"):
        return f"not installed ({error}); pip install numba"
    return f"import failed: {error}"


def _load(name: str):
    """(backend, None) if ``name`` can run here, else (None, the reason it cannot)."""
    reason = _disabled_reason(name)
    if reason is not None:
        return None, reason
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as error:
        return None, _import_failure(name, error)
    return getattr(module, "backend", module), None


def available_backends() -> dict[str, str | None]:
    """Each backend mapped to None if it can run here, else the reason it cannot.

    Returns
    -------
    availability : dict of str to str or None
        For example ``{'numba': None, 'cython': None, 'numpy': None}`` when all
        three run here, or ``{'numba': 'not installed (...)', ...}``.

    Examples
    --------
    >>> from fastem import available_backends
    >>> available_backends()["numpy"] is None
    True
    """
    return {name: _load(name)[1] for name in BACKENDS}


def get_backend(name: str = "auto"):
    """The backend for ``name`` ('auto', 'numba', 'cython' or 'numpy').

    Raises
    ------
    ValueError
        If ``name`` is unknown, or names a backend that cannot run here (the
        message says why).
    """
    if name == "auto":
        name = os.environ.get("FASTEM_BACKEND", "auto") or "auto"
    if name not in BACKEND_CHOICES:
        raise ValueError(f"Unknown backend {name!r}; expected one of {', '.join(BACKEND_CHOICES)}.")
    if name != "auto":
        backend, reason = _load(name)
        if backend is None:
            raise ValueError(f"The {name!r} backend is not available: {reason}.")
        return backend
    reasons = {}
    for candidate in ("numba", "cython"):
        backend, reasons[candidate] = _load(candidate)
        if backend is not None:
            return backend
    warnings.warn(
        "fastem is using its slow NumPy reference backend (numba: "
        f"{reasons['numba']}; cython: {reasons['cython']}). Install numba "
        "(pip install numba) or reinstall fastem with a C compiler for the fast kernels.",
        RuntimeWarning,
        stacklevel=3,
    )
    return _load("numpy")[0]
