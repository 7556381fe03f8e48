"""Progress bars on stderr for the long steps: bytes downloaded, audio
seconds transcribed, chunks embedded. Stdout stays clean for ``--json``."""

from __future__ import annotations

import sys
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

    def count(self, desc: str) -> Any:
        return self._bar(desc, None, unit="chunk")
