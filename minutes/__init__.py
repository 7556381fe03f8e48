"""What a meeting decided, read from its transcript: motions, vote events
and each member's vote, reconciled with Legistar's record where a body has
one, and the meeting's chapters (agenda items, public comment, votes). No
network and no language-model service: cue phrases, the order of a roll
call, and the body's roster."""

from minutes.chapters import CHAPTER_VERSION, detect_chapters
from minutes.detect import DETECTOR_VERSION, detect_votes
from minutes.names import NameMatcher
from minutes.reconcile import match_legistar

__all__ = [
    "CHAPTER_VERSION",
    "DETECTOR_VERSION",
    "NameMatcher",
    "detect_chapters",
    "detect_votes",
    "match_legistar",
]
