"""A meeting's chapters, read from its transcript or taken from its agenda.

A chair runs a meeting aloud: "we're on to personnel orders", "Mr. Clerk,
please read docket 0687", "going to item 2, the consent calendar", "we
will start with public comment", "that was the last speaker", "the meeting
is adjourned". Each of those opens a chapter; cues a few seconds apart
(the chair names the order of business, then asks for the docket) are one.
Votes come from the vote detector and are chapters of their own. Where the
body publishes its agenda (Legistar), the agenda's items are the agenda
chapters and the transcript adds public comment, votes and the rest.

A public-comment period runs from the chair's call for comment to the
last "that was the last speaker" (or "I see no more hands") before the
next chapter; items the public mention while speaking open nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog.types import AgendaItem, Chapter, Segment, VoteEvent
from minutes.text import Stream, fold

# Bump when detection changes, so ``reindex`` reads every meeting again.
CHAPTER_VERSION = "chapters-1"
# Cues this close together open one chapter.
MERGE_GAP = 15.0
# The same opening mentioned again this soon is not a new chapter.
REPEAT_WINDOW = 300.0
# An item read just before its vote is that vote's chapter, not one of its own.
READ_THEN_VOTED = 20.0
TITLE_WORDS = 14
DIGITS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())}
DIGITS["oh"] = "0"

# (pattern, title, kind): the orders of business chairs name, and their usual
# words; "move to", "on to", "now at" and the like must come before them.
TRANSITION = (
    r"(?:move|moving|moved|go|going|turn|turning|on to|onto|now at|now on|proceed to|proceeding to"
    r"|order of business(?: which)? is|next item is|we are at|we're at|start with|begin with)"
)
SECTIONS: list[tuple[str, str, str]] = [
    (
        r"approv\w* (?:of )?the minutes|minutes (?:of|from) the last meeting",
        "Approval of the minutes",
        "agenda_item",
    ),
    (
        r"(?:adopt\w*|approv\w*) (?:of )?the agenda|agenda (?:will be|is|be) adopted",
        "Adoption of the agenda",
        "agenda_item",
    ),
    (
        r"communications? from (?:the |her |his )?(?:honou?rable )?(?:the )?mayor",
        "Communications from the mayor",
        "agenda_item",
    ),
    (r"reports? (?:of|and|from) (?:the )?public officers", "Reports of public officers", "agenda_item"),
    (
        r"reports? (?:of|on|from) (?:the )?committees?(?: of committees)?",
        "Reports of committees",
        "agenda_item",
    ),
    (r"matters? (?:most )?recently heard", "Matters recently heard", "agenda_item"),
    (
        r"motions?(?:,? \w+){0,2},? (?:and |in )?resolutions?",
        "Motions, orders and resolutions",
        "agenda_item",
    ),
    (r"personnel orders?", "Personnel orders", "agenda_item"),
    (r"late files?(?: matters?)?", "Late file matters", "agenda_item"),
    (r"green ?(?:sheets?|shoots?|shields?)", "Green sheets", "agenda_item"),
    (r"consent (?:agenda|calendar)", "Consent agenda", "agenda_item"),
    (r"(?:new|old|unfinished) business", "", "agenda_item"),
    (r"public hearings?", "Public hearing", "agenda_item"),
    (r"announcements?", "Announcements", "other"),
    (r"executive session", "Executive session", "agenda_item"),
]
SECTION_CUE = re.compile(
    rf"\b{TRANSITION}(?: \w+){{0,3}}? (?:the |our )?({'|'.join(f'(?:{p})' for p, _, _ in SECTIONS)})\b"
)
# Standing on their own, without "move to": these are announced, not reached.
OPENERS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"\b(?:come|came|called?|calling) (?:this |the )?(?:meeting |session )?to order\b"),
        "Call to order",
        "other",
    ),
    (re.compile(r"\bpledge of allegiance\b"), "Pledge of allegiance", "other"),
    (re.compile(r"\b(?:invocation|clergy|opening prayer|moment of silence)\b"), "Invocation", "other"),
    (re.compile(r"\bfirst order of business\b"), "", "agenda_item"),
    (
        re.compile(r"\b(?:approve|approving|approval of) the minutes\b"),
        "Approval of the minutes",
        "agenda_item",
    ),
    (
        re.compile(
            r"\b(?:we have|there is) an agenda\b|\bagenda (?:will be|is|be) adopted\b"
            r"|\badopt(?:ion of)? the agenda\b"
        ),
        "Adoption of the agenda",
        "agenda_item",
    ),
    (
        re.compile(r"\b(?:convene|into|in|an|hold an?) executive session\b"),
        "Executive session",
        "agenda_item",
    ),
    (re.compile(r"\bdoes anyone have any announcements\b|\bannouncements\b"), "Announcements", "other"),
]
ROLL_CALL = re.compile(r"\b(?:call|calling|take|taking) the roll\b|\broll call\b")
# The chair asking the clerk to read an item ("Mr. Clark, please read docket
# 0654"), or the clerk reaching one ("going to item 2", "your next item is").
READ_ITEM = re.compile(
    r"\b(?:please read|you read|will read|to read|please with"
    r"|(?:going|moving|move|go|turning|turn|on|onto) to|next item is|next is|up next is"
    r"|we(?:'re| are) (?:on|at))"
    r"(?: \w+){0,2}? (?:the )?(?:(?:agenda )?item|docket|dockets)"
    r"|\bplease read\b"
)
ITEM_NUMBER = re.compile(
    r"\b(?:item|docket|dockets|number|no|\w+)\s+(?:number\s+)?(\d{1,5}(?: \d{1,2})?)\b"
    r"(?! (?:dollars|percent|minutes))"
)
COMMENT_OPEN = re.compile(
    r"\b(?:(?:start|begin|open|opening|now at|now to|on to|onto|go to|move to|for|take|start with"
    r"|begin with|time for|next item is|item is) (?:the |our |with )?(?:public comment|open forum"
    r"|public testimony|general public comment)|(?:start|begin) public comment"
    r"|public comment (?:period )?(?:is )?(?:now )?open)\b"
)
COMMENT_CLOSE = re.compile(
    r"\b(?:(?:end|close|closes|closing|conclude[sd]?|concluding) (?:of )?(?:the )?"
    r"(?:public comment|open forum|public testimony)"
    r"|(?:that|this) (?:was|is|concludes) (?:the|our) (?:last|final) speaker|(?:the|our) last"
    r" speaker|do not see any (?:new |more |other )?hands|see no (?:more|other|new|further) hands|no (?:more"
    r"|other|further) (?:speakers|hands)|only two speakers)\b"
)
ADJOURN = re.compile(r"\badjourn(?:ed|s|ment|ing)?\b")
PURPOSE = {"to", "on", "regarding", "about", "concerning"}
ABBREVIATIONS = {"mr", "ms", "mrs", "dr", "st", "no", "jr"}
NOISE_WORDS = {"which", "is", "please", "number", "the", "mr", "ms", "mrs", "clark", "clerk", "madam", "and"}


@dataclass
class Cue:
    start: float
    token: int  # index of the cue's first token
    title: str
    kind: str
    rank: int  # which title wins when cues merge: higher is more specific
    number: str | None = None


def spoken_digits(words: list[str]) -> list[str]:
    """Runs of digits said one by one ("zero six five three") as numbers.
    A clerk reads a docket's four digits; a longer run is two dockets with
    "to" heard as "two" between ("zero six five five two zero six eight
    one" is 0655 to 0681), or one said twice."""
    out: list[str] = []
    run = ""
    for word in words + [""]:
        if word in DIGITS:
            run += DIGITS[word]
            continue
        if len(run) > 5 and len(run) % 2 and run[len(run) // 2] == "2":
            out += [run[: len(run) // 2], "to", run[len(run) // 2 + 1 :]]
        elif len(run) > 5:
            out.append(run[:4])
        elif run:
            out.append(run)
        run = ""
        if word:
            out.append(word)
    return out


def _words_after(stream: Stream, first: int, most: int = TITLE_WORDS) -> list[str]:
    words: list[str] = []
    for tok in stream.tokens[first : first + most * 2]:
        words.append(tok.norm)
        # "Mr. Clark, please read…": a title's full stop ends no sentence.
        if tok.stop and len(words) >= 4 and tok.norm not in ABBREVIATIONS or len(words) >= most * 2:
            break
    return spoken_digits(words)


def _item_title(stream: Stream, first: int) -> tuple[str, str | None]:
    """ "Docket 0654: message transmitting certain information…" from the
    words after a read cue; the number, if one was said."""
    words = _words_after(stream, first, TITLE_WORDS + 6)
    text = " ".join(words)
    m = ITEM_NUMBER.search(text)
    label = "Docket" if any(w.startswith(("dock", "duck", "dawk")) for w in words[:3]) else "Item"
    number = m.group(1).replace(" ", ".") if m else None
    rest = words[words.index(m.group(1).split()[-1]) + 1 :] if m else words
    rest = [w for w in rest if w not in NOISE_WORDS or rest.index(w) > 2][:TITLE_WORDS]
    while rest and rest[0] in NOISE_WORDS | {"a", "an", "to", "together"}:
        rest = rest[1:]
    body = " ".join(rest).strip()
    if number:
        return (f"{label} {number}: {body}" if body else f"{label} {number}"), number
    return (body[:1].upper() + body[1:]) if body else "Agenda item", None


def _purpose(stream: Stream, first: int) -> str:
    """What an executive session or a hearing is for, when the chair says
    it straight after ("…executive session to evaluate the candidates")."""
    if first >= len(stream.tokens) or stream.tokens[first].norm not in PURPOSE:
        return ""
    words = _words_after(stream, first + 1, TITLE_WORDS)
    return ": " + " ".join(words[:TITLE_WORDS]) if len(words) > 2 else ""


def _cues(stream: Stream, end_of_meeting: float) -> list[Cue]:
    flat, toks = stream.flat, stream.tokens
    found: list[Cue] = []

    def at(offset: int) -> int:
        return stream.token_at(offset)

    for m in SECTION_CUE.finditer(flat):
        phrase = m.group(1)
        title, kind = next((t, k) for p, t, k in SECTIONS if re.fullmatch(p, phrase))
        i = at(m.start(1))
        found.append(Cue(toks[i].start, i, title or phrase.capitalize(), kind, 2))
    for pattern, title, kind in OPENERS:
        for m in pattern.finditer(flat):
            i = at(m.start())
            if title:
                found.append(Cue(toks[i].start, i, title + _purpose(stream, at(m.end() + 1)), kind, 1))
            else:
                item, number = _item_title(stream, at(m.end()))
                found.append(Cue(toks[i].start, i, item, kind, 2, number))
    for m in READ_ITEM.finditer(flat):
        i = at(m.start())
        title, number = _item_title(
            stream, at(m.end()) if not m.group(0).endswith(("item", "docket", "dockets")) else i + 1
        )
        if number is None and m.group(0) == "please read":
            title, number = _item_title(stream, at(m.end()))
        found.append(Cue(toks[i].start, i, title, "agenda_item", 3 if number else 2, number))
    for m in ROLL_CALL.finditer(flat):
        i = at(m.start())
        found.append(Cue(toks[i].start, i, "Roll call", "other", 1))
    for m in COMMENT_OPEN.finditer(flat):
        i = at(m.start())
        title = "Open forum" if "forum" in m.group(0) else "Public comment"
        found.append(Cue(toks[i].start, i, title, "public_comment", 4))
    late = [m for m in ADJOURN.finditer(flat) if toks[at(m.start())].start >= 0.8 * end_of_meeting]
    if late:
        i = at(late[0].start())
        found.append(Cue(toks[i].start, i, "Adjournment", "other", 1))
    found.sort(key=lambda c: (c.start, -c.rank))
    return found


def _first_of_each(cues: list[Cue]) -> list[Cue]:
    """An opening said again ("the clergy", "this executive session") is
    still the same chapter: only its first mention in a while opens one."""
    seen: dict[str, float] = {}
    out = []
    for cue in cues:
        if cue.rank == 1 or (cue.rank == 2 and cue.number is None):
            if cue.title in seen and cue.start - seen[cue.title] < REPEAT_WINDOW:
                continue
            seen[cue.title] = cue.start
        out.append(cue)
    return out


def _merge(cues: list[Cue]) -> list[Cue]:
    """Cues close together are one chapter: the earliest start, the most
    specific title ("Personnel orders: Docket 0687 …")."""
    groups: list[list[Cue]] = []
    for cue in cues:
        last = groups[-1] if groups else []
        openings = cue.rank == 1 and all(c.rank == 1 for c in last)
        if (
            last
            and cue.start - last[0].start <= MERGE_GAP
            and not (cue.kind == "public_comment" and last[0].kind != "public_comment")
            and not (openings and cue.title not in {c.title for c in last})
        ):
            groups[-1].append(cue)
        else:
            groups.append([cue])
    out = []
    for group in groups:
        best = max(group, key=lambda c: c.rank)
        section = next((c for c in group if c.rank == 2 and c.number is None and c is not best), None)
        title = best.title
        if section and best.number and best.kind == "agenda_item":
            title = f"{section.title}: {best.title}"
        out.append(Cue(group[0].start, group[0].token, title, best.kind, best.rank, best.number))
    return out


def _comment_periods(stream: Stream, cues: list[Cue]) -> list[tuple[float, float]]:
    """Each public-comment chapter's span: to its last closing words before
    the next chapter, or to the next chapter."""
    closes = [stream.tokens[stream.token_at(m.end() - 1)].end for m in COMMENT_CLOSE.finditer(stream.flat)]
    spans = []
    for n, cue in enumerate(cues):
        if cue.kind != "public_comment":
            continue
        following = [c.start for c in cues[n + 1 :] if c.kind != "public_comment"]
        stop = following[0] if following else stream.tokens[-1].end
        inside = [t for t in closes if cue.start < t <= stop]
        spans.append((cue.start, min(stop, inside[-1] + 2.0) if inside else stop))
    return spans


def _inside(t: float, spans: list[tuple[float, float]], slack: float = 0.0) -> bool:
    return any(a - slack <= t < b + slack for a, b in spans)


def _vote_title(event: VoteEvent) -> str:
    counts = "-".join(str(c) for c in (event.yes, event.no) if c is not None)
    verdict = {"passed": "passed", "failed": "failed"}.get(event.result, "vote")
    motion = event.agenda_item or event.motion or "the question"
    words = motion.split()
    motion = " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")
    return f"Vote ({verdict}{' ' + counts if counts else ''}): {motion}"


def detect_chapters(
    segments: list[Segment],
    votes: list[VoteEvent] | None = None,
    agenda: list[AgendaItem] | None = None,
) -> list[Chapter]:
    """The meeting's chapters in order. ``votes`` are its detected (or
    reconciled) votes; ``agenda`` its published agenda, whose items then
    stand for the agenda chapters the transcript would have given."""
    stream = Stream(segments)
    votes = [v for v in votes or [] if v.start is not None]
    agenda = agenda or []
    if not stream.tokens:
        return [Chapter(None, None, item.label, "agenda_item", item.id) for item in agenda]
    first, last = stream.tokens[0].start, stream.tokens[-1].end
    cues = _cues(stream, last)
    # Roll calls that are votes are the vote's chapter.
    vote_spans = [(float(v.start or 0.0) - 5.0, float(v.end or v.start or 0.0)) for v in votes]
    cues = [c for c in cues if not (c.title == "Roll call" and _inside(c.start, vote_spans))]
    merged = _merge(_first_of_each(cues))
    # A second call for comment before anything else happens is the same period.
    merged = [
        c
        for n, c in enumerate(merged)
        if not (
            n
            and c.kind == "public_comment"
            and merged[n - 1].kind == "public_comment"
            and c.title == merged[n - 1].title
        )
    ]
    periods = _comment_periods(stream, merged)
    # Items the public mention while they speak open nothing.
    merged = [c for c in merged if c.kind == "public_comment" or not _inside(c.start, periods)]
    # An item read and voted at once is that vote's chapter.
    merged = [
        c
        for c in merged
        if not (
            c.kind == "agenda_item"
            and c.number
            and any(0 <= float(v.start or 0) - c.start <= READ_THEN_VOTED for v in votes)
            and not _opens_section(c)
        )
    ]
    chapters: list[Chapter] = []
    if agenda:
        merged = [c for c in merged if c.kind != "agenda_item"]
        chapters += _agenda_chapters(stream, agenda)
    chapters += [Chapter(c.start, None, c.title, c.kind) for c in merged]
    chapters += [Chapter(float(v.start or 0.0), v.end, _vote_title(v), "vote") for v in votes]
    placed = sorted((c for c in chapters if c.start is not None), key=lambda c: c.start or 0.0)
    if placed and placed[0].title == "Call to order" and (placed[0].start or 0.0) - first <= 2 * MERGE_GAP:
        placed[0].start = first
    elif not placed or (placed[0].start or 0.0) - first > MERGE_GAP:
        placed.insert(0, Chapter(first, None, "Call to order", "other"))
    comment_end = dict(periods)
    for n, chapter in enumerate(placed):
        following = placed[n + 1].start if n + 1 < len(placed) else last
        if chapter.kind == "public_comment" and chapter.start in comment_end:
            chapter.end = min(following or last, comment_end[chapter.start])
        elif chapter.kind == "vote":
            chapter.end = min(following or last, max(chapter.end or 0.0, chapter.start or 0.0))
        else:
            chapter.end = following
    return placed + [c for c in chapters if c.start is None]


def _opens_section(cue: Cue) -> bool:
    return ":" in cue.title and not cue.title.startswith(("Docket", "Item"))


def _agenda_chapters(stream: Stream, agenda: list[AgendaItem]) -> list[Chapter]:
    """The agenda's items, each placed where it is taken up: its known
    second (from its reconciled vote), else where its number or most of its
    title's words are heard, in agenda order; unplaced items keep no time."""
    out = []
    cursor = 0
    for item in sorted(agenda, key=lambda i: (i.seq, i.id or 0)):
        start = item.start
        if start is None:
            found = _heard(stream, item, cursor)
            if found is not None:
                cursor = found
                start = stream.tokens[found].start
        else:
            cursor = max(cursor, stream.index_at_time(start))
        out.append(Chapter(start, None, item.label, "agenda_item", item.id))
    return out


def _heard(stream: Stream, item: AgendaItem, cursor: int) -> int | None:
    """Where an agenda item is taken up, from ``cursor`` on: its number read
    after "item", "number" or "file" ("item 2", not "item 2.2"), else the
    first place most of its title's words are heard together."""
    toks = stream.tokens
    for ident in filter(None, [item.number, item.matter_file]):
        wanted = re.findall(r"[0-9]+", ident)
        if not wanted:
            continue
        for i in range(max(cursor, 1), len(toks) - len(wanted)):
            after = toks[i + len(wanted)].norm if i + len(wanted) < len(toks) else ""
            if (
                toks[i - 1].norm in ("item", "number", "file")
                and [t.norm for t in toks[i : i + len(wanted)]] == wanted
                and not after.isdigit()
            ):
                return i - 1
    words = [w for w in re.findall(r"[a-z0-9]+", fold(item.title)) if len(w) > 3][:8]
    if not words:
        return None
    for i in range(cursor, len(toks)):
        if toks[i].norm in words:
            window = {t.norm for t in toks[i : i + 40]}
            if sum(w in window for w in words) >= max(2, 0.6 * len(words)):
                return i
    return None
