"""The fourteen models and their M-steps (Celeux & Govaert 1995; Browne & McNicholas 2014).

Notation: W_k the scatter of component k, n_k its weight, n = Σ n_k, D the
number of features; ω_k the eigenvalues of W_k (decreasing) and L_k its
eigenvectors. Closed forms where they exist; VEI, VEE, VEV alternate between
volume and shape (each step is the exact maximiser given the other), and EVE,
VVE update their common orientation by the two majorise–minimise steps of
Browne & McNicholas, as mclust does. Iterations stop at a relative change of
1e-12 of their objective.
"""

from __future__ import annotations

import numpy as np

from ._base import (
    INNER_MAX_ITER,
    CovarianceModel,
    converged,
    descending_eigen,
    geometric_mean,
    root_determinant,
    symmetric,
)


def _full_from(orientations, diagonals):
    """Σ_k = O_k diag(a_k) O_kᵀ for stacks (K, D, D) and (K, D)."""
    return symmetric(np.einsum("kij,kj,klj->kil", orientations, diagonals, orientations))


def _variable_volume_equal_shape(values, nk):
    """λ_k A for diagonal scatters or eigenvalues ``values`` (K, D): VEI's and VEV's M-step.

    Alternates the exact maximisers: A = Σ_k values_k / λ_k scaled to det 1,
    then λ_k = Σ_j values_kj / A_j / (D n_k), until Σ_k n_k log λ_k settles.
    """
    n_features = values.shape[1]
    volumes = values.sum(axis=1) / (n_features * nk)
    objective = np.inf
    for _ in range(INNER_MAX_ITER):
        shape = (values / volumes[:, None]).sum(axis=0)
        shape /= geometric_mean(shape)
        volumes = (values / shape).sum(axis=1) / (n_features * nk)
        previous_objective, objective = objective, float(nk @ np.log(volumes))
        if converged(objective, previous_objective):
            break
    return volumes[:, None] * shape


# --- spherical layout: EII, VII ---------------------------------------------------------------


class EII(CovarianceModel):
    name, layout, description = "EII", "spherical", "spherical, equal volume"

    def covariances(self, scatter, nk, previous=None):
        # λ = Σ_k tr W_k / (n D)
        return np.full(nk.shape[0], scatter.sum() / (nk.sum() * scatter.shape[1]))

    def n_parameters(self, n_components, n_features):
        return 1


class VII(CovarianceModel):
    name, layout, description = "VII", "spherical", "spherical, variable volume ('spherical')"

    def covariances(self, scatter, nk, previous=None):
        # λ_k = tr W_k / (n_k D)
        return scatter.mean(axis=1) / nk

    def n_parameters(self, n_components, n_features):
        return n_components


# --- diagonal layout: EEI, VEI, EVI, VVI ------------------------------------------------------


class EEI(CovarianceModel):
    name, layout, description = "EEI", "diag", "diagonal, equal volume and shape"

    def covariances(self, scatter, nk, previous=None):
        # B = Σ_k diag(W_k) / n, shared
        return np.repeat((scatter.sum(axis=0) / nk.sum())[None], nk.shape[0], axis=0)

    def n_parameters(self, n_components, n_features):
        return n_features


class VEI(CovarianceModel):
    name, layout, description = "VEI", "diag", "diagonal, variable volume, equal shape"

    def covariances(self, scatter, nk, previous=None):
        # λ_k A from the diagonal scatters
        return _variable_volume_equal_shape(scatter, nk)

    def n_parameters(self, n_components, n_features):
        return n_components + n_features - 1


class EVI(CovarianceModel):
    name, layout, description = "EVI", "diag", "diagonal, equal volume, variable shape"

    def covariances(self, scatter, nk, previous=None):
        # A_k = diag(W_k) / det(diag W_k)^(1/D);  λ = Σ_k det(diag W_k)^(1/D) / n
        roots = geometric_mean(scatter)
        volume = roots.sum() / nk.sum()
        return volume * scatter / roots[:, None]

    def n_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1)


