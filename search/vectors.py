"""Vector files: one append-only float32 file per embedding model, and an
int8 copy beside it for scanning large stores.

An exact float32 scan of a million 384-dimension vectors reads 1.5 GB per
query (about 110 ms here). The int8 copy is a quarter of that, and SimSIMD
scores it with integer dot products (about 40 ms); the best ``RERANK`` rows
are then scored again from the float32 file, so the candidates the rankers
see carry exact cosines and are, in practice, the exact scan's own top 200
(``python -m benchmarks scale`` measures the overlap). Below ``EXACT_BELOW``
rows the float32 scan is cheap and runs alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Unit vectors: a component past ±0.5 clips; MiniLM's stay well inside.
INT8_SCALE = 254.0
EXACT_BELOW = 50_000
RERANK = 1_000
# SimSIMD splits the int8 scan across cores (a million rows: 41 ms on one
# core here, 22 on two); beyond four the memory bus is the limit.
SCAN_THREADS = min(4, os.cpu_count() or 1)


def int8_path(path: Path) -> Path:
    return path.with_suffix(".i8")


def quantize(vectors: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(vectors * INT8_SCALE), -127, 127).astype(np.int8)


def _write_at(path: Path, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` and cut the file there, durably: a crash
    before the catalog commits leaves only unreferenced rows at the end."""
    with path.open("r+b" if path.exists() else "wb") as fh:
        fh.seek(offset)
        fh.truncate()
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def append(path: Path, vectors: np.ndarray) -> int:
    """Append float32 ``vectors`` (and their int8 copy) to a model's file;
    return the first row they occupy. A part-row left by a crash is
    overwritten. An int8 copy that lags the float32 file (a store written
    before the copy existed) is caught up from it first."""
    dim = vectors.shape[1]
    first_row = path.stat().st_size // (4 * dim) if path.exists() else 0
    _write_at(path, first_row * 4 * dim, np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    copy = int8_path(path)
    done = copy.stat().st_size // dim if copy.exists() else 0
    if done < first_row:
        older = np.memmap(path, dtype=np.float32, mode="r", shape=(first_row, dim))
        _write_at(copy, done * dim, quantize(older[done:first_row]).tobytes())
        done = first_row
    _write_at(copy, first_row * dim, quantize(vectors).tobytes())
    return first_row


Rows = list[slice] | np.ndarray | None


class VectorMap:
    """A read-only map of a model's vectors: ``top`` finds the rows closest
    to a query vector among all rows, some row ranges, or listed rows."""

    def __init__(self, path: Path, rows: int, dim: int, live: np.ndarray) -> None:
        self.rows = rows
        self.exact = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dim))
        copy = int8_path(path)
        covered = min(rows, copy.stat().st_size // dim) if copy.exists() else 0
        # Rows past the copy (written before it existed) are scanned exactly.
        self.coarse = np.memmap(copy, dtype=np.int8, mode="r", shape=(covered, dim)) if covered else None
        self.covered = covered
        self.live = live  # False for rows no chunk maps any more

    def top(
        self, vector: np.ndarray, k: int, allowed: Rows = None, exact_below: int = EXACT_BELOW
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live rows and their exact cosines, best first."""
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        if allowed is None:
            allowed = [slice(0, self.rows)]
        if isinstance(allowed, np.ndarray):
            rows = allowed[self.live[allowed]]
            scores = self.exact[rows] @ vector
        elif sum(s.stop - s.start for s in allowed) >= exact_below and self.coarse is not None:
            rows = np.sort(self._coarse(vector, allowed, max(RERANK, k)))
            rows = rows[self.live[rows]]
            scores = self.exact[rows] @ vector
        else:
            rows = _concat([np.arange(s.start, s.stop) for s in allowed])
            scores = np.concatenate([self.exact[s] @ vector for s in allowed] or [np.zeros(0, np.float32)])
            scores[~self.live[rows]] = -np.inf
        top = min(k, int(np.isfinite(scores).sum()))
        if top == 0:
            return rows[:0], scores[:0]
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return rows[best], scores[best]

    def _coarse(self, vector: np.ndarray, allowed: list[slice], keep: int) -> np.ndarray:
        """The ``keep`` rows of ``allowed`` best by int8 dot product, plus
        every allowed row past the int8 copy."""
        import simsimd

        assert self.coarse is not None
        q = quantize(vector)[None]
        rows: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        tail: list[np.ndarray] = []
        for s in allowed:
            stop = min(s.stop, self.covered)
            if s.start < stop:
                block = self.coarse[s.start : stop]
                scored = simsimd.cdist(q, block, metric="dot", out_dtype="float32", threads=SCAN_THREADS)
                found = np.asarray(scored)[0]
                found[~self.live[s.start : stop]] = -np.inf
                rows.append(np.arange(s.start, stop))
                scores.append(found)
            if s.stop > self.covered:
                tail.append(np.arange(max(s.start, self.covered), s.stop))
        all_rows, all_scores = _concat(rows), np.concatenate(scores) if scores else np.zeros(0)
        if len(all_rows) > keep:
            pick = np.argpartition(-all_scores, keep - 1)[:keep]
            all_rows = all_rows[pick]
        return np.concatenate([all_rows, *tail])


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
