"""Pictures of a fitted mixture and of model selection (matplotlib: ``pip install "fastem[plot]"``).

The data are drawn as a subsample of points in two dimensions (two chosen
features, or the first two principal axes), each component as its 1σ and 2σ
ellipses — the covariance projected onto those two dimensions — labelled
with its weight.
"""

from __future__ import annotations

import numpy as np

from ._mixture import as_full_covariances
from .covariance import layout_of

PLOT_INSTALL_HINT = 'plotting needs matplotlib: pip install "fastem[plot]"'
MAX_POINTS = 20_000


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(PLOT_INSTALL_HINT) from None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def full_covariances(model) -> np.ndarray:
    """Every component's covariance as a (K, D, D) matrix, whatever the covariance model."""
    return as_full_covariances(
        model.covariances_, layout_of(model.covariance_type), *model.means_.shape
    )


def projection(model, X, dims: tuple[int, int] | str):
    """(D, 2) matrix onto the plotted plane, and the axis labels."""
    n_features = model.means_.shape[1]
    if n_features == 1:
        raise ValueError("a picture needs at least two features; this model has one")
    if dims == "pca":
        # principal axes of the fitted mixture's total covariance: Σ w (C + μμᵀ) − m mᵀ
        mean = model.weights_ @ model.means_
        spread = np.einsum("k,kij->ij", model.weights_, full_covariances(model))
        spread += np.einsum("k,ki,kj->ij", model.weights_, model.means_, model.means_)
        spread -= np.outer(mean, mean)
        _, vectors = np.linalg.eigh(spread)
        return vectors[:, ::-1][:, :2], ("principal axis 1", "principal axis 2")
    first, second = dims
    for dim in dims:
        if not 0 <= dim < n_features:
            raise ValueError(
                f"feature {dim + 1} does not exist: the model has {n_features} "
                f"features (1 to {n_features})"
            )
    basis = np.zeros((n_features, 2))
    basis[first, 0] = basis[second, 1] = 1.0
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return basis, (str(names[first]), str(names[second]))
    return basis, (f"feature {first + 1}", f"feature {second + 1}")


def marker_style(n_points: int) -> tuple[float, float]:
    """(size in points², opacity) that keep a few hundred points visible and a million readable.

    The ink of all markers together stays about constant: each marker's area
    times its opacity shrinks as 1/n, within bounds.
    """
    size = float(np.clip(6000.0 / max(n_points, 1), 2.0, 30.0))
    alpha = float(np.clip(3000.0 / max(n_points, 1), 0.3, 0.85))
    return size, alpha


def _ellipse(axes, mean, covariance, n_sigma, color, plt):
    from matplotlib.patches import Ellipse

    variances, vectors = np.linalg.eigh(covariance)
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    width, height = 2.0 * n_sigma * np.sqrt(np.maximum(variances[::-1], 0.0))
    axes.add_patch(
        Ellipse(
            mean,
            width,
            height,
            angle=angle,
            fill=False,
            color=color,
            linewidth=2.0 if n_sigma == 1 else 1.0,
            linestyle="-" if n_sigma == 1 else "--",
        )
    )


def plot_mixture(
    model,
    X,
    path: str,
    *,
    dims: tuple[int, int] | str = (0, 1),
    max_points: int = MAX_POINTS,
    seed: int = 0,
    title: str | None = None,
) -> None:
    """Save a PNG of (a subsample of) X with each component's 1σ and 2σ ellipses."""
    basis, labels = projection(model, X, dims)  # a bad choice of dims is reported first
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    n_samples = X.shape[0]
    rows = (
        np.sort(rng.choice(n_samples, max_points, replace=False))
        if n_samples > max_points
        else np.arange(n_samples)
    )
    points = np.asarray(X[rows], dtype=np.float64)
    component = model.predict(points)
    plane = points @ basis
    figure, axes = plt.subplots(figsize=(7, 6), dpi=110, layout="constrained")
    colors = plt.get_cmap("tab10" if model.n_components <= 10 else "tab20")
    size, alpha = marker_style(len(rows))
    axes.scatter(
        plane[:, 0],
        plane[:, 1],
        s=size,
        alpha=alpha,
        c=[colors(k % colors.N) for k in component],
        linewidths=0,
        rasterized=True,
    )
    covariances = full_covariances(model)
    for k in range(model.n_components):
        mean = model.means_[k] @ basis
        covariance = basis.T @ covariances[k] @ basis
        color = colors(k % colors.N)
        for n_sigma in (1, 2):
            _ellipse(axes, mean, covariance, n_sigma, "black", plt)
        axes.plot(*mean, marker="x", color="black")
        axes.annotate(
            f"{model.weights_[k]:.2f}",
            mean,
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=9,
            color="black",
            bbox={"boxstyle": "round,pad=0.2", "fc": color, "alpha": 0.6, "lw": 0},
        )
    axes.set_xlabel(labels[0])
    axes.set_ylabel(labels[1])
    axes.set_title(
        title
        or f"{model.n_components}-component {model.covariance_type} mixture\n"
        f"{len(rows):,} of {n_samples:,} points; 1σ and 2σ ellipses, labelled with weights",
        fontsize=10,
        wrap=True,
    )
    axes.autoscale_view()
    figure.savefig(path)
    plt.close(figure)


def plot_model_selection(search, path: str) -> None:
    """Save a PNG of the criterion against K, one line per covariance model (as mclust draws)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    markers = "osd^v<>pPhX*D8"
    for column, name in enumerate(search.covariance_types_grid_):
        axes.plot(
            search.n_components_grid_,
            search.criterion_table_[:, column],
            marker=markers[column % len(markers)],
            linewidth=1,
            markersize=4,
            label=name,
        )
    best = search.best_params_
    axes.axvline(best["n_components"], color="gray", linestyle=":", linewidth=1)
    axes.set_title(
        f"best {search.criterion.upper()}: {best['covariance_type']}, K = {best['n_components']}",
        fontsize=10,
    )
    axes.set_xlabel("number of components K")
    axes.set_ylabel(f"{search.criterion.upper()} (lower is better)")
    axes.legend(ncol=2, fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_selection(table: list[dict], criterion: str, path: str) -> None:
    """Save a PNG of BIC and AIC against the number of components, the best one marked."""
    plt = _pyplot()
    ks = [row["k"] for row in table]
    figure, axes = plt.subplots(figsize=(6, 4), dpi=110)
    for name, style in (("bic", "o-"), ("aic", "s--")):
        axes.plot(ks, [row[name] for row in table], style, label=name.upper())
    best = min(table, key=lambda row: row[criterion])
    axes.axvline(
        best["k"], color="gray", linestyle=":", label=f"best {criterion.upper()}: K={best['k']}"
    )
    axes.set_xlabel("number of components K")
    axes.set_ylabel("criterion (lower is better)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
