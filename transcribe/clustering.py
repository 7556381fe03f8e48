"""Grouping voice windows into speakers, without being told how many.

Two ways, each chosen per encoder on the tune half of the diarization sets
(benchmarks/diarization_sets.py), never on the held-out half:

- ``agglomerative``: average linkage cut at a cosine distance, then any two
  speakers whose voice prints are closer than ``merge_at`` become one. The
  low cut separates similar voices; the merge undoes the splits a low cut
  makes in one real voice (its pitch and pace drift, its prints do not).
- ``spectral``: a graph that links each window to its nearest few percent,
  its Laplacian's largest eigengap as the number of speakers, k-means in
  that spectral space. No distance threshold, so it does not depend on how
  tightly an encoder packs its vectors.

Both then drop speakers with under ``min_speaker_s`` of speech into the
nearest real one and settle every window on its nearest centroid; a Viterbi
pass charges for each change of speaker.
"""

from __future__ import annotations

import numpy as np

# Average-linkage and the spectral graph on n windows need n²/2 distances;
# past this many windows speakers are found on an evenly spaced sample and
# the rest are assigned.
MAX_CLUSTER_WINDOWS = 3000


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)


def _sample(n: int, max_windows: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, max_windows)).round().astype(int))


def agglomerative(
    embeddings: np.ndarray,
    threshold: float,
    *,
    merge_at: float | None = None,
    max_windows: int = MAX_CLUSTER_WINDOWS,
    window_s: float = 0.8,
    min_speaker_s: float = 3.0,
) -> np.ndarray:
    """Cluster ids (0..k-1) for unit vectors, k found from ``threshold``.

    Average linkage cut at a cosine distance: unlike Ward's, its heights do
    not grow with the amount of speech, so one threshold serves a 30-second
    call and a 3-hour meeting.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    sample = _sample(n, max_windows)
    ids = fcluster(linkage(embeddings[sample], method="average", metric="cosine"), threshold, "distance")
    labels = _settle(embeddings, sample, ids, n, window_s, min_speaker_s)
    return labels if merge_at is None else merge_close(embeddings, labels, merge_at)


def spectral(
    embeddings: np.ndarray,
    *,
    prune: float = 0.03,
    max_speakers: int = 15,
    max_windows: int = MAX_CLUSTER_WINDOWS,
    window_s: float = 0.8,
    min_speaker_s: float = 3.0,
) -> np.ndarray:
    """Cluster ids (0..k-1), k from the eigengap of a pruned affinity graph.

    Each window keeps its affinity to its nearest ``prune`` share of windows
    (at least 6), so one loud voice's thousands of windows cannot swamp a
    quiet one's few dozen; the graph is symmetrised and its unnormalised
    Laplacian's eigenvalues, smallest first, jump after the k-th.
    """
    from scipy.cluster.vq import kmeans2

    n = len(embeddings)
    if n < 4:
        return np.zeros(n, dtype=int)
    sample = _sample(n, max_windows)
    x = embeddings[sample]
    sims = x @ x.T
    keep = min(len(x) - 1, max(int(np.ceil(prune * len(x))), 6))
    nearest = np.argsort(-sims, axis=1)[:, :keep]
    rows = np.arange(len(x))[:, None]
    graph = np.zeros_like(sims)
    graph[rows, nearest] = np.maximum(sims[rows, nearest], 0.0)
    graph = (graph + graph.T) / 2
    np.fill_diagonal(graph, 0.0)
    values, vectors = np.linalg.eigh(np.diag(graph.sum(axis=1)) - graph)
    k = int(np.diff(values[: max_speakers + 1]).argmax()) + 1
    if k < 2:
        return np.zeros(n, dtype=int)
    # Fixed seeds: the same meeting must get the same speakers on a rerun.
    # The best of ten starts, as one k-means++ start can split a big speaker.
    space = vectors[:, :k]
    best, ids = np.inf, np.zeros(len(x), dtype=int)
    for seed in range(10):
        centres, found = kmeans2(space, k, minit="++", seed=seed)
        inertia = float(((space - centres[found]) ** 2).sum())
        if inertia < best:
            best, ids = inertia, found
    return _settle(embeddings, sample, ids, n, window_s, min_speaker_s)


def _settle(
    embeddings: np.ndarray, sample: np.ndarray, ids: np.ndarray, n: int, window_s: float, min_speaker_s: float
) -> np.ndarray:
    """Drop clusters with under ``min_speaker_s`` of speech (each window
    standing for ``window_s``: a cough, a door, cross-talk); then two k-means
    passes move every window, sampled or not, to its nearest centroid."""
    counts = np.bincount(ids)
    seconds = counts * window_s * n / len(sample)
    keep = [c for c in range(len(counts)) if counts[c] >= 2 and seconds[c] >= min_speaker_s]
    if not keep:
        keep = [int(counts.argmax())]
    centres = np.stack([embeddings[sample[ids == c]].mean(axis=0) for c in keep])
    for _ in range(2):
        labels = (embeddings @ _unit(centres).T).argmax(axis=1)
        centres = np.stack(
            [
                embeddings[labels == k].mean(axis=0) if (labels == k).any() else centres[k]
                for k in range(len(keep))
            ]
        )
    labels = (embeddings @ _unit(centres).T).argmax(axis=1)
    return np.unique(labels, return_inverse=True)[1]  # no empty ids


def merge_close(embeddings: np.ndarray, labels: np.ndarray, merge_at: float) -> np.ndarray:
    """Join the two speakers with the most similar voice prints while that
    similarity reaches ``merge_at``; ids stay 0..k-1."""
    labels = np.unique(labels, return_inverse=True)[1]
    while labels.max() > 0:
        k = int(labels.max()) + 1
        prints = _unit(np.stack([embeddings[labels == c].mean(axis=0) for c in range(k)]))
        sims = prints @ prints.T - 2 * np.eye(k)
        a, b = np.unravel_index(int(sims.argmax()), sims.shape)
        if sims[a, b] < merge_at:
            break
        labels = np.unique(np.where(labels == b, a, labels), return_inverse=True)[1]
    return labels


def drop_brief(embeddings: np.ndarray, labels: np.ndarray, min_windows: int) -> np.ndarray:
    """Give the windows of any speaker left with under ``min_windows`` of
    them (after smoothing, on every window, not a sample) to the nearest
    remaining speaker: a speaker found on a sample can shrink to a second
    or two once every window is assigned."""
    counts = np.bincount(labels)
    if not len(counts):
        return labels
    keep = [c for c in range(len(counts)) if counts[c] >= min_windows] or [int(counts.argmax())]
    if len(keep) == len(counts):
        return labels
    prints = _unit(np.stack([embeddings[labels == c].mean(axis=0) for c in keep]))
    nearest = np.array(keep)[(embeddings @ prints.T).argmax(axis=1)]
    return np.unique(np.where(np.isin(labels, keep), labels, nearest), return_inverse=True)[1]


def viterbi(embeddings: np.ndarray, labels: np.ndarray, penalty: float) -> np.ndarray:
    """Relabel windows along the best path: similarity to the speaker's
    centroid, less ``penalty`` for each change, so that one odd window inside
    a long turn does not become a turn of its own."""
    k = int(labels.max()) + 1 if len(labels) else 0
    if k < 2:
        return labels
    centres = _unit(np.stack([embeddings[labels == c].mean(axis=0) for c in range(k)]))
    scores = embeddings @ centres.T
    best = scores[0].copy()
    back = np.zeros((len(scores), k), dtype=int)
    switch = penalty * (1 - np.eye(k))
    for t in range(1, len(scores)):
        total = best[:, None] - switch
        back[t] = total.argmax(axis=0)
        best = total.max(axis=0) + scores[t]
    path = np.zeros(len(scores), dtype=int)
    path[-1] = int(best.argmax())
    for t in range(len(scores) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids 0, 1, 2… in the order they first occur."""
    order: dict[int, int] = {}
    for c in labels:
        order.setdefault(int(c), len(order))
    return np.array([order[int(c)] for c in labels], dtype=int)
