"""Step 1b: which language each article and each question is in, and which embedder a corpus needs.

An article's language is its front matter `lang` where given, else what `lingua` (models inside its
wheel, no network) detects on a sample of its body, restricted to `LANGUAGES`. A question's language is
judged by its script first (short Latin-script questions are too short for a detector to tell English
from German), and by the detector only between the candidate languages of that script.

`FOOTNOTE_EMBEDDER=auto` picks the English MiniLM for a corpus that is (nearly) all English and the
multilingual e5 model once other languages make up `SWITCH_SHARE` of its words; it goes back to
MiniLM only below `RETURN_SHARE`, so a corpus that hovers around the line is not rebuilt on every edit.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from index.types import Article

ENGLISH = "en"
# ISO 639-1 code -> lingua's name. Latin-script ones besides English are there so a German or French
# corpus is recognised as "not English" (and gets the multilingual model), not for their stemming alone.
LANGUAGES: dict[str, str] = {
    "en": "ENGLISH",
    "ru": "RUSSIAN",
    "be": "BELARUSIAN",
    "uk": "UKRAINIAN",
    "de": "GERMAN",
    "fr": "FRENCH",
    "es": "SPANISH",
    "pl": "POLISH",
}
CYRILLIC = frozenset({"ru", "be", "uk"})
_NAMES = {
    "english": "en",
    "russian": "ru",
    "belarusian": "be",
    "byelorussian": "be",
    "ukrainian": "uk",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "polish": "pl",
}
SWITCH_SHARE = 0.10
RETURN_SHARE = 0.05
_SAMPLE_CHARS = 1500  # per sampled stretch; detection costs about 1 ms per 1000 characters

_detector: Any = None
_detector_lock = threading.Lock()


def normalise(lang: str | None) -> str | None:
    """A front-matter language ("ru", "ru-RU", "Russian") as a lower-case ISO 639-1 code, or None."""
    if not lang:
        return None
    value = lang.strip().lower().replace("_", "-")
    if value in _NAMES:
        return _NAMES[value]
    code = value.split("-", 1)[0]
    return code if len(code) == 2 and code.isalpha() else None


def _lingua() -> Any:
    """The detector, built once; low-accuracy mode (trigrams only) loads in ~0.1 s and ~15 MB."""
    global _detector
    with _detector_lock:
        if _detector is None:
            from lingua import Language, LanguageDetectorBuilder

            languages = [getattr(Language, name) for name in LANGUAGES.values()]
            _detector = LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()
        return _detector


def _code(language: Any) -> str:
    name = str(language.name)
    return next(code for code, lingua_name in LANGUAGES.items() if lingua_name == name)


def detect(text: str, candidates: Iterable[str] | None = None) -> str:
    """The most likely language of a text among `candidates` (default all of LANGUAGES); English when
    the text has no letters to judge by."""
    allowed = set(candidates) if candidates is not None else set(LANGUAGES)
    if len(allowed) == 1:
        return next(iter(allowed))
    values = _lingua().compute_language_confidence_values(text)
    ranked = [_code(v.language) for v in values if _code(v.language) in allowed and v.value > 0]
    return ranked[0] if ranked else ENGLISH


def sample(article: Article) -> str:
    """The stretches of an article's body the detector reads: its beginning and its middle."""
    body = article.text[article.body_start :]
    if len(body) <= 2 * _SAMPLE_CHARS:
        return body
    middle = len(body) // 2
    return body[:_SAMPLE_CHARS] + "\n" + body[middle : middle + _SAMPLE_CHARS]


def article_language(article: Article) -> str:
    """An article's language: its front matter `lang` where given, else detected on a sample."""
    return normalise(article.lang) or detect(sample(article))


def is_cyrillic(text: str) -> bool:
    """Whether most of a text's letters are Cyrillic."""
    letters = [c for c in text if c.isalpha()]
    cyrillic = sum(1 for c in letters if unicodedata.name(c, "").startswith("CYRILLIC"))
    return bool(letters) and cyrillic * 2 > len(letters)


def question_language(question: str, corpus: Iterable[str]) -> str:
    """A question's language: by script, then (between languages of that script) by the detector. Latin
    questions choose only among English and the corpus's own Latin-script languages."""
    corpus = set(corpus)
    if is_cyrillic(question):
        return detect(question, CYRILLIC)
    latin = {code for code in corpus if code in LANGUAGES and code not in CYRILLIC} | {ENGLISH}
    return detect(question, latin)


@dataclass(frozen=True, slots=True)
class LanguageMix:
    """How many words of a corpus are in each language."""

    words: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str | None, int]]) -> LanguageMix:
        """Sum (language, words) pairs; an unknown language counts as English."""
        words: dict[str, int] = {}
        for lang, count in pairs:
            key = lang or ENGLISH
            words[key] = words.get(key, 0) + count
        return cls(words)

    @property
    def total(self) -> int:
        """Words in all languages."""
        return sum(self.words.values())

    def shares(self) -> dict[str, float]:
        """Each language's share of the words, largest first."""
        total = self.total or 1
        return {k: v / total for k, v in sorted(self.words.items(), key=lambda kv: (-kv[1], kv[0]))}

    @property
    def other_share(self) -> float:
        """Share of the words not in English."""
        total = self.total
        return (total - self.words.get(ENGLISH, 0)) / total if total else 0.0

    def describe(self) -> str:
        """'ru 82%, en 18%'."""
        return ", ".join(f"{k} {v:.0%}" for k, v in self.shares().items()) or "no text"


@dataclass(frozen=True, slots=True)
class Choice:
    """The embedder a corpus gets, and why."""

    name: str
    reason: str


def choose_embedder(mix: LanguageMix, previous: str | None = None) -> Choice:
    """`auto`: MiniLM for an English corpus, multilingual e5 once other languages reach SWITCH_SHARE of
    the words (and until they fall below RETURN_SHARE, when e5 was the previous choice)."""
    other = mix.other_share
    line = RETURN_SHARE if previous == "e5-multilingual" else SWITCH_SHARE
    if other >= line:
        return Choice(
            "e5-multilingual",
            f"auto: {other:.0%} of the text is not English ({mix.describe()}), so the multilingual model "
            "reads it",
        )
    return Choice(
        "minilm",
        f"auto: the text is {1 - other:.0%} English ({mix.describe()}), so the English model reads it",
    )


def words_of(article: Article) -> int:
    """Words of an article's body (what its language weighs in the mix)."""
    return len(article.text[article.body_start :].split())  # as index.ingest.chunking counts words
