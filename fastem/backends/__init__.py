"""Backend selection: one mechanism for the estimator, the environment and the tests.

A backend is a module with the same functions (``accumulate``,
``weighted_log_prob`` and the k-means primitives). ``'auto'`` takes the fastest
one that can run here; ``FASTEM_BACKEND`` overrides ``'auto'``.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

BACKENDS = ("numba", "numpy")
BACKEND_CHOICES = ("auto",) + BACKENDS

_MODULES = {
    "numba": "fastem.backends.numba_backend",
    "numpy": "fastem.backends.numpy_backend",
}


def _disabled_reason(name: str) -> str | None:
    if name == "numba" and os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return "disabled: NUMBA_DISABLE_JIT is set (the kernels would run as slow Python)"
    return None


def _load(name: str) -> tuple[ModuleType | None, str | None]:
    reason = _disabled_reason(name)
    if reason is not None:
        return None, reason
    try:
        return importlib.import_module(_MODULES[name]), None
    except ImportError as error:
        return None, f"import failed: {error}"


def available_backends() -> dict[str, str | None]:
    """Each backend mapped to None if it can run here, else the reason it cannot.

    Returns
    -------
    availability : dict of str to str or None
        ``{'numba': None, 'numpy': None}`` when both run here.
    """
    return {name: _load(name)[1] for name in BACKENDS}


def get_backend(name: str = "auto") -> ModuleType:
    """The backend module for ``name`` ('auto', 'numba' or 'numpy').

    Raises
    ------
    ValueError
        If ``name`` is unknown, or names a backend that cannot run here (the
        message says why).
    """
    if name == "auto":
        name = os.environ.get("FASTEM_BACKEND", "auto") or "auto"
    if name not in BACKEND_CHOICES:
        raise ValueError(
            f"Unknown backend {name!r}; expected one of {', '.join(BACKEND_CHOICES)}."
        )
    if name != "auto":
        module, reason = _load(name)
        if module is None:
            raise ValueError(f"The {name!r} backend is not available: {reason}.")
        return module
    module, reason = _load("numba")
    if module is not None:
        return module
    warnings.warn(
        f"fastem is using its slow NumPy reference backend (numba {reason}). "
        "Install numba (pip install numba) for the fast compiled kernels.",
        RuntimeWarning,
        stacklevel=3,
    )
    return _load("numpy")[0]
