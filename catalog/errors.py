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
