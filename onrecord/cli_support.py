"""What every ``onrecord`` command module shares: errors a user can fix
as one-line messages, a pipeline that is always closed, the nightly run's
lock, and the lines that report queued work."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import click

from catalog import OnRecordError, Settings


def fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our own errors into click's one-line ``Error: …`` and exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OnRecordError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@contextmanager
def open_pipeline(settings: Settings, progress: bool = False) -> Iterator[Any]:
    from onrecord.pipeline import Pipeline
    from onrecord.progress import Progress

    pipeline = Pipeline(settings, Progress(enabled=progress and sys.stderr.isatty()))
    try:
        yield pipeline
    finally:
        pipeline.close()


@contextmanager
def hold_run_lock(settings: Settings) -> Iterator[None]:
    """What changes meetings or sends alerts runs one at a time with the
    nightly run: a second one exits 3, as a second ``run`` does."""
    from onrecord.nightly import LOCKED, RunLocked, run_lock

    try:
        with run_lock(settings.data_dir):
            yield
    except RunLocked as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(LOCKED)


def echo_queued(queued: Iterable[tuple[str, int | None]]) -> None:
    """A line per queued source, saying when it was queued already."""
    for source, job in queued:
        click.echo(f"queued {source}" + (f" (job {job})" if job else " (already queued)"))
