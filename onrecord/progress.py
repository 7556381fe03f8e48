"""Progress bars on stderr for the long steps: bytes downloaded, audio
seconds transcribed, chunks embedded. Stdout stays clean for ``--json``.
And the wall seconds each stage took, which ``ingest --json`` reports."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Progress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    @contextmanager
    def _bar(self, desc: str, total: float | None, **kwargs: Any) -> Iterator[Callable[..., None]]:
        if not self.enabled:
            yield lambda *args, **kw: None
            return
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True, **kwargs)

        def update(done: float, total: float | None = None) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.n = round(done, 1) if isinstance(done, float) else done
            bar.refresh()

        try:
            yield update
        finally:
            bar.close()

    def bytes(self, desc: str) -> Any:
        return self._bar(desc, None, unit="B", unit_scale=True, unit_divisor=1024)

    def seconds(self, desc: str, total: float | None) -> Any:
        return self._bar(
            desc,
            round(total, 1) if total else None,
            unit="s audio",
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]" if total else None,
        )

    def count(self, desc: str, unit: str = "chunk") -> Any:
        return self._bar(desc, None, unit=unit)


class Timings(dict[str, float]):
    """Wall seconds per stage, summed over every meeting a pipeline runs;
    an engine's own steps (VAD, decoding, embedding…) join them by name."""

    def add(self, stage: str, seconds: float) -> None:
        self[stage] = self.get(stage, 0.0) + seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    @contextmanager
    def steps_of(self, steps: dict[str, float]) -> Iterator[None]:
        """Adds what an engine's running totals grew by inside the block.
        A block that raised adds nothing: its steps' totals are partial."""
        before = dict(steps)
        yield
        for step, seconds in steps.items():
            self.add(step, seconds - before.get(step, 0.0))
