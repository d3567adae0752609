"""Step 7a: which candidate sentences answer the question, as feature scores and a tiny linear model.

The topical sentence of a retrieved passage is close to any question about its subject; the answering
one adds what the question asks for. So besides the sentence's cosine to the question, the reader looks
at the question's *focus* (its words that the article does not repeat everywhere), at whether the
sentence holds the kind of thing asked for (a number for "how many", a date for "when", a cause for
"why"...), at the sentence's neighbours, and at the sentence's vector with its article's mean taken away
(what the sentence says beyond the article's shared topic). A logistic regression trained on the dev
split of the evaluation set (`benchmarks/train_reader.py`, weights in `reader_weights.json`) weighs the
features it names; `FEATURES` lists every feature the reader can compute, and `docs/answers.md` gives the
measured effect of each (several were tried and left out of the model).

The thresholds that decide from these log-odds (and the relevance test before them) were placed for
these weights, per embedder, so they are stored with them: `reader_weights.json`'s `thresholds` holds a
`Calibration` for each embedder's key (its FOOTNOTE_EMBEDDER name). JSON has no infinity: there, null
stands for -inf, a threshold not calibrated for that embedder (its check is off).
"""

from __future__ import annotations

import bisect
import json
import math
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields, replace
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from index.errors import CalibrationError
from index.ingest.chunking import word_count
from index.languages import ENGLISH
from index.query.lexical import WORD_LIST_LANGUAGES, LexicalIndex, QuestionWords, zipf
from index.query.params import AnswerParams
from index.query.retrieval import Retrieval
from index.storage.store import StoredIndex
from index.types import Passage, Reason, Unit, Vectors

if TYPE_CHECKING:
    from index.query.reader_model import CrossReader

FEATURES = (
    "cosine",
    "centred",
    "context",
    "coverage",
    "focus",
    "answer_type",
    "passage",
    "lead",
    "novelty",
    "length",
)
Matrix = NDArray[np.float64]
# Every pattern here reads article text or a question, both hostile: `re` holds the GIL, so one that
# backtracks quadratically freezes the bot. Repetitions are bounded (tests/test_patterns.py holds the
# property) and a check reads at most CHECK_CHARS of a sentence.
_DIGITS = 30  # characters of one written number after its first digit ("1,234,567.89")
CHECK_CHARS = 2_000
_SHARE_PRIOR = 3  # sentences added to every article when measuring how widely it repeats a word

_NUMBER_QUESTION = re.compile(
    r"\bhow (many|much|long|far|old|big|large|often|fast|high|deep|tall)\b"
    r"|\bwhat (number|percentage|proportion|share|amount|price|cost|toll|figure|age)\b",
    re.I,
)
_QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("number", _NUMBER_QUESTION),
    ("date", re.compile(r"\bwhen\b|\bwhat (year|time|day|date|month)\b|\bsince when\b", re.I)),
    ("person", re.compile(r"\bwho(m|se)?\b|\bwhich (person|people|official|man|woman|leader|group)\b", re.I)),
    (
        "reason",
        re.compile(r"\bwhy\b|\bwhat (caused|led to|prompted|reason|triggered)\b|\bfor what reason\b", re.I),
    ),
    ("place", re.compile(r"\bwhere\b|\bwhich (country|city|town|region|area|place|state)\b", re.I)),
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty"
    r"|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|half|per cent|percent"
)
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|yesterday|today|tomorrow|tonight|overnight|last (week|month|year|night)|next (week|month|year)"
)
_CUES: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I),
    "date": re.compile(rf"\b({_MONTHS})\b|\b(1[89]|20)\d\d\b|\b\d{{1,2}}[:.]\d\d\b|\b(am|pm)\b", re.I),
    "person": re.compile(
        r"(?<=\w )[A-Z][a-z]+ [A-Z][a-z]+|\b(Mr|Mrs|Ms|Dr|President|Prime Minister|Minister|spokesman|"
        r"spokeswoman|spokesperson|chief|leader|officials?|police|Senator)\b"
    ),
    "reason": re.compile(
        r"\b(because|due to|as a result|result of|since|reason|reasons|caused|after|following|"
        r"led to|blamed|so that|in order to|motivation|amid|over)\b",
        re.I,
    ),
    "place": re.compile(r"\b(in|at|near|from|to) (the )?[A-Z][a-z]+"),
}


