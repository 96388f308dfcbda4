"""Clusters and routes of the feature-cluster trees: k-means on the frozen base's last
hidden layer, and the nearest-centroid rule that routes an image, the same at training
and at test.

Used by :mod:`condcomp_lib.methods.cluster_tree` (which offers both names) and chapter 8.
"""

from __future__ import annotations

import torch


def kmeans(
    z: torch.Tensor, k: int, seed: int = 0, restarts: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means of the rows of z [N, D]: (centroids [k, D], cluster of each row [N]), the
    best of ``restarts`` runs from different starts (k-means stops in a local optimum,
    and with few restarts different seeds give different partitions). Only z is read:
    no label enters the clusters."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > len(z):
        raise ValueError(f"k = {k} clusters need at least {k} samples, got {len(z)}")
    from sklearn.cluster import KMeans

    if not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be a positive int, got {restarts!r}")
    km = KMeans(n_clusters=k, n_init=restarts, random_state=seed)
    km.fit(z.double().numpy())
    centroids = torch.as_tensor(km.cluster_centers_, dtype=z.dtype)
    # the clusters are the routes nearest() gives (the same rule at training and test)
    return centroids, nearest(z, centroids)


def nearest(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (squared Euclidean distance) of every row of z
    [B, D]: long [B]. ||z - c||^2 = ||z||^2 - 2 z.c + ||c||^2, and ||z||^2 is the same
    for every c: k * D MACs per sample."""
    if len(centroids) == 1:
        return torch.zeros(len(z), dtype=torch.long, device=z.device)
    scores = z @ centroids.T - 0.5 * (centroids * centroids).sum(1)  # [B, k]
    return scores.argmax(1)
