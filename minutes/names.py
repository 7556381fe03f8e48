"""Matching names as Whisper hears them to a body's roster.

Speech recognition spells names by sound: Bagshaw becomes "Bike Shop" or
"Vakshah", Harrell "Harold", O'Brien "Abrane". Two keys are compared with
Jaro-Winkler (which weighs the start of a name most, as hearers do): the
letters, and a sound key that marks the first vowel, folds the consonants
recognisers confuse (b/p/f/v, c/k/g/q, s/z/x, d/t, m/n) and drops the rest
of the vowels.
"""

from __future__ import annotations

import re

from rapidfuzz.distance import JaroWinkler

from catalog.types import Person
from minutes.text import fold

SOUNDS = str.maketrans("bfvpckgqszxdtmn", "ppppkkkksssttnn")
# Below this a guess is worse than none: an unresolved name is kept as heard.
MATCH_AT = 0.78
# Within one roll call each member answers once, which makes a weaker match safe.
ROLL_MATCH_AT = 0.70
MARGIN = 0.04
LETTER_WEIGHT = 0.6


def letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", fold(text))


def sound_key(text: str) -> str:
    word = letters(text)
    for a, b in (("ph", "f"), ("sh", "s"), ("ch", "k"), ("ck", "k"), ("wh", "w")):
        word = word.replace(a, b)
    if not word:
        return ""
    match = re.match(r"([^aeiouy]*)([aeiouy]?)(.*)", word)
    assert match
    onset, vowel, rest = match.groups()
    onset = onset if len(onset) < 2 else onset.replace("h", "")
    rest = re.sub(r"[aeiouhwy]", "", rest)
    # Which vowel is heard varies ("Bike" for "Bag"); that there is one does not.
    key = onset.translate(SOUNDS) + ("a" if vowel else "") + rest.translate(SOUNDS)
    return re.sub(r"(.)\1+", r"\1", key)


def similarity(heard: str, name: str) -> float:
    a, b = letters(heard), letters(name)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    by_letters = JaroWinkler.similarity(a, b)
    by_sound = JaroWinkler.similarity(sound_key(heard), sound_key(name))
    return LETTER_WEIGHT * by_letters + (1 - LETTER_WEIGHT) * by_sound


class NameMatcher:
    """Resolves a heard name to one person of the roster, or to nobody."""

    def __init__(self, roster: list[Person]) -> None:
        self.roster = roster
        self._keys: list[tuple[str, Person]] = []
        for person in roster:
            parts = [p for p in re.split(r"[\s.]+", person.name) if p]
            keys = {person.name, parts[-1] if parts else person.name, *person.aliases}
            self._keys += [(k, person) for k in keys if letters(k)]

    def match(self, heard: str) -> tuple[Person | None, float]:
        wanted = letters(heard)
        if not self._keys or not wanted:
            return None, 0.0
        best: dict[int, tuple[float, Person]] = {}
        for key, person in self._keys:
            score = 1.0 if letters(key) == wanted else similarity(heard, key)
            slot = id(person)
            if slot not in best or score > best[slot][0]:
                best[slot] = (score, person)
        ranked = sorted(best.values(), key=lambda sp: -sp[0])
        score, person = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        if score == 1.0 or (score >= MATCH_AT and score - runner_up >= MARGIN):
            return person, score
        return None, score

    def closeness(self, heard: str) -> float:
        """How near the heard name comes to anyone on the roster."""
        if not letters(heard):
            return 0.0
        return max((similarity(heard, key) for key, _ in self._keys), default=0.0)

    def match_all(self, heard: list[str]) -> list[Person | None]:
        """Resolve the names of one roll call together: each member answers
        once, so a name taken by a clear match ("Herbal" is Herbold) no
        longer competes for an unclear one ("Harold" is then Harrell)."""
        scored = []
        for i, name in enumerate(heard):
            for slot, person in enumerate(self.roster):
                keys = [k for k, p in self._keys if p is person]
                score = max((1.0 if letters(k) == letters(name) else similarity(name, k)) for k in keys)
                scored.append((score, i, slot))
        scored.sort(key=lambda s: -s[0])
        found: list[Person | None] = [None] * len(heard)
        taken: set[int] = set()
        for score, i, slot in scored:
            if score < ROLL_MATCH_AT or found[i] is not None or slot in taken:
                continue
            rivals = [s for s, j, other in scored if j == i and other != slot and other not in taken]
            if score < 1.0 and rivals and score - max(rivals) < MARGIN:
                continue
            found[i] = self.roster[slot]
            taken.add(slot)
        # Two calls of the same name (the clerk asking again) are one person.
        for i, name in enumerate(heard):
            if found[i] is None:
                for j, other in enumerate(heard):
                    if found[j] is not None and letters(other) == letters(name):
                        found[i] = found[j]
        return found
