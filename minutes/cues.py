"""The words of voting: how a question is put, how a result is announced,
how members are called and answer, and how counts are said."""

from __future__ import annotations

import re

AYE = r"(?:ayes?|eyes|i's|ais|ays?)"
QUESTIONS = [
    ("voice", re.compile(r"\b(?:all|those|all those|are those|everyone|anyone)(?: who are)? in favou?r\b")),
    ("voice", re.compile(r"\b(?:all|those) opposed\b")),
    (
        "roll_call",
        re.compile(r"\b(?:call|calling|take) the (?:roll|vote)\b|\broll call\b|\bclerk will call\b"),
    ),
    ("roll_call", re.compile(r"\bpoll the (?:committee|members|body|council)\b")),
    (
        "unanimous_consent",
        re.compile(r"\b(?:if there is|if there's|is there|are there)(?: any| no)? objections?\b"),
    ),
    (
        "electronic",
        re.compile(r"\b(?:cast|lock in|record) (?:your|their) votes?\b|\bvoting is (?:now )?open\b"),
    ),
]
RESULTS = [
    ("passed", re.compile(rf"\b(?:the )?{AYE} have it\b")),
    ("failed", re.compile(r"\b(?:the )?(?:noes|nos|no's|nays) have it\b")),
    (
        "passed",
        re.compile(r"\bmotion (?:carries|carried|passes|passed|is (?:approved|adopted|carried|passed))\b"),
    ),
    (
        "failed",
        re.compile(r"\bmotion (?:fails|failed|is (?:defeated|lost|not approved)|does not (?:carry|pass))\b"),
    ),
    (
        "passed",
        re.compile(
            r"\b(?:has|have|is|are|stands?|being)(?: been)?"
            r" (?:passed|adopted|approved|confirmed|carried|agreed to)\b"
        ),
    ),
    ("passed", re.compile(r"\b(?:hearing|seeing)(?: no| none and no)? objections?\b")),
    ("passed", re.compile(r"\b(?:is|are|stand|stands) adjourned\b")),
    ("failed", re.compile(r"\b(?:has|have|is)(?: been)? (?:failed|defeated|rejected)\b")),
]
ATTENDANCE = re.compile(r"\bquorum\b|\bpresence\b|\b\w+ (?:members? )?present\b|\battendance\b")
MOTIONS = re.compile(
    r"\b(?:i (?:would like to |'d like to |want to )?(?:make a )?(?:move|motion)|motion to|moved? (?:for|to)"
    r"|moves? (?:for|to|the)|seeks?|it has been moved and seconded|moved and seconded)\b"
)
IN_FAVOR_OF = re.compile(r"\bin favou?r of (?!the motion\b)")
CONSENT = re.compile(r"\bconsent (?:agenda|calendar)\b")
TITLES = {
    "councilmember",
    "councilman",
    "councilwoman",
    "councilor",
    "councillor",
    "commissioner",
    "supervisor",
    "alderman",
    "alderwoman",
    "alderperson",
    "mayor",
    "president",
    "chair",
    "chairman",
    "chairwoman",
    "chairperson",
    "trustee",
    "director",
    "senator",
    "representative",
    "legislator",
    "selectman",
    "selectwoman",
    "freeholder",
    "tem",
    "member",
}
ANSWERS = {
    "aye": "yes",
    "ayes": "yes",
    "ay": "yes",
    "yes": "yes",
    "yeah": "yes",
    "yea": "yes",
    "yay": "yes",
    "no": "no",
    "nay": "no",
    "nope": "no",
    "abstain": "abstain",
    "abstaining": "abstain",
    "abstains": "abstain",
    "abstention": "abstain",
    "recuse": "abstain",
    "recused": "abstain",
    "excused": "absent",
    "absent": "absent",
    "here": "present",
    "present": "present",
}
NOT_NAMES = set(ANSWERS) | {
    "the",
    "a",
    "is",
    "and",
    "of",
    "thank",
    "you",
    "please",
    "madam",
    "mr",
    "mrs",
    "ms",
    "clerk",
    "sorry",
    "vice",
    "pro",
    "council",
    "city",
    "i",
    "i'm",
    "good",
    "morning",
    "afternoon",
    "evening",
    "we",
    "will",
    "now",
    "call",
    "roll",
    "on",
    "to",
    "for",
    "that",
    "okay",
    "ok",
    "so",
}
CORRECTION = {"sorry", "correction", "actually", "mean", "change", "rather"}
COUNT_WORDS = {
    "yes": {"ayes", "aye", "yeas", "yes", "affirmative", "favor", "favour", "yay", "i's", "eyes"},
    "no": {"noes", "nos", "nays", "no", "opposed", "against", "negative", "no's"},
    "abstain": {"abstentions", "abstention", "abstaining", "abstain", "abstained", "recused", "recusal"},
    "absent": {"excused", "absent", "absences"},
}
# How far apart a question and its result may be, by kind.
WINDOW = {"roll_call": 240.0, "electronic": 120.0, "voice": 45.0, "unanimous_consent": 40.0}
LOOK_BACK = 300.0
