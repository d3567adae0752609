"""Step 6a: lexical retrieval, BM25 over chunk texts (bm25s), each text stemmed in its own language.

Built in memory when an index is loaded. Each chunk is analysed with its article's language (Snowball
stemmer and stopwords), a question with its own (index/languages.py). It also weighs words by inverse
document frequency, which the answer step uses to see how much of a question a passage or sentence
covers; a word the corpus never uses gets the highest weight, so a question about something absent is
not mistaken for a match.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import (
    STOPWORDS_EN_PLUS,
    STOPWORDS_FRENCH,
    STOPWORDS_GERMAN,
    STOPWORDS_RUSSIAN,
    STOPWORDS_SPANISH,
)
from numpy.typing import NDArray

from index import languages

# bm25s sets its own logger to DEBUG on import and logs every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_WORD = re.compile(r"(?u)\b\w\w+\b")
# Words readers use to refer to the corpus itself ("the conclusion of the article"): they say nothing
# about which passage answers.
_CORPUS_WORDS = frozenset(
    {"article", "articles", "author", "authors", "text", "texts", "post", "blog", "piece"}
    | {"статья", "статье", "статьи", "статью", "статьях", "автор", "автора", "автору", "текст", "тексте"}
    | {"артыкул", "артыкуле", "артыкула", "аўтар", "аўтара", "тэкст", "тэксце"}
)
# Words that shape a question rather than name its subject.
_QUESTION_WORDS = frozenset(
    {"would", "could", "tell", "given", "explain", "describe", "say", "says", "said"}
    | {"расскажи", "расскажите", "объясни", "объясните", "пишет", "говорится", "сказано"}
    | {"раскажы", "растлумач", "піша", "гаворыцца"}
)


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BELARUSIAN_STOPWORDS = _wordset(
    "і й ды ці а але ў у з са на да ад па пра для як што каб калі дзе чаму хто які якая якое якія "
    "гэта гэты гэтая гэтыя той тая тое тыя яго яе іх ён яна яны мы вы не ні ж жа бы таксама вельмі "
    "ужо яшчэ толькі было быў была былі ёсць будзе пры праз без над пад"
)
_UKRAINIAN_STOPWORDS = _wordset(
    "і й та або але в у з із на до від по про для як що щоб коли де чому хто який яка яке які це "
    "цей ця ці той те ті його її їх він вона вони ми ви не ні ж би також дуже вже ще тільки"
)
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(STOPWORDS_EN_PLUS),
    "ru": frozenset(STOPWORDS_RUSSIAN),
    "be": _BELARUSIAN_STOPWORDS,
    "uk": _UKRAINIAN_STOPWORDS,
    "de": frozenset(STOPWORDS_GERMAN),
    "fr": frozenset(STOPWORDS_FRENCH),
    "es": frozenset(STOPWORDS_SPANISH),
}
# Snowball has no Belarusian or Ukrainian stemmer. Belarusian gets the Russian one: on Belarusian
# questions about Belarusian articles it beat no stemming (MRR@10 0.80 vs 0.65 with BM25 alone;
# docs/languages.md). Ukrainian is not measured, so it stays unstemmed.
STEMMERS: dict[str, str | None] = {
    "en": "english",
    "ru": "russian",
    "be": "russian",
    "uk": None,
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "pl": None,
}


class Analyzer:
    """Text -> lower-cased, stopword-free, stemmed words in one language (thread-safe).

    Words in the other script (an English name in a Russian text, a Russian one in an English text) are
    analysed as English or Russian words, so they match the same words in articles of that language."""

    def __init__(self, language: str = "en", stemmer: str | None = "", *, guest: bool = True) -> None:
        self.language = language
        name = STEMMERS.get(language) if stemmer == "" else stemmer
        self._stemmer = Stemmer.Stemmer(name) if name else None
        self._stopwords = _STOPWORDS.get(language, frozenset()) | _CORPUS_WORDS | _QUESTION_WORDS
        self._lock = threading.Lock()  # PyStemmer objects are not thread-safe
        self._cyrillic = language in languages.CYRILLIC
        self._guest = Analyzer("en" if self._cyrillic else "ru", guest=False) if guest else None

    def words(self, text: str) -> list[str]:
        """The analysed words of a text, in order (those in the other script last)."""
        words = _WORD.findall(text.lower())
        if self._guest is None or all(_is_cyrillic(w) == self._cyrillic for w in words):
            return self._own(words)
        own = self._own([w for w in words if _is_cyrillic(w) == self._cyrillic])
        guest = self._guest.words(" ".join(w for w in words if _is_cyrillic(w) != self._cyrillic))
        return own + guest

    def _own(self, words: list[str]) -> list[str]:
        words = [w for w in words if w not in self._stopwords]
        if self._stemmer is None:
            return words
        with self._lock:
            return list(self._stemmer.stemWords(words))


def _is_cyrillic(word: str) -> bool:
    return "\u0400" <= word[0] <= "\u04ff"


class LexicalIndex:
    """BM25 over a fixed list of texts, each in its own language (English when none is given)."""

    def __init__(self, texts: Sequence[str], text_languages: Sequence[str] | None = None) -> None:
        langs = list(text_languages) if text_languages is not None else [languages.ENGLISH] * len(texts)
        self.languages = frozenset(langs) or frozenset({languages.ENGLISH})
        self._analyzers: dict[str, Analyzer] = {}
        self._size = len(texts)
        tokenized = [self.analyzer(lang).words(t) for t, lang in zip(texts, langs, strict=True)]
        self._df: Counter[str] = Counter(w for words in tokenized for w in set(words))
        self._bm25: bm25s.BM25 | None = None
        if any(tokenized):
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokenized, show_progress=False)

    def analyzer(self, language: str) -> Analyzer:
        """The analyser of one language (made once)."""
        analyzer = self._analyzers.get(language)
        if analyzer is None:
            analyzer = self._analyzers.setdefault(language, Analyzer(language))
        return analyzer

    def question_language(self, question: str) -> str:
        """The language a question is asked in, among those this corpus could be asked about."""
        return _question_language(question, self.languages)

    def words(self, text: str, language: str | None = None) -> list[str]:
        """The analysed words of a text in `language` (default: the text's own, judged as a question)."""
        return self.analyzer(language or self.question_language(text)).words(text)

    def idf(self, word: str) -> float:
        """Smoothed inverse document frequency of an analysed word (highest for unseen words)."""
        df = self._df.get(word, 0)
        return math.log(1.0 + (self._size - df + 0.5) / (df + 0.5))

    def weights(self, text: str) -> dict[str, float]:
        """Each distinct analysed word of a question with its idf."""
        return {w: self.idf(w) for w in set(self.words(text))}

    def known_share(self, text: str, language: str | None = None) -> float:
        """Share of a question's analysed words that occur in the indexed texts (0 when it has none).
        Give a word of a question its question's `language`: alone, "Парка" reads as Ukrainian."""
        words = self.words(text, language)
        return sum(1 for w in words if w in self._df) / len(words) if words else 0.0

    def scores(self, text: str) -> NDArray[np.float32]:
        """BM25 score of every indexed text for a question (zeros when no word is shared)."""
        words = [w for w in self.words(text) if w in self._df]
        if self._bm25 is None or not words:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(words), dtype=np.float32)

    def search_text(self, text: str) -> Searched:
        """What retrieval needs of the text it searches: its language, BM25 scores and known share."""
        language = self.question_language(text) if len(self.languages) > 1 else None
        return Searched(text, language, self.scores(text), self.known_share(text))

    def read_question(
        self, question: str, search: str | None = None, *, rare_zipf: float, alone: bool = False
    ) -> QuestionWords:
        """Read a question once for every later step (`QuestionWords`). `search`: the follow-up joined to
        its predecessor, when it continues one; `alone` also reads the question without it."""
        language = self.question_language(question)
        weights = self.weights(search or question)
        if search:
            own = set(self.words(question, language))
            weights = {word: w * (1.0 if word in own else CONTEXT_SHARE) for word, w in weights.items()}
        terms = tuple(
            Term(
                m.group(),
                m.start(),
                m.end(),
                tuple(self.words(m.group(), language)),
                self.known_share(m.group(), language),
                zipf(m.group().lower()),
                name=m.group()[0].isupper() and m.start() > 0,
            )
            for m in _TERM.finditer(question)
        )
        return QuestionWords(
            question,
            language,
            weights,
            terms,
            self._unknown(question, language, terms, rare_zipf),
            self._speaker(question, language),
            self.search_text(search or question),
            self.read_question(question, rare_zipf=rare_zipf) if alone and search else None,
            latin=mostly_latin(search or question),
        )

    def _unknown(
        self, question: str, language: str, terms: tuple[Term, ...], rare_zipf: float
    ) -> tuple[str, ...]:
        """Names and rare words of the question that no article contains ("Lukashenko").

        A name is a capitalised word past the question's first; a rare word is one that is rare in the
        language at large (wordfreq). Only questions written in the corpus's words are judged: a
        question in another language than the articles shares few words with them anyway.
        """
        if self.known_share(question) < 0.5:
            return ()
        found: list[str] = []
        previous_end = -2
        for term in terms:
            if not (term.name or term.rare(rare_zipf, language)):  # a common word may be paraphrase
                previous_end = -2
                continue
            if not term.stems or term.known > 0:
                previous_end = -2
                continue
            if found and term.start == previous_end + 1 and term.name:
                found[-1] = f"{found[-1]} {term.text}"
            else:
                found.append(term.text)
            previous_end = term.end
        return tuple(dict.fromkeys(found))

    def _speaker(self, question: str, language: str) -> tuple[str, tuple[str, ...]] | None:
        """The speaker of a "what did <name> say" question and the analysed words of their surname.

        The speaker is the last run of capitalised words before "say" ("South African coach Graham
        Ford" -> "Graham Ford").
        """
        match = _SPEAKER_QUESTION.search(question)
        if match is None:
            return None
        runs: list[list[str]] = []
        previous_end = -2
        for word in re.finditer(r"[^\s]+", match.group("who")):
            if _NAME_WORD.fullmatch(word.group().rstrip(",")):
                if word.start() == previous_end + 1 and runs:
                    runs[-1].append(word.group())
                else:
                    runs.append([word.group()])
                previous_end = word.end()
        if not runs:
            return None
        head = re.sub(r"[’']s$", "", runs[-1][-1].rstrip(","))
        stems = tuple(self.words(head, language))
        return (" ".join(runs[-1]).rstrip(","), stems) if stems else None


