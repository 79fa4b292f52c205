"""Group questions of the same need: star clusters around the densest questions, by cosine of their embeddings.

Each distinct wording is a point weighted by how often it was asked. Its density is the weight of every wording
within `threshold` of it (itself included). The densest wording not yet taken leads a new cluster and takes every
untaken wording within the threshold of it: every member is that close to its leader, so clusters do not chain
from one need into another as single linkage does, and the leader is the cluster's most typical question.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_ROWS = 512  # rows of the similarity matrix held at once (512 × 100k float32 = 200 MB at most)


@dataclass(frozen=True)
class Group:
    leader: int  # index of the most typical wording
    members: tuple[int, ...]  # indices of every wording in the group, the leader first


def neighbours(vectors: np.ndarray, threshold: float) -> list[np.ndarray]:
    """For each row of unit vectors, the rows whose cosine with it is at least threshold (itself included)."""
    out: list[np.ndarray] = []
    for start in range(0, len(vectors), BLOCK_ROWS):
        sims = vectors[start:start + BLOCK_ROWS] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
        cuts = np.searchsorted(rows, np.arange(1, sims.shape[0]))
        out.extend(np.split(cols, cuts))
    return out


def cluster(vectors: np.ndarray, weights: np.ndarray, threshold: float) -> list[Group]:
    """Star clusters of the rows (unit vectors, each with its weight), densest leader first."""
    if len(vectors) == 0:
        return []
    near = neighbours(np.ascontiguousarray(vectors, dtype=np.float32), threshold)
    density = np.array([weights[n].sum() for n in near])
    # densest first; ties by the wording's own weight, then by input order, so the result is reproducible
    order = np.lexsort((np.arange(len(weights)), -weights, -density))
    taken = np.zeros(len(vectors), dtype=bool)
    groups = []
    for leader in order:
        if taken[leader]:
            continue
        rest = sorted((int(m) for m in near[leader] if not taken[m] and m != leader), key=lambda m: (-weights[m], m))
        taken[leader] = True
        taken[rest] = True
        groups.append(Group(int(leader), (int(leader), *rest)))
    return groups
