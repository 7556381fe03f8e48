"""Vote events read from a transcript.

A vote is a question put ("all those in favor", "call the roll", "is there
any objection") and a result announced ("the ayes have it", "motion
carries 7-2", "hearing no objection"). Each result belongs to the latest
question before it; a question never answered by a result still counts when
its answers were heard, and a result with no question heard stands alone. A
roll call whose answers are "here" and "present" is attendance, not a vote.
The motion is the nearest "I move…", "motion to…", "moves for passage…" or
"in favor of…" before the question. Counts announced beat counts counted
from the members' answers; where they differ both are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from catalog.types import MemberVote, Person, Segment, VoteEvent
from minutes.cues import (
    ANSWERS,
    ATTENDANCE,
    CONSENT,
    CORRECTION,
    COUNT_WORDS,
    IN_FAVOR_OF,
    LOOK_BACK,
    MOTIONS,
    NOT_NAMES,
    QUESTIONS,
    RESULTS,
    TITLES,
    WINDOW,
)
from minutes.names import ROLL_MATCH_AT, NameMatcher
from minutes.text import Stream, Token, number

# Bump when detection changes, so ``reindex`` detects every meeting again.
DETECTOR_VERSION = "votes-1"


@dataclass
class Cue:
    kind: str  # a question's kind, or a result
    first: int  # token indexes
    last: int
    start: float
    end: float


@dataclass
class Heard:
    """A roll call's answers: each name as called, its resolved person, the
    answer after corrections."""

    names: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    persons: list[Person | None] = field(default_factory=list)

    def tally(self) -> dict[str, int]:
        out = {"yes": 0, "no": 0, "abstain": 0, "absent": 0, "present": 0}
        for answer in self.answers:
            out[answer] = out.get(answer, 0) + 1
        return out


def _cues(stream: Stream, patterns: list[tuple[str, re.Pattern[str]]]) -> list[Cue]:
    found = []
    for kind, pattern in patterns:
        for m in pattern.finditer(stream.flat):
            first, last = stream.token_at(m.start()), stream.token_at(max(m.start(), m.end() - 2))
            toks = stream.tokens
            found.append(Cue(kind, first, last, toks[first].start, toks[last].end))
    found.sort(key=lambda c: c.first)
    return found


def _cluster(cues: list[Cue], gap: float) -> list[list[Cue]]:
    """Cues close together are one: "all in favor … all opposed", or "the
    ayes have it; the docket has passed"."""
    groups: list[list[Cue]] = []
    for cue in cues:
        if groups and cue.start - groups[-1][-1].end <= gap:
            groups[-1].append(cue)
        else:
            groups.append([cue])
    return groups


def _kind(group: list[Cue]) -> str:
    kinds = [c.kind for c in group]
    for kind in ("roll_call", "electronic", "voice", "unanimous_consent"):
        if kind in kinds:
            return kind
    return kinds[0]