_UNITS_OF_TIME_OR_LENGTH = (
    r"years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|century|centuries|nights?|"
    r"km|kilomet(?:re|er)s?|metres?|meters?|miles?|feet|foot|cm|centimet(?:re|er)s?|m"
)
# "What is the name of the <role>...?", "Who was the <role>...?": answered by a person's name near the role.
_NAME_QUESTION = re.compile(
    r"\bwhat(?:['’]s| is| was| are| were) (?:the )?names? of "
    r"(?:the |a |an |this |that |his |her |their |its )?(?P<role>[^?]{0,200})"
    r"|\bwho(?:['’]s| is| was| are| were) (?:the|a|an|this|that|his|her|their|its) (?P<role_who>[^?]{0,200})",
    re.I,
)
# What has a name that is not a person's: "What is the name of the airline / ship / operation...?"
_THINGS = frozenset(
    {
        "airline",
        "company",
        "firm",
        "business",
        "group",
        "party",
        "ship",
        "boat",
        "yacht",
        "vessel",
        "aircraft",
    }
    | {"plane", "helicopter", "car", "town", "city", "village", "suburb", "street", "road", "operation"}
    | {"bill", "law", "act", "report", "book", "film", "movie", "song", "album", "band", "team", "club"}
    | {"horse", "dog", "drug", "virus", "disease", "organisation", "organization", "agency", "department"}
    | {"ministry", "program", "programme", "scheme", "project", "fund", "hospital", "school", "university"}
    | {"centre", "center", "station", "prison", "camp", "hotel", "product", "brand", "event", "race"}
    | {"festival", "campaign", "plan", "policy", "treaty", "agreement", "website", "newspaper", "magazine"}
    | {"channel", "network", "bank", "union", "association", "council", "committee", "commission", "court"}
    | {"tribunal", "movement", "unit", "force", "army", "building", "bridge", "river", "mountain", "island"}
    | {"area", "region", "district", "state", "province", "country", "nation", "species", "storm"}
    | {"cyclone", "fire", "mission", "service", "show", "series", "game", "competition", "award", "prize"}
    | {"stadium", "ground", "venue", "shop", "store", "factory", "plant", "mine", "system", "missile"}
    | {"weapon", "technology", "software", "device", "institute", "foundation", "church", "mosque", "port"}
)
_ROLE_ENDS = frozenset(
    {"who", "whom", "whose", "that", "which", "of", "in", "at", "on", "for", "to", "with", "by", "from"}
    | {"when", "where", "is", "was", "are", "were", "did", "does", "do", "has", "had", "have", "and", "or"}
    | {"during"}
)
_DETERMINERS = frozenset({"the", "a", "an", "his", "her", "their", "its", "this", "that"})
_CLAUSE_WORDS = _ROLE_ENDS | _DETERMINERS  # after a participle they open a clause: "accused of", "killed the"
_MAX_ROLE_WORDS = 4
_TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "senator", "judge"}
    | {"justice", "father", "reverend", "rev", "captain", "capt", "colonel", "col", "general", "gen"}
    | {"sergeant", "sgt", "constable", "inspector", "superintendent", "commissioner", "detective"}
    | {"commander", "sheikh", "mullah", "maulana"}
)
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'’.-]*")
# Lowercase words inside a name: "Osama bin Laden", "Charles de Gaulle".
_PARTICLES = frozenset(
    {"bin", "ibn", "al", "el", "van", "von", "de", "der", "den", "da", "di", "du", "del", "la", "le"}
)
_POSSESSIVE = re.compile(r"['’]s$")
_SURNAME_ZIPF = 4.0  # a surname known by rarity: rarer than this in the language at large ("Hospital" is not)
_GIVEN_NAME_LOCALES = ("en_US", "en_GB", "en_IE")
_SLOT_QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("number", _NUMBER_QUESTION),
    (
        "money",
        re.compile(
            r"\bhow much\b[^?]{0,200}?\b(money|dollars?|cost|costs|pay|paid|pays|earn|earns|earned|salary|"
            r"salaries|"
            r"price|worth|fund|funding|spend|spent|budget|fees?|contribute|contributes|provide|offer|offering)\b"
            r"|\bwhat\b[^?]{0,200}?\b(dollar|money) (value|amount)\b"
            r"|\bwhat (is|was|were|are) the (total )?(cost|price|salary)\b",
            re.I,
        ),
    ),
    ("age", re.compile(r"\bhow old\b|\b(what|which) age\b", re.I)),
    ("duration", re.compile(r"\bhow long\b", re.I)),
    ("share", re.compile(r"\bwhat (percentage|proportion|share|per ?cent)\b|\bhow many per ?cent\b", re.I)),
    ("name", _NAME_QUESTION),
)
_SLOT_PATTERNS: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d(?:[\d,.]{{0,{_DIGITS}}}\d)?|\b({_NUMBER_WORDS})\b", re.I),
    "money": re.compile(
        rf"[$€£]\s?\d|\b\d[\d,.]{{0,{_DIGITS}}}\s?(m|bn|million|billion|trillion)\b"
        r"|\b(dollars?|cents|rupiah|pounds|euros?|yen)\b",
        re.I,
    ),
    "age": re.compile(
        rf"\b(\d{{1,3}}|{_NUMBER_WORDS})[- ]years?[- ]old\b|\baged? \d{{1,3}}\b|, \d{{1,3}}, "
        r"|\bage of \d{1,3}\b|\b(teenage|teenager|toddler|infant|baby|newborn|elderly"
        r"|in (his|her|their) (teens|twenties|thirties|forties|fifties|sixties|seventies|eighties"
        r"|nineties))\b",
        re.I,
    ),
    "duration": re.compile(
        rf"(\d[\d,.]{{0,{_DIGITS}}}|\b(?:{_NUMBER_WORDS}|a|an|several|a few|many))[- ](?:\w{{1,40}}[- ])?"
        rf"(?:{_UNITS_OF_TIME_OR_LENGTH})\b"
        r"|\bsince (the )?(\d{4}|\w+ \d{4}|january|february|march|april|may|june|july|august|september|"
        r"october|november|december|last|early|late)\b",
        re.I,
    ),
    "share": re.compile(
        r"%|\bper ?cent\b|\bpercent\b|\b(half|third|quarter|majority|minority)\b|\bone in \w+\b", re.I
    ),
}
# "How many <noun>": a number answers only if it counts that noun (or a word sharing its stem) nearby;
# everyday nouns ("people", "times", "years") are often left out of the answer ("killing 25"), so any
# number answers them.
_COUNTED = re.compile(
    r"\bhow many (?:(?:more|other|of|the|these|those|different|new|extra|additional|individual|separate)\s+)*"
    r"([^\W\d_][\w'’-]*(?: [^\W\d_][\w'’-]*)?)",
    re.I,
)
_CLAUSE_BREAK = re.compile(r"[,;:]|\band\b")
# What may come before a clause's question words ("And roughly how many...", "For how long...").
_LEAD_IN = re.compile(
    r"\s*(?:(?:and|but|so|then|roughly|about|approximately|exactly|precisely|just|altogether|overall|"
    r"in total|at|by|for|in|to|of|on)\s+)*",
    re.I,
)
_NOT_NOUNS = frozenset(
    {"did", "do", "does", "is", "are", "was", "were", "have", "has", "had", "will", "would", "can", "could"}
    | {"should", "may", "might", "of", "in", "at", "on", "to", "for"}
)
_EVERYDAY_ZIPF = 5.5
_COUNT_WINDOW_AFTER = 4  # words after a number naming what it counts ("140 million people of Pakistan")
_COUNT_WINDOW_BEFORE = 3  # words before it ("detainees numbering 300")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