@functools.lru_cache(maxsize=1024)
def _question_language(question: str, corpus: frozenset[str]) -> str:
    return languages.question_language(question, corpus)


# The languages whose general word frequencies `zipf` reads (wordfreq's lists, chosen by script).
WORD_LIST_LANGUAGES = frozenset({"en", "ru"})
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# A word of a question as the answer step names it to the reader ("Lukashenko", "Mayor Tom Briggs").
_TERM = re.compile(r"[^\W\d_][\w'’-]*")
# "What did <speaker> say about...?": only a sentence of an article that names the speaker can say it.
_SPEAKER_QUESTION = re.compile(
    r"\bwhat (?:did|does|do|has|have|had|will|would) (?P<who>.{1,80}?) "
    r"(?:say|said|says|tell|told|claim|claimed|"
    r"announce|announced|warn|warned|think|reveal|revealed|report|reported|respond|responded|admit|admitted|"
    r"argue|argued|suggest|suggested)\b",
    re.I,
)
_NAME_WORD = re.compile(r"[A-Z][\w’'-]*")


@functools.lru_cache(maxsize=4096)
def zipf(word: str) -> float:
    """How common a word is in its language at large (wordfreq's English or Russian list, by script)."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "ru" if _CYRILLIC.search(word) else "en"))


def mostly_latin(text: str) -> bool:
    """Whether at least half of a text's letters are Latin (English-only models need that)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if c.isascii() or unicodedata.name(c, "").startswith("LATIN"))
    return latin * 2 >= len(letters)