def detect_votes(segments: list[Segment], roster: list[Person] | None = None) -> list[VoteEvent]:
    """Every vote taken in the transcript, in order, with the members' votes
    where a roll call was heard. ``roster`` (the body's members) resolves the
    names as spoken; without it names are kept as heard."""
    stream = Stream(segments)
    if not stream.tokens:
        return []
    matcher = NameMatcher(roster or [])
    questions = _cluster(_cues(stream, QUESTIONS), gap=12.0)
    results = _cluster(_cues(stream, RESULTS), gap=8.0)
    claims: dict[int, list[list[Cue]]] = {}
    loose = []
    for result in results:
        before = [i for i, q in enumerate(questions) if q[0].start <= result[0].start]
        if before and result[0].start - questions[before[-1]][-1].end <= WINDOW[_kind(questions[before[-1]])]:
            claims.setdefault(before[-1], []).append(result)
        else:
            loose.append(result)
    events: list[VoteEvent] = []
    for i, question in enumerate(questions):
        kind = _kind(question)
        answered = claims.get(i, [])
        heard = _roll_call(
            stream, question[-1].last + 1, _until(stream, question, answered, questions, i), matcher
        )
        tally = heard.tally()
        if kind == "roll_call" and _attendance(stream, question, heard, answered):
            continue  # the roll of who is here
        if not answered and kind in ("roll_call", "electronic") and not (tally["yes"] or tally["no"]):
            continue  # "call the roll" said, nothing voted
        if answered and kind != "roll_call" and len(answered) > 1:
            # Two results under one question: the first closes it, the
            # second stands alone (a voice vote the chair did not put aloud).
            loose += answered[1:]
            answered = answered[:1]
        events.append(_event(stream, kind, question, answered[0] if answered else None, heard))
    for result in loose:
        said = stream.span_text(result[0].first, result[-1].last).lower()
        if "adjourned" in said and len(result) == 1:
            continue  # the chair closing the meeting, no question put
        kind = "unanimous_consent" if "objection" in said else "voice"
        events.append(_event(stream, kind, None, result, Heard()))
    events.sort(key=lambda e: e.start or 0.0)
    for prev, event in zip([None, *events], events, strict=False):
        limit = prev.end if prev else None
        event.motion = _motion(stream, event, limit)
        if CONSENT.search(event.motion.lower()) and not event.members:
            event.kind = "consent_agenda"
    return events


def _until(
    stream: Stream, question: list[Cue], answered: list[list[Cue]], questions: list[list[Cue]], i: int
) -> int:
    """Where a question's answers end: at its result, else at the next
    question, else a window later."""
    if answered:
        return answered[0][-1].first
    stop = question[-1].end + WINDOW[_kind(question)]
    if i + 1 < len(questions):
        stop = min(stop, questions[i + 1][0].start)
    return stream.index_at_time(stop)


def _attendance(stream: Stream, question: list[Cue], heard: Heard, answered: list[list[Cue]]) -> bool:
    tally = heard.tally()
    said = stream.flat[stream.offset_of(question[0].first) : stream.offset_of(question[-1].last + 30)]
    votes = tally["yes"] + tally["no"] + tally["abstain"]
    if tally["present"] > votes:
        return True
    return bool(ATTENDANCE.search(said)) and votes == 0 and not answered


def _roll_call(stream: Stream, first: int, last: int, matcher: NameMatcher) -> Heard:
    """Names called and the answer after each, between ``first`` and
    ``last``: "Councilmember Kalb? >> Aye." or "Juarez. Yes." The last answer
    before the next name wins, so "No. Sorry, yes." is yes."""
    toks = stream.tokens[first:last]
    heard = Heard()
    i = 0
    while i < len(toks):
        name_at = _name_at(toks, i, matcher)
        if name_at is None:
            i += 1
            continue
        name, after = name_at
        answer, j = None, after
        while j < len(toks) and j < after + 12:
            if j > after and _name_at(toks, j, matcher) is not None:
                break
            word = toks[j].norm
            vote = ANSWERS.get(word)
            if word == "i" and (toks[j].stop or j + 1 == len(toks) or toks[j + 1].turn != toks[j].turn):
                vote = "yes"  # captions write the spoken "aye" as "I"
            if word == "not" and j + 1 < len(toks) and toks[j + 1].norm in ("present", "voting"):
                vote = "absent" if toks[j + 1].norm == "present" else "abstain"
            if vote and (answer is None or any(t.norm in CORRECTION for t in toks[after:j])):
                answer = vote
            elif vote and answer == "present" and vote != "present":
                answer = vote
            j += 1
        if answer:
            heard.names.append(name)
            heard.answers.append(answer)
        i = max(j, i + 1)
    heard.persons = matcher.match_all(heard.names) if matcher.roster else [None] * len(heard.names)
    return heard