class VVI(CovarianceModel):
    name, layout, description = "VVI", "diag", "diagonal, variable volume and shape ('diag')"

    def covariances(self, scatter, nk, previous=None):
        return scatter / nk[:, None]

    def n_parameters(self, n_components, n_features):
        return n_components * n_features


# --- tied layout: EEE ---------------------------------------------------------------------------


class EEE(CovarianceModel):
    name, layout = "EEE", "tied"
    description = "ellipsoidal, equal volume, shape and orientation ('tied')"

    def covariances(self, scatter, nk, previous=None):
        return scatter / nk.sum()

    def n_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) // 2


# --- full layout: VEE, EVE, VVE, EEV, VEV, EVV, VVV ---------------------------------------------


class VEE(CovarianceModel):
    name, layout = "VEE", "full"
    description = "ellipsoidal, variable volume, equal shape and orientation"

    def covariances(self, scatter, nk, previous=None):
        # Alternate: C = Σ_k W_k / λ_k scaled to det 1;  λ_k = tr(W_k C⁻¹) / (D n_k)
        n_features = scatter.shape[-1]
        volumes = np.trace(scatter, axis1=1, axis2=2) / (n_features * nk)
        objective = np.inf
        for _ in range(INNER_MAX_ITER):
            common = (scatter / volumes[:, None, None]).sum(axis=0)
            common /= root_determinant(common)
            inverse = np.linalg.inv(common)
            volumes = np.einsum("kij,ji->k", scatter, inverse) / (n_features * nk)
            previous_objective, objective = objective, float(nk @ np.log(volumes))
            if converged(objective, previous_objective):
                break
        return symmetric(volumes[:, None, None] * common)

    def n_parameters(self, n_components, n_features):
        return n_components + n_features * (n_features + 1) // 2 - 1


class EEV(CovarianceModel):
    name, layout, description = "EEV", "full", "ellipsoidal, equal volume and shape"

    def covariances(self, scatter, nk, previous=None):
        # Σ_k = L_k diag(Σ_k' ω_k' / n) L_kᵀ
        values, vectors = descending_eigen(scatter)
        common = values.sum(axis=0) / nk.sum()
        return _full_from(vectors, np.broadcast_to(common, values.shape))

    def n_parameters(self, n_components, n_features):
        return 1 + (n_features - 1) + n_components * n_features * (n_features - 1) // 2


class VEV(CovarianceModel):
    name, layout, description = "VEV", "full", "ellipsoidal, equal shape"

    def covariances(self, scatter, nk, previous=None):
        # Σ_k = L_k (λ_k A) L_kᵀ, λ_k A from the eigenvalues ω_k of W_k
        values, vectors = descending_eigen(scatter)
        return _full_from(vectors, _variable_volume_equal_shape(values, nk))

    def n_parameters(self, n_components, n_features):
        return n_components + (n_features - 1) + n_components * n_features * (n_features - 1) // 2


class EVV(CovarianceModel):
    name, layout, description = "EVV", "full", "ellipsoidal, equal volume"

    def covariances(self, scatter, nk, previous=None):
        # C_k = W_k / det(W_k)^(1/D);  λ = Σ_k det(W_k)^(1/D) / n
        roots = root_determinant(scatter)
        return scatter * (roots.sum() / nk.sum() / roots)[:, None, None]

    def n_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features * (n_features + 1) // 2 - 1)


class VVV(CovarianceModel):
    name, layout = "VVV", "full"
    description = "ellipsoidal, variable volume, shape and orientation ('full')"

    def covariances(self, scatter, nk, previous=None):
        return scatter / nk[:, None, None]

    def n_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2