@dataclass(frozen=True, slots=True)
class Term:
    """A word of a question that the answer may name: its analysed words, the share of them the corpus
    has (0: no article), how common it is at large and whether it reads as a name (capitalised, not the
    question's first word)."""

    text: str
    start: int
    end: int
    stems: tuple[str, ...]
    known: float
    zipf: float  # how common the word is in its language at large (`zipf`)
    _: KW_ONLY
    name: bool

    def rare(self, threshold: float, language: str) -> bool:
        """Whether the word is rarer than `threshold` in the question's language at large (never judged
        for a language without a word list: a common Belarusian word, "колькі", is rare in Russian)."""
        return language in WORD_LIST_LANGUAGES and self.zipf < threshold


@dataclass(frozen=True, slots=True)
class Searched:
    """The text retrieval searches (a question, or a follow-up joined to its predecessor), read once: its
    language among the corpus's (None when the corpus has one), its BM25 score for every chunk and the
    share of its words that the corpus has."""

    text: str
    language: str | None
    scores: NDArray[np.float32]
    known: float


@dataclass(frozen=True, slots=True)
class QuestionWords:
    """Everything the lexical side reads in a question, once, for the steps after it.

    `weights`: each analysed word of the searched text with its idf, the follow-up's own words at full
    weight and its predecessor's at `CONTEXT_SHARE`; `unknown`: its names and rare words that no article
    contains; `speaker`: the person a "what did X say" question asks about, with the analysed words of
    their surname; `latin`: whether the searched text is mostly Latin letters; `alone`: the question
    read without its predecessor, for a vague question that may stand alone after all."""

    text: str
    language: str
    weights: dict[str, float]
    terms: tuple[Term, ...]
    unknown: tuple[str, ...]
    speaker: tuple[str, tuple[str, ...]] | None
    searched: Searched
    alone: QuestionWords | None = None
    _: KW_ONLY
    latin: bool


# A follow-up's predecessor's words weigh this much of their idf beside the follow-up's own.
CONTEXT_SHARE = 0.25