@dataclass(frozen=True, slots=True)
class Calibration:
    """The thresholds placed for one embedder with the shipped weights (docs/tuning.md says how each was
    placed; `AnswerParams` has their meaning). Cosine scales differ between models, and so do the
    log-odds their sentences get, so each embedder has its own; -inf: not calibrated, the check is off."""

    embedder: str
    # Relevance (cosine + `abstain_lexical_weight` x word coverage) below which a passage is not read.
    abstain_threshold: float
    abstain_lexical_weight: float
    # How much lower a question's cosine to a passage in another language runs (0: one language only).
    crosslingual_gap: float
    # The log-odds the best sentence must reach to be quoted, and that a sentence stating the number,
    # sum or name asked for must reach.
    answer_threshold: float
    slot_threshold: float

    @classmethod
    def from_json(cls, embedder: str, data: Mapping[str, Any]) -> Calibration:
        """One embedder's entry of `reader_weights.json`'s `thresholds` (null: -inf)."""
        missing = [name for name in THRESHOLDS if name not in data]
        if missing:
            raise CalibrationError(
                f"the reader's thresholds for the embedder {embedder!r} lack {', '.join(missing)}; "
                f"place them (docs/tuning.md) in {WEIGHTS_FILE}"
            )
        return cls(embedder, *(-math.inf if data[n] is None else float(data[n]) for n in THRESHOLDS))

    def to_json(self) -> dict[str, float | None]:
        """The JSON object `from_json` reads: the five numbers, -inf written as null."""
        return {name: _finite_or_none(getattr(self, name)) for name in THRESHOLDS}


THRESHOLDS = tuple(f.name for f in fields(Calibration) if f.name != "embedder")
"""The names of the numbers a `Calibration` holds, in the order `reader_weights.json` writes them."""
WEIGHTS_FILE = "index/query/reader_weights.json"


def _finite_or_none(value: float) -> float | None:
    return None if value == -math.inf else value