def _name_at(toks: list[Token], i: int, matcher: NameMatcher) -> tuple[str, int] | None:
    """A name called at token ``i``: after a title ("councilmember gallo"),
    or a roster member's name on its own ("Juarez?"). Returns the name and
    the index after it."""
    tok = toks[i]
    if tok.norm in TITLES and i + 1 < len(toks):
        j = i + 1
        while j < len(toks) and toks[j].norm in TITLES | {"pro", "tem", "vice"}:
            j += 1
        if j < len(toks) and toks[j].norm not in NOT_NAMES and not toks[j].norm.isdigit():
            return toks[j].text.strip("?.,!"), j + 1
        return None
    if tok.norm in NOT_NAMES or len(tok.norm) < 3 or not matcher.roster:
        return None
    # A bare name is a roll-call name only where it stands alone: its
    # sentence or turn ends there ("Juarez?") or an answer follows.
    for width in (2, 1):
        if i + width > len(toks):
            continue
        words = toks[i : i + width]
        if any(w.norm in NOT_NAMES for w in words):
            continue
        score = matcher.closeness(" ".join(w.norm for w in words))
        ends = words[-1].stop or i + width == len(toks) or toks[i + width].turn != words[-1].turn
        follows = i + width < len(toks) and toks[i + width].norm in ANSWERS
        # Called on its own and answered: a weaker likeness will do, as the
        # whole roll call is resolved together afterwards.
        if score >= 0.8 and (ends or follows) or score >= ROLL_MATCH_AT and ends and follows:
            return " ".join(w.text.strip("?.,!") for w in words), i + width
    return None


def _announced(stream: Stream, result: list[Cue]) -> dict[str, int]:
    """Counts said with the result: "carries 7-2", "three votes to one",
    "six ayes, two excused", "unanimously"."""
    first = max(0, result[0].first - 4)
    last = min(len(stream.tokens), result[-1].last + 16)
    words = [t.norm for t in stream.tokens[first:last]]
    counts: dict[str, int] = {}
    for k, word in enumerate(words):
        pair = re.fullmatch(r"(\d+)-(\d+)", word)
        if pair and "yes" not in counts:
            counts["yes"], counts["no"] = int(pair.group(1)), int(pair.group(2))
            continue
        n = number(word)
        if n is None:
            continue
        rest = words[k + 1 : k + 4]
        if rest[:1] == ["votes"]:
            rest = rest[1:]
        if rest[:1] == ["to"] and len(rest) > 1 and number(rest[1]) is not None and "yes" not in counts:
            counts["yes"], counts["no"] = n, number(rest[1]) or 0
            continue
        for option, nouns in COUNT_WORDS.items():
            if rest and (rest[0] in nouns or rest[:2] == ["in", "favor"]) and option not in counts:
                counts[option] = n
                break
    return counts


