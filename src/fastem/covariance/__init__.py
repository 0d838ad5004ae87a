"""Covariance models: mclust's fourteen parsimonious models, scikit-learn's four among them.

Each component's covariance is decomposed as Σ_k = λ_k D_k A_k D_kᵀ (Banfield &
Raftery 1993; Celeux & Govaert 1995): a volume λ_k, an orientation D_k
(orthogonal) and a shape A_k (diagonal, det 1). A model says which of the
three are Equal across components, Variable, or the Identity; its name spells
volume, shape, orientation in that order (``'VEV'``: variable volume, equal
shape, variable orientation). scikit-learn's four covariance types are four
of them: ``'full'`` = VVV, ``'tied'`` = EEE, ``'diag'`` = VVI, ``'spherical'`` = VII.

A model is an object in :data:`MODELS`: it knows the *layout* of its
parameters (the shape its covariances and precision factors take — one of
scikit-learn's four, which also decides the kernel family of its E-step and
the statistics it needs), its M-step from the scatter matrices of the current
responsibilities, and its number of free parameters. Nothing outside this
package branches on a model's name.
"""

from __future__ import annotations

from ._base import LAYOUTS, CovarianceModel
from ._models import MODELS

SKLEARN_NAMES = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}
COVARIANCE_TYPES = tuple(SKLEARN_NAMES) + tuple(MODELS)  # every accepted name


def get_model(name: str) -> CovarianceModel:
    """The covariance model named ``name`` (an mclust name or one of scikit-learn's four).

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    model = MODELS.get(SKLEARN_NAMES.get(name, name)) if isinstance(name, str) else None
    if model is None:
        raise ValueError(
            f"Unknown covariance model {name!r}; expected one of "
            f"{', '.join(map(repr, COVARIANCE_TYPES))}."
        )
    return model


def layout_of(name: str) -> str:
    """The parameter layout ('full', 'tied', 'diag' or 'spherical') of a model name."""
    return get_model(name).layout


__all__ = [
    "COVARIANCE_TYPES",
    "CovarianceModel",
    "LAYOUTS",
    "MODELS",
    "SKLEARN_NAMES",
    "get_model",
    "layout_of",
]