class _CommonOrientation(CovarianceModel):
    """EVE and VVE: one orientation D shared by all components, each with its own shape.

    Given D, each component's diagonal is diag(Dᵀ W_k D); given the diagonals,
    D is improved by Browne & McNicholas's two majorise–minimise steps for
    min_D Σ_k tr(W_k D Λ_k Dᵀ), Λ_k the inverse diagonals: with ω_k the
    largest eigenvalue of W_k and α_k the largest entry of Λ_k, D becomes the
    orthogonal polar factor of Σ_k (ω_k I − W_k) D Λ_k, then of
    Σ_k W_k D (α_k I − Λ_k). Starts from the previous covariances'
    orientation when there are any, else from the identity.

    Each step can only lower the objective, so from the previous orientation
    any number of steps is a generalised EM step (the likelihood still never
    decreases). The steps converge linearly: they stop at a relative change
    of 1e-9 (mclust's default is 1.5e-8) or after 20, and EM's own
    iterations finish the work.
    """

    layout = "full"
    tol = 1e-9
    max_steps = 20

    def _diagonals(self, projected, nk):
        raise NotImplementedError

    def _objective(self, projected, diagonals, nk):
        raise NotImplementedError

    def covariances(self, scatter, nk, previous=None):
        n_features = scatter.shape[-1]
        orientation = np.eye(n_features) if previous is None else descending_eigen(previous[0])[1]
        largest = descending_eigen(scatter)[0][:, 0]  # ω_k
        rotated = scatter @ orientation  # W_k D, (K, D, D)
        diagonals = self._diagonals(np.sum(orientation * rotated, axis=1), nk)
        objective = np.inf
        for _ in range(self.max_steps):
            inverse = 1.0 / diagonals  # Λ_k, (K, D)
            # Σ_k (ω_k I − W_k) D Λ_k = D diag(Σ_k ω_k Λ_k) − Σ_k W_k D Λ_k
            orientation = _polar(
                orientation * (largest @ inverse) - np.einsum("kij,kj->ij", rotated, inverse)
            )
            rotated = scatter @ orientation
            # Σ_k W_k D (α_k I − Λ_k)
            orientation = _polar(
                np.einsum("kij,kj->ij", rotated, inverse.max(axis=1)[:, None] - inverse)
            )
            rotated = scatter @ orientation
            projected = np.sum(orientation * rotated, axis=1)  # diag(Dᵀ W_k D), (K, D)
            diagonals = self._diagonals(projected, nk)
            previous_objective = objective
            objective = self._objective(projected, diagonals, nk)
            if abs(objective - previous_objective) <= self.tol * (1.0 + abs(objective)):
                break
        orientations = np.broadcast_to(orientation, scatter.shape)
        return _full_from(orientations, diagonals)


def _polar(matrix):
    """The orthogonal factor U Vᵀ of the polar decomposition (maximises tr(Qᵀ M))."""
    left, _, right = np.linalg.svd(matrix)
    return left @ right


class EVE(_CommonOrientation):
    name, description = "EVE", "ellipsoidal, equal volume and orientation"

    def _diagonals(self, projected_diagonals, nk):
        # A_k = diag(Dᵀ W_k D) scaled to det 1;  λ = Σ_k tr(Dᵀ W_k D A_k⁻¹) / (n D)
        shapes = projected_diagonals / geometric_mean(projected_diagonals)[:, None]
        volume = (projected_diagonals / shapes).sum() / (nk.sum() * shapes.shape[1])
        return volume * shapes

    def _objective(self, projected_diagonals, diagonals, nk):
        return float((projected_diagonals / diagonals).sum() + np.log(diagonals).sum(axis=1) @ nk)

    def n_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1) + n_features * (n_features - 1) // 2


class VVE(_CommonOrientation):
    name, description = "VVE", "ellipsoidal, equal orientation"

    def _diagonals(self, projected_diagonals, nk):
        # λ_k A_k = diag(Dᵀ W_k D) / n_k
        return projected_diagonals / nk[:, None]

    def _objective(self, projected_diagonals, diagonals, nk):
        return float(np.log(diagonals).sum(axis=1) @ nk)

    def n_parameters(self, n_components, n_features):
        return n_components * n_features + n_features * (n_features - 1) // 2


MODELS: dict[str, CovarianceModel] = {
    model.name: model
    for model in (
        EII(),
        VII(),
        EEI(),
        VEI(),
        EVI(),
        VVI(),
        EEE(),
        VEE(),
        EVE(),
        VVE(),
        EEV(),
        VEV(),
        EVV(),
        VVV(),
    )
}