@dataclass(frozen=True, slots=True)
class ReaderWeights:
    """A logistic regression over some of `FEATURES` (`names`): mean and scale standardise, then weights
    and bias; with the thresholds calibrated for them, by embedder key (`thresholds`)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    thresholds: Mapping[str, Calibration] = field(default_factory=dict)

    @classmethod
    def load(cls, data: Mapping[str, Any] | None = None) -> ReaderWeights:
        """The shipped weights (or the given JSON object), checked against `FEATURES`."""
        if data is None:
            data = json.loads((files("index.query") / "reader_weights.json").read_text(encoding="utf-8"))
        names = tuple(str(n) for n in data["features"])
        unknown = [n for n in names if n not in FEATURES]
        if unknown:
            raise ValueError(f"reader weights name unknown features {unknown}; known: {FEATURES}")
        return cls(
            names,
            tuple(float(v) for v in data["mean"]),
            tuple(float(v) for v in data["scale"]),
            tuple(float(v) for v in data["weights"]),
            float(data["bias"]),
            {
                str(key): Calibration.from_json(str(key), entry)
                for key, entry in data.get("thresholds", {}).items()
            },
        )

    def calibration(self, embedder: str) -> Calibration:
        """The thresholds calibrated for an embedder, by its key (`Embedder.key`, its FOOTNOTE_EMBEDDER
        name)."""
        try:
            return self.thresholds[embedder]
        except KeyError:
            known = ", ".join(self.thresholds) or "none"
            raise CalibrationError(
                f"no thresholds are calibrated for the embedder {embedder!r} (calibrated: {known}); "
                f"place them (docs/tuning.md) in {WEIGHTS_FILE} or choose another FOOTNOTE_EMBEDDER"
            ) from None

    def to_json(self) -> dict[str, object]:
        """The JSON object `load` reads."""
        return {
            "features": list(self.names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "thresholds": {key: c.to_json() for key, c in self.thresholds.items()},
        }

    def columns(self, features: Matrix) -> Matrix:
        """The model's features out of a full `FEATURES` matrix."""
        return features[:, [FEATURES.index(name) for name in self.names]]

    def contributions(self, features: Matrix) -> Matrix:
        """Each model feature's share of each candidate's logit (from a full `FEATURES` matrix)."""
        standard = (self.columns(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(standard * np.asarray(self.weights), dtype=np.float64)

    def logits(self, features: Matrix) -> NDArray[np.float64]:
        """The model's log-odds that each candidate answers."""
        return np.asarray(self.contributions(features).sum(axis=1) + self.bias, dtype=np.float64)


def question_types(question: str) -> tuple[str, ...]:
    """The kinds of answer a question asks for (number, date, person, reason, place); may be empty."""
    return tuple(kind for kind, pattern in _QUESTION_TYPES if pattern.search(question))


def has_cue(kind: str, text: str) -> bool:
    """Whether a sentence holds the kind of answer (a number, a date...)."""
    return bool(_CUES[kind].search(text[:CHECK_CHARS]))


def slot_kinds(question: str) -> tuple[str, ...]:
    """The kinds of answer that a sentence must *state* to answer the question: a number ("how
    many...?"), a sum of money ("how much did they pay?"), an age, a length of time or distance ("how
    long"), a share ("what percentage"). Only a question (or one of its clauses) that *begins* by asking
    for it counts: "Who will decide how many are hired?" asks for a name. A person's name is asked for by
    "what is the name of / who was the <role>" when the role is a person's ("the airline" is not). Other
    "who" questions, dates, reasons and places are left out: their answers are worded too many ways
    ("Polish media", "after the Test", "soon") to check by pattern."""
    clauses = [c for c in _CLAUSE_BREAK.split(question) if c.strip()]
    return tuple(
        kind
        for kind, pattern in _SLOT_QUESTIONS
        if any(
            (m := pattern.search(c))
            and _LEAD_IN.fullmatch(c[: m.start()])
            and (kind != "name" or asks_for_person(c))
            for c in clauses
        )
    )


@lru_cache(maxsize=256)
def counted_nouns(question: str) -> frozenset[str]:
    """What a "how many" question counts (its next two words, "Ansett workers", less everyday ones like
    "work"); none when it names nothing or begins with an everyday noun ("people", "times")."""
    match = _COUNTED.search(question)
    if match is None:
        return frozenset()
    words = []
    for word in match.group(1).lower().split()[:2]:
        if word in _NOT_NOUNS:
            break
        words.append(word)
    if not words or _everyday(words[0]):
        return frozenset()
    return frozenset(word for word in words if not _everyday(word))


def fills_slot(kind: str, text: str, question: str, context: str = "") -> bool:
    """Whether a sentence holds a `kind` (a number, a sum of money...) that the question itself does not
    already contain: an answer adds what was asked for, a restatement does not. A "how many <noun>"
    question needs a number next to that noun (or a word of the same stem); a name question a person
    named with the role asked about in the sentence or in `context` (its neighbouring sentences)."""
    text, context = text[:CHECK_CHARS], context[: 2 * CHECK_CHARS]
    if kind == "name":
        return _names_role(text, question, context)
    asked = question.lower()
    found = [m for m in _SLOT_PATTERNS[kind].finditer(text) if m.group().lower() not in asked]
    nouns = counted_nouns(question) if kind == "number" else frozenset()
    if not nouns:
        return bool(found)
    return any(_counts(text, m, nouns) for m in found)


@lru_cache(maxsize=256)
def _role_words(question: str) -> tuple[str, ...]:
    """The words after "the name of" / "who was the", up to a function word or a participle that opens
    a clause ("the senior midwife who..." -> senior, midwife; "the teacher accused of..." -> teacher),
    after a possessive ("Sir Peter Blake's mother" -> mother)."""
    match = _NAME_QUESTION.search(question)
    if match is None:
        return ()
    asked_about = match.group("role") or match.group("role_who") or ""
    tokens = [t.strip(",.;:'’\"") for t in asked_about.split()]
    words: list[str] = []
    for i, token in enumerate(tokens):
        word = token.lower()
        following = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if not word or not word[0].isalpha():
            continue  # a dash, a stray quote, an age ("the 54-year-old pilot": the pilot is the role)
        if _POSSESSIVE.search(word):
            words = []
            continue
        opens_clause = (
            words and word.endswith(("ed", "ing")) and (following in _CLAUSE_WORDS or not following)
        )
        # A name followed by a verb starts another clause: "the airline Qantas has launched".
        named_after = words and token[0].isupper() and following in _ROLE_ENDS
        if word in _ROLE_ENDS or opens_clause or named_after or len(words) == _MAX_ROLE_WORDS:
            break
        words.append(token if token[0].isupper() else word)
    return tuple(word.lower() for word in words)


def named_roles(question: str) -> frozenset[str]:
    """Who a name question asks about (`_role_words`), less everyday words ("man")."""
    return frozenset(word for word in _role_words(question) if not _everyday(word))


def asks_for_person(question: str) -> bool:
    """Whether a name question's role is a person's: not "the airline", "the operation", "the ships"
    (the role's last word that is not a participle, singular or plural, is not one of `_THINGS`)."""
    nouns = [w for w in _role_words(question) if not w.endswith(("ed", "ing"))]
    if not nouns:
        return True
    head = nouns[-1]
    return not {head, head.removesuffix("s"), head.removesuffix("es")} & _THINGS


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's name in a sentence: the span of its capitalised run, titles and roles included ("Chief
    Inspector Bronwyn Killmier"), and the run's last words that name the person (bronwyn, killmier)."""

    start: int
    end: int
    name: tuple[str, ...]


def person_names(text: str) -> list[PersonName]:
    """What reads as a person's name: the capitalised words after a title ("Mr Howard", "Dr Aamer Sultan"),
    from a given name on ("Deputy Premier Paul Lennon"), or two capitalised words of which the last is
    rare in the language at large ("Brett Dempsey"; not "Wollongong Hospital")."""
    found = []
    for start, end, run in _capitalised_runs(text):
        words = tuple(_POSSESSIVE.sub("", w.strip(".")).strip("'’") for w in run)
        lower = tuple(w.lower() for w in words)
        first = next((i + 1 for i, w in enumerate(lower[:-1]) if w in _TITLES), None)
        if first is None:
            first = next((i for i, w in enumerate(words[:-1]) if w in _given_names()), None)
        if first is None and len(words) >= 2 and zipf(lower[-1]) < _SURNAME_ZIPF and not _everyday(lower[0]):
            first = len(words) - 2
        if first is not None:
            found.append(PersonName(start, end, lower[first:]))
    return found


def _capitalised_runs(text: str) -> list[tuple[int, int, list[str]]]:
    """Runs of capitalised words (any script: "Émile Zola") one space apart, with name particles
    inside them ("Osama bin Laden"): (start, end, words)."""
    runs: list[tuple[int, int, list[str]]] = []
    current: list[re.Match[str]] = []

    def close() -> None:
        while current and not current[-1].group()[0].isupper():
            current.pop()  # a particle ends no name
        if current:
            runs.append((current[0].start(), current[-1].end(), [m.group() for m in current]))
        current.clear()

    for match in _NAME_TOKEN.finditer(text):
        word = match.group()
        joined = (
            bool(current)
            and text[current[-1].end() : match.start()] == " "
            and _continues(current[-1].group())
        )
        if word[0].isupper() or (joined and word in _PARTICLES):
            if current and not joined:
                close()
            current.append(match)
        else:
            close()
    close()
    return runs


def _continues(word: str) -> bool:
    """Whether a name may go on after `word`: not after a full stop, unless it marks an initial or a
    title ("A. B. Smith", "Mr. Smith")."""
    return not word.endswith(".") or len(word) == 2 or word[:-1].lower() in _TITLES


def load_word_lists() -> None:
    """Load the word-frequency and given-name lists now rather than on the first question that needs them."""
    zipf("the")
    _given_names()


@lru_cache(maxsize=1)
def _given_names() -> frozenset[str]:
    """English-speaking countries' given names (Faker's lists: "Joyce", "Bronwyn"; not every short form:
    "Ron" and "Dick" are missing)."""
    from importlib import import_module

    names: set[str] = set()
    for locale in _GIVEN_NAME_LOCALES:
        provider = import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female"):
            names.update(getattr(provider, attribute, ()) or ())
    return frozenset(names)


def _names_role(text: str, question: str, context: str) -> bool:
    """Whether `text` names a person the question does not, and it or its neighbouring sentences
    (`context`) name the role asked about ("Chief Inspector Bronwyn Killmier says..."; "...said Ken
    McReddie." after a sentence about "his agent")."""
    asked = {_POSSESSIVE.sub("", w.lower()) for w in _WORD.findall(question)}
    roles = named_roles(question)
    around = [w.lower() for w in _WORD.findall(f"{text} {context}")]
    has_role = not roles or any(_same_stem(word, role) for word in around for role in roles)
    return has_role and any(set(person.name) - asked for person in person_names(text))


def _counts(text: str, number: re.Match[str], nouns: frozenset[str]) -> bool:
    """Whether a word near `number` in `text` shares its stem with one of `nouns`."""
    before = _WORD.findall(text[: number.start()])[-_COUNT_WINDOW_BEFORE:]
    after = _WORD.findall(text[number.end() :])[:_COUNT_WINDOW_AFTER]
    return any(_same_stem(word.lower(), noun) for word in (*before, *after) for noun in nouns)


def _same_stem(a: str, b: str) -> bool:
    """A crude, language-free stem match: equal, or sharing their first five letters ("midwives" and
    "midwife", "Pakistan" and "Pakistanis")."""
    if a == b:
        return True
    shorter = min(len(a), len(b))
    need = 5 if shorter > 5 else shorter - 1
    return need >= 3 and a[:need] == b[:need]


def _everyday(word: str) -> bool:
    return zipf(word) >= _EVERYDAY_ZIPF


# A word of the question that the nearest articles lack explains an abstention only when it names
# something (a name, or a word rarer than everyday words like "brief" or "actually").
_CONTENT_ZIPF = 4.0
# The name `--explain` gives the follow-up bonus of a sentence next to the previous answer's quotes.
NEAR_PREVIOUS = "near_previous_answer"
# An age, a length of time or distance and a share are all reported as "the number asked for".
_SLOT_REPORTED = {"age": "number", "duration": "number", "share": "number"}

Why = tuple[tuple[str, float, float], ...]


@dataclass(frozen=True, slots=True)
class Question:
    """A question as the reader sees it: its text, its vector, its analysed words with their weights."""

    text: str
    vector: Vectors
    weights: dict[str, float]
    language: str = ENGLISH


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reader found in the retrieved passages, for the composer to decide on (answer.py).

    The reading stops at the first thing that settles the answer: a question in a script the model cannot
    read (`foreign`), names no article has (`words.unknown`, when `names_judged`), no relevant passage.
    Otherwise: `scored` holds each candidate unit's log-odds of answering with its rule features (for the
    candidates the trained model read, its blended log-odds; `by_model` then holds its own), `explained`
    each candidate's rule features as (name, value, part of the log-odds), `quotable` the candidates long
    enough to quote, `siblings` the lists among them that directly follow one another (parallel answers,
    quoted together), `near` those next to the previous answer's quotes. The checks' findings: `unfilled`,
    the kind of answer asked for that no good enough sentence states; `speaker_docs`, the candidates'
    articles that name the speaker asked about; `no_answer`, why no sentence answers, should none."""

    question: Question
    words: QuestionWords
    retrieval: Retrieval
    began: float
    _: KW_ONLY
    follows: bool = False
    foreign: bool = False
    names_judged: bool = True
    relevant: tuple[Passage, ...] = ()
    scored: dict[int, tuple[float, Matrix]] = field(default_factory=dict)
    by_model: dict[int, float] = field(default_factory=dict)
    explained: dict[int, Why] = field(default_factory=dict)
    quotable: frozenset[int] = frozenset()
    siblings: dict[int, tuple[int, ...]] = field(default_factory=dict)
    near: frozenset[int] = frozenset()
    checks: bool = True
    unfilled: str | None = None
    speaker_docs: frozenset[str] = frozenset()
    no_answer: Reason = field(default_factory=lambda: Reason("no_answer"))

    @property
    def read_by_model(self) -> bool:
        return bool(self.by_model)

    @property
    def unknown(self) -> tuple[str, ...]:
        """The question's names that no article has, when they can be judged."""
        return self.words.unknown if self.names_judged else ()


class Reader:
    """The reading step over one loaded index: which candidate sentences answer the question, and what
    the answer's checks need to know (article means, word sets and shares are cached)."""

    def __init__(self, stored: StoredIndex, lexical: LexicalIndex) -> None:
        self.stored = stored
        self.lexical = lexical
        self._unit_words: dict[int, frozenset[str]] = {}
        self._doc_share: dict[str, dict[str, float]] = {}
        self._doc_rows: dict[str, list[int]] = {}
        for row, unit in sorted(enumerate(stored.units), key=lambda p: (p[1].doc_id, p[1].start)):
            self._doc_rows.setdefault(unit.doc_id, []).append(row)
        self._doc_starts = {
            doc_id: [stored.units[row].start for row in rows] for doc_id, rows in self._doc_rows.items()
        }
        self._position = {row: i for rows in self._doc_rows.values() for i, row in enumerate(rows)}
        self._means: dict[str, Vectors] = {}
        self._passage_words: dict[int, frozenset[str]] = {}

    def read(
        self,
        words: QuestionWords,
        retrieval: Retrieval,
        params: AnswerParams,
        weights: ReaderWeights,
        *,
        own: Vectors | None = None,
        quoted: Collection[tuple[str, int]] = (),
        follows: bool = False,
        foreign: bool = False,
        model: CrossReader | None = None,
    ) -> Reading:
        """Read the retrieved passages for a question (`words`, as the lexical step read it).

        For a follow-up (`follows`), the passages were found with its predecessor and `own` is the
        follow-up's own vector: candidates are judged by both, and those next to the previous answer's
        quotes (`quoted`: doc_id and start) get `follow_up_near_bonus`. `foreign`: the embedder cannot
        read the question's script, so nothing is read. `model`: the trained reader, which reads the
        rules' best candidates (English questions over English articles only).
        """
        began = time.perf_counter()
        vector = retrieval.query_vector[0]
        if own is not None:
            vector = (vector + own[0]) / 2.0
        query = Question(words.text, vector, words.weights, words.language)
        if foreign:
            return Reading(query, words, retrieval, began, follows=follows, foreign=True)
        names = self._names_judged(query, retrieval, params)
        if names and words.unknown:
            return Reading(query, words, retrieval, began, follows=follows, names_judged=names)
        relevant = tuple(self.relevant(query, retrieval, params))
        if not relevant:
            return Reading(query, words, retrieval, began, follows=follows, names_judged=names)
        # The model's first cut weighs every feature; the rules alone need only their own (a follow-up or
        # another language is never read by the model, so its first cut is not needed there).
        may_read = query.language == ENGLISH and (not follows or params.model_follow_ups)
        first_cut = model.first_cut if model is not None and may_read else None
        rows, features = self.candidates(query, relevant, params, None if first_cut else weights.names)
        logits = weights.logits(features)
        bonus = params.follow_up_near_bonus if follows else 0.0
        nearby = self.near_quotes(quoted, params.follow_up_near_sentences) if bonus else frozenset()
        scored = {
            row: (float(logit) + (bonus if row in nearby else 0.0), features[i])
            for i, (row, logit) in enumerate(zip(rows, logits, strict=True))
        }
        parts, used = weights.contributions(features), weights.columns(features)
        explained = {
            row: tuple(
                (name, float(v), float(c))
                for name, v, c in zip(weights.names, used[i], parts[i], strict=True)
            )
            + (((NEAR_PREVIOUS, 1.0, bonus),) if row in nearby else ())
            for i, row in enumerate(rows)
        }
        quotable = frozenset(row for row in rows if self.quotable(row, params))
        siblings = {
            row: together
            for row in rows
            if (
                together := tuple(
                    n for n in (row - 1, row + 1) if n in scored and self._adjacent_lists(row, n)
                )
            )
        }
        in_language = self._in_language(query, scored)
        read = (
            model is not None
            and query.language == ENGLISH
            and (not follows or params.model_follow_ups)
            and in_language
        )
        checks = not read or params.model_checks
        judged = checks and not follows and in_language
        speaker = words.speaker
        docs = dict.fromkeys(self.stored.units[row].doc_id for row in rows)
        by_model: dict[int, float] = {}
        reading = Reading(
            query,
            words,
            retrieval,
            began,
            follows=follows,
            names_judged=names,
            relevant=relevant,
            scored=scored,
            explained=explained,
            quotable=quotable,
            siblings=siblings,
            near=nearby,
            checks=checks,
            unfilled=self._unfilled_slot(query.text, scored, quotable, params) if judged else None,
            speaker_docs=frozenset(
                doc for doc in docs if speaker and all(stem in self.doc_share(doc) for stem in speaker[1])
            ),
            no_answer=self._no_answer(query, words, relevant, names=names),
        )
        if read:
            assert model is not None
            scored, by_model = self._read(model, words.searched.text, scored, quotable, siblings, params)
            return replace(reading, scored=scored, by_model=by_model)
        return reading

    def _read(
        self,
        model: CrossReader,
        question: str,
        scored: dict[int, tuple[float, Matrix]],
        quotable: frozenset[int],
        siblings: dict[int, tuple[int, ...]],
        params: AnswerParams,
    ) -> tuple[dict[int, tuple[float, Matrix]], dict[int, float]]:
        """The trained reader's calibrated log-odds for the best `model_candidates` candidates by its first
        cut (the others are not read: reading is the costly step; without a first cut, the rules' best),
        plus `model_rules_weight` times the rules' own log-odds above their answer threshold. Also the
        model's own log-odds, for `--explain`. A list read brings its sibling lists to be read too: they
        are parallel answers, quoted together."""
        order = {row: value for row, (value, _) in scored.items()}
        if model.first_cut is not None:
            rows = list(scored)
            cut = model.first_cut.logits(np.vstack([scored[row][1] for row in rows]), FEATURES)
            order = dict(zip(rows, cut.tolist(), strict=True))
        ranked = sorted((row for row in scored if row in quotable), key=lambda row: -order[row])[
            : params.model_candidates
        ]
        ranked += [n for row in list(ranked) for n in siblings.get(row, ()) if n not in ranked]
        probabilities = model.probabilities(question, [self.stored.units[row].text for row in ranked])
        weight = params.model_rules_weight
        offset = params.answer_threshold if math.isfinite(params.answer_threshold) else 0.0
        own = {row: logit(float(p)) for row, p in zip(ranked, probabilities, strict=True)}
        blended = {row: (own[row] + weight * (scored[row][0] - offset), scored[row][1]) for row in ranked}
        return blended, own

    def relevant(self, query: Question, retrieval: Retrieval, params: AnswerParams) -> list[Passage]:
        """The best passages that reach the abstention threshold (none: the question is off-topic)."""
        return [
            p
            for p in retrieval.passages[: params.answer_passages]
            if self._nearness(query, p, params)
            + params.abstain_lexical_weight * self._coverage(query, self._chunk_terms(p))
            >= params.abstain_threshold
        ]

    def candidates(
        self, query: Question, relevant: Sequence[Passage], params: AnswerParams, needed: Sequence[str] | None
    ) -> tuple[list[int], Matrix]:
        """The units inside the relevant passages, with the reader's feature matrix (`needed`: the
        features to compute; None: all of them)."""
        passage_of: dict[int, tuple[int, float]] = {}
        for passage in relevant:
            for row in self._units_in(passage):
                passage_of.setdefault(row, (passage.rank, passage.dense))
        rows = sorted(passage_of)
        features = self.features(
            query.text, query.vector, query.weights, rows, passage_of, params.cosine_offset, needed
        )
        return rows, features

    def quotable(self, row: int, params: AnswerParams) -> bool:
        """Whether a unit can be a quote: a list, or a sentence of at least `min_quote_words` words (a
        run-in heading, "About Russian base in Belarus.", names a topic, it does not answer)."""
        unit = self.stored.units[row]
        return unit.kind == "list" or word_count(unit.text) >= params.min_quote_words

    def near_quotes(self, quotes: Collection[tuple[str, int]], reach: int) -> frozenset[int]:
        """The units up to `reach` before or after each quote (doc_id, start) in its article, less the
        quoted units themselves (a follow-up asks for something new)."""
        near: set[int] = set()
        quoted: set[int] = set()
        for doc_id, start in quotes:
            at = self._place(doc_id, start)
            if at is None:
                continue
            rows = self._doc_rows[doc_id]
            quoted.add(rows[at])
            near.update(rows[max(0, at - reach) : at + reach + 1])
        return frozenset(near - quoted)

    def row_at(self, doc_id: str, start: int) -> int | None:
        """The unit of an article that starts at `start`, if any."""
        at = self._place(doc_id, start)
        return None if at is None else self._doc_rows[doc_id][at]

    def _place(self, doc_id: str, start: int) -> int | None:
        starts = self._doc_starts.get(doc_id, [])
        at = bisect.bisect_left(starts, start)
        return at if at < len(starts) and starts[at] == start else None

    def _adjacent_lists(self, a: int, b: int) -> bool:
        """Whether unit b is a list directly before or after list a in the same article."""
        if not 0 <= b < len(self.stored.units):
            return False
        first, second = sorted((self.stored.units[a], self.stored.units[b]), key=lambda u: u.start)
        return (
            first.doc_id == second.doc_id
            and second.kind == "list"
            and first.kind == "list"
            and not self.stored.articles[first.doc_id].text[first.end : second.start].strip()
        )

    def _units_in(self, passage: Passage) -> list[int]:
        starts, rows = self._doc_starts.get(passage.doc_id, []), self._doc_rows.get(passage.doc_id, [])
        inside = []
        for position in range(bisect.bisect_left(starts, passage.start), len(starts)):
            unit: Unit = self.stored.units[rows[position]]
            if unit.start >= passage.end:
                break
            if unit.end <= passage.end:
                inside.append(rows[position])
        return inside

    def _chunk_terms(self, passage: Passage) -> frozenset[str]:
        words = self._passage_words.get(passage.chunk_no)
        if words is None:
            language = self.stored.articles[passage.doc_id].lang or ENGLISH
            words = frozenset(self.lexical.words(passage.text, language))
            self._passage_words[passage.chunk_no] = words
        return words

    def _nearness(self, query: Question, passage: Passage, params: AnswerParams) -> float:
        """A passage's cosine to the question, with the cross-language allowance."""
        gap = 0.0 if self._same_language(query, passage.doc_id) else params.crosslingual_gap
        return passage.dense + gap

    def _same_language(self, query: Question, doc_id: str) -> bool:
        return (self.stored.articles[doc_id].lang or ENGLISH) == query.language

    def _coverage(self, query: Question, present: frozenset[str]) -> float:
        """Share of the question's word weight that a text holds."""
        total = sum(query.weights.values())
        if total <= 0:
            return 0.0
        return sum(w for word, w in query.weights.items() if word in present) / total

    def _names_judged(self, query: Question, retrieval: Retrieval, params: AnswerParams) -> bool:
        """Whether the question's names can be looked up in the articles: not when its nearest passage
        (by meaning, with the cross-language allowance) is in another language, which spells them
        otherwise ("Кремля" for "Kremlin")."""
        best = max(retrieval.passages, key=lambda p: self._nearness(query, p, params), default=None)
        return best is None or self._same_language(query, best.doc_id)

    def _in_language(self, query: Question, scored: Mapping[int, object]) -> bool:
        """Whether every candidate is in the question's language: the slot patterns read English ("$2
        million", "Mr Howard"), so an English question about Russian articles is not judged by them."""
        docs = {self.stored.units[row].doc_id for row in scored}
        return all(self._same_language(query, doc) for doc in docs)

    def _unfilled_slot(
        self,
        question: str,
        scored: dict[int, tuple[float, Matrix]],
        quotable: frozenset[int],
        params: AnswerParams,
    ) -> str | None:
        """The kind of answer asked for (a number, a sum, a name) that no good enough sentence states.

        A question asking "how many" is answered by a sentence holding a number the question does not
        already hold; when the best such sentence scores below `slot_threshold` (or there is none),
        the nearest articles talk about the subject without giving what was asked. A name question
        ("Who was the coroner...?") needs a person the question does not name, in a sentence that or
        whose neighbours name the role, scoring `name_slot_lift` above that.
        """
        if params.slot_threshold == -math.inf:
            return None
        for kind in slot_kinds(question):
            threshold = params.slot_threshold + (params.name_slot_lift if kind == "name" else 0.0)
            best = max(
                (
                    score
                    for row, (score, _) in scored.items()
                    if score >= threshold
                    and row in quotable
                    and fills_slot(kind, self.stored.units[row].text, question, self._around(kind, row))
                ),
                default=-math.inf,
            )
            if best < threshold:
                return _SLOT_REPORTED.get(kind, kind)
        return None

    def _around(self, kind: str, row: int) -> str:
        """The sentences next to a candidate, where a name question's role may be said ("his agent")."""
        if kind != "name":
            return ""
        return " ".join(unit.text for unit in self.neighbours(row))

    def _no_answer(
        self, query: Question, words: QuestionWords, relevant: Sequence[Passage], *, names: bool
    ) -> Reason:
        """Why no sentence of the nearest articles answers: the question's words they never use, if any
        (unless `names` is false: the nearest passage is in another language, which spells them otherwise)."""
        if not names:
            return Reason("no_answer")
        present: set[str] = set()
        for doc_id in dict.fromkeys(p.doc_id for p in relevant):
            present.update(self.doc_share(doc_id))
        total = sum(query.weights.values()) or 1.0
        missing_stems = {
            w for w, weight in query.weights.items() if w not in present and weight / total >= 0.1
        }
        missing = [
            term
            for term in words.terms
            if any(stem in missing_stems for stem in term.stems)
            and (term.name or (query.language in WORD_LIST_LANGUAGES and term.zipf < _CONTENT_ZIPF))
        ]
        if missing:
            terms = tuple(dict.fromkeys(term.text for term in missing))
            # Said of every article when no article has them at all, not only of the nearest ones.
            nowhere = all(term.known == 0 for term in missing)
            return Reason("unknown_terms" if nowhere else "missing_terms", terms)
        return Reason("no_answer")

    def features(
        self,
        question: str,
        vector: Vectors,
        weights: Mapping[str, float],
        rows: Sequence[int],
        passage_of: Mapping[int, tuple[int, float]],
        floor: float = 0.0,
        needed: Sequence[str] | None = None,
    ) -> Matrix:
        """One row of `FEATURES` per candidate unit. `passage_of[row]` is (rank, dense cosine) of the
        best retrieved passage holding the unit; `floor` (the embedder's abstention threshold) is taken
        off the cosines, so that models whose cosines sit on another scale share one set of weights.
        With `needed`, the costlier features outside it (vector arithmetic, cue patterns) stay 0."""
        out = np.zeros((len(rows), len(FEATURES)), dtype=np.float64)
        if not rows:
            return out
        wanted = set(FEATURES if needed is None else needed)
        vectors = self.stored.unit_vectors[list(rows)]
        out[:, 0] = vectors @ vector - floor
        kinds = question_types(question) if "answer_type" in wanted else ()
        total = sum(weights.values()) or 1.0
        focus_of: dict[str, tuple[dict[str, float], float]] = {}
        for i, row in enumerate(rows):
            unit = self.stored.units[row]
            words = self.unit_words(row)
            if "centred" in wanted:
                centred = vectors[i] - self._mean(unit.doc_id)
                norm = float(np.linalg.norm(centred))
                out[i, 1] = float(centred @ vector) / norm if norm > 1e-6 else 0.0
            if "context" in wanted:
                out[i, 2] = self._context(row, vector) - floor
            out[i, 3] = sum(w for word, w in weights.items() if word in words) / total
            if unit.doc_id not in focus_of:
                share = self.doc_share(unit.doc_id)
                focus = {word: w * (1.0 - share.get(word, 0.0)) for word, w in weights.items()}
                focus_of[unit.doc_id] = (focus, sum(focus.values()))
            focus, focus_total = focus_of[unit.doc_id]
            out[i, 4] = (
                sum(w for word, w in focus.items() if word in words) / focus_total if focus_total > 0 else 0.0
            )
            if kinds:
                out[i, 5] = 1.0 if any(has_cue(kind, unit.text) for kind in kinds) else -1.0
            rank, dense = passage_of[row]
            out[i, 6] = dense - floor + 1.0 / rank
            out[i, 7] = 1.0 if self._position[row] == 0 else 0.0
            out[i, 8] = len(words - weights.keys()) / len(words) if words else 0.0
            out[i, 9] = math.log1p(len(unit.text.split()))
        return out

    def unit_words(self, row: int) -> frozenset[str]:
        """The analysed words of a unit (cached)."""
        words = self._unit_words.get(row)
        if words is None:
            unit = self.stored.units[row]
            language = self.stored.articles[unit.doc_id].lang or ENGLISH
            words = frozenset(self.lexical.words(unit.text, language))
            self._unit_words[row] = words
        return words

    def doc_share(self, doc_id: str) -> dict[str, float]:
        """For each word of an article, the share of its units that contain it (its topic words are high)."""
        share = self._doc_share.get(doc_id)
        if share is None:
            rows = self._doc_rows.get(doc_id, [])
            counts: dict[str, int] = {}
            for row in rows:
                for word in self.unit_words(row):
                    counts[word] = counts.get(word, 0) + 1
            # Smoothed, so that a short article's words are not all "topic" (in a one-sentence article
            # every word is in every sentence, which would leave a question about it without focus).
            share = {word: count / (len(rows) + _SHARE_PRIOR) for word, count in counts.items()}
            self._doc_share[doc_id] = share
        return share

    def neighbours(self, row: int) -> tuple[Unit, ...]:
        """The units directly before and after a unit in its article."""
        unit = self.stored.units[row]
        rows = self._doc_rows[unit.doc_id]
        at = self._position[row]
        return tuple(self.stored.units[rows[j]] for j in (at - 1, at + 1) if 0 <= j < len(rows))

    def _context(self, row: int, vector: Vectors) -> float:
        """Cosine of the sentence together with its neighbours (a short sentence means little alone)."""
        unit = self.stored.units[row]
        rows = self._doc_rows[unit.doc_id]
        at = self._position[row]
        around = [rows[j] for j in (at - 1, at, at + 1) if 0 <= j < len(rows)]
        summed = self.stored.unit_vectors[around].sum(axis=0)
        norm = float(np.linalg.norm(summed))
        return float(summed @ vector) / norm if norm > 1e-6 else 0.0

    def _mean(self, doc_id: str) -> Vectors:
        mean = self._means.get(doc_id)
        if mean is None:
            mean = self.stored.unit_vectors[self._doc_rows[doc_id]].mean(axis=0)
            self._means[doc_id] = mean
        return mean


def logit(probability: float) -> float:
    """Log-odds of a probability (kept off 0 and 1)."""
    p = min(max(probability, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
