"""A fit changes the estimator's fitted state as a whole, or not at all.

scikit-learn's ``validate_data`` sets ``n_features_in_`` (and
``feature_names_in_``) as soon as it sees X, long before a fit can fail on
NaN, a bad parameter or Ctrl-C. :func:`fitted_state_kept_on_failure` takes a
copy of every fitted attribute before a fit and, if the fit raises (any
exception, ``KeyboardInterrupt`` included), puts exactly that state back: an
unfitted estimator stays unfitted, a fitted one keeps its last complete fit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

PRIVATE_STATE = ("_mixture", "_online_state")  # fitted state not named with a trailing _


def _is_fitted_name(name: str) -> bool:
    return (name.endswith("_") and not name.startswith("__")) or name in PRIVATE_STATE


def fitted_state(estimator) -> dict:
    """The estimator's fitted attributes (public ones end in ``_``), by name."""
    return {name: value for name, value in vars(estimator).items() if _is_fitted_name(name)}


@contextlib.contextmanager
def fitted_state_kept_on_failure(estimator) -> Iterator[None]:
    """Within this context, a failure restores the fitted state it began with."""
    before = fitted_state(estimator)
    try:
        yield
    except BaseException:
        for name in fitted_state(estimator):
            delattr(estimator, name)
        estimator.__dict__.update(before)
        raise
