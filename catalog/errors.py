"""The one exception family every stage raises for problems a user can fix.

The CLI turns these into a one-line message and a non-zero exit; the web app
into a friendly page or JSON error. Anything else is a bug and may traceback.
"""


class OnRecordError(Exception):
    """A problem with the user's input or setup; the message says how to fix it."""


class MediaError(OnRecordError):
    """The source has no usable audio: missing, empty, corrupt or silent-only."""


class SourceError(OnRecordError):
    """A source could not be reached or holds no media."""


class ModelError(OnRecordError):
    """A model is unknown, missing or failed to load."""


class QueryError(OnRecordError):
    """A search request that cannot be answered as given."""


class NetworkError(SourceError):
    """A source could not be reached at all (DNS, refused, timeout, no route):
    nothing is known yet about whether it holds media, and a later try may
    pass, so the nightly run retries it."""


def reason(exc: BaseException) -> str:
    """One line for a report or a meeting's error: our own errors say how to
    fix them; anything else (a bug, the database, memory) is named by type."""
    if isinstance(exc, OnRecordError):
        return str(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