def _event(
    stream: Stream, kind: str, question: list[Cue] | None, result: list[Cue] | None, heard: Heard
) -> VoteEvent:
    toks = stream.tokens
    start = question[0].start if question else max(0.0, (result or [])[0].start - 8.0)
    if question and kind == "roll_call":
        start = question[0].start
    end_cue = result[-1] if result else None
    end = end_cue.end if end_cue else (question[-1].end if question else start)
    outcome = result_of(stream, result) if result else None
    tally = heard.tally()
    counted = {k: tally[k] for k in ("yes", "no", "abstain", "absent")} if heard.answers else None
    announced = _announced(stream, result) if result else {}
    notes = []
    if outcome is None:
        if kind in ("roll_call", "electronic") and counted:
            outcome = "passed" if counted["yes"] > counted["no"] else "failed"
            notes.append("no result was announced; the result is the members' answers counted")
        else:
            outcome = "passed"
            notes.append("no result was announced; no objection was heard")
    if result and any(
        t.norm == "unanimously" for t in toks[max(0, result[0].first - 6) : result[-1].last + 8]
    ):
        announced.setdefault("no", 0)
    counts: dict[str, int | None] = {k: announced.get(k) for k in ("yes", "no", "abstain", "absent")}
    if announced and counted:
        for option in counts:
            if counts[option] is None:
                counts[option] = counted[option]
            elif counts[option] != counted[option]:
                notes.append(
                    f"{option}: {counts[option]} announced, {counted[option]} counted from the answers"
                )
    elif counted and kind == "roll_call":
        counts = dict(counted)  # type: ignore[arg-type]
    elif announced and ("yes" in announced or "no" in announced):
        for option in ("abstain", "absent"):
            counts[option] = counts[option] if counts[option] is not None else None
    members = [
        MemberVote(
            name=name,
            vote="unclear" if answer == "present" else answer,
            person_id=person.id if person else None,
            person=person.name if person else None,
        )
        for name, answer, person in zip(heard.names, heard.answers, heard.persons, strict=True)
    ]
    confidence = 0.9 if question and result else (0.7 if result else 0.45)
    return VoteEvent(
        meeting_id=None,
        motion="",
        kind=kind,
        result=outcome,
        yes=counts["yes"],
        no=counts["no"],
        abstain=counts["abstain"],
        absent=counts["absent"],
        start=round(start, 2),
        end=round(end, 2),
        confidence=confidence,
        members=_dedupe(members),
        counted=counted,
        disagreements=notes,
    )


def result_of(stream: Stream, result: list[Cue]) -> str:
    kinds = [c.kind for c in result]
    return "failed" if "failed" in kinds and "passed" not in kinds else "passed"


def _dedupe(members: list[MemberVote]) -> list[MemberVote]:
    """A name called twice (no answer, then asked again) keeps its last answer."""
    seen: dict[str, int] = {}
    out: list[MemberVote] = []
    for m in members:
        key = str(m.person_id) if m.person_id is not None else m.name.lower()
        if key in seen:
            out[seen[key]] = m
        else:
            seen[key] = len(out)
            out.append(m)
    return out


def _motion(stream: Stream, event: VoteEvent, limit: float | None) -> str:
    """The words of the motion: the question's own "in favor of …", else the
    nearest motion made or restated before it (or, failing that, just after
    the question is put), else the words that led up to the question."""
    q = stream.index_at_time(event.start or 0.0)
    end = stream.index_at_time((event.start or 0.0) + 12.0)
    region_start = stream.index_at_time(max(limit or 0.0, (event.start or 0.0) - LOOK_BACK))
    lo, hi = stream.offset_of(q), stream.offset_of(end)
    m = IN_FAVOR_OF.search(stream.flat, lo, hi)
    if m:
        return _phrase(stream, stream.token_at(m.end()), stop_at=end)
    if event.kind == "unanimous_consent":
        # "If there is no objection, the agenda will be adopted."
        m = re.search(r"\bobjections?\b", stream.flat[lo:hi])
        if m:
            return _phrase(stream, stream.token_at(lo + m.end()) + 1, stop_at=end)
    before = list(MOTIONS.finditer(stream.flat, stream.offset_of(region_start), lo))
    after = MOTIONS.search(stream.flat, lo, hi)
    if before or after:
        at = before[-1] if before else after
        assert at is not None
        return _phrase(stream, stream.token_at(at.end()), stop_at=len(stream.tokens))
    return _phrase(stream, max(region_start, q - 20), stop_at=q)


PHRASE_ENDS = {"all", "those", "say", "please", "opposed"}


def _phrase(stream: Stream, first: int, stop_at: int, most: int = 28) -> str:
    words: list[str] = []
    for tok in stream.tokens[first : min(stop_at, first + most)]:
        if tok.norm in PHRASE_ENDS and len(words) >= 2:
            break
        words.append(tok.text)
        if tok.stop and len(words) >= 3:
            break
    text = " ".join(words).strip(" ,.;:?")
    return re.sub(r"^(?:that|to|for|the)\s+", "", text, flags=re.I) or "(motion not heard)"
