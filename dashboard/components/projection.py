"""Two-dimensional pictures of high-dimensional vectors (for the Map page)."""

from __future__ import annotations

import numpy as np


def pca_2d(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2): the two leading principal components.

    A randomised SVD (Halko, Martinsson and Tropp, 2011) with a 24-column sketch and five
    power iterations: a few (N, D) x (D, 24) products instead of a full SVD of the sample,
    and the same components to float precision unless the spectrum is nearly flat.
    """
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    n, d = x.shape
    if n < 3:
        return np.zeros((n, 2))
    k = min(d, n, 24)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(x @ rng.standard_normal((d, k)))  # (N, k)
    for _ in range(5):  # power iterations sharpen the leading directions
        q, _ = np.linalg.qr(x @ (x.T @ q))
    _, _, vt = np.linalg.svd(q.T @ x, full_matrices=False)  # (k, D) -> Vt (k, D)
    components = vt[:2]  # (2, D)
    projected = x @ components.T  # (N, 2)
    if projected.shape[1] < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    return projected
