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
from collections import Counter
from collections.abc import Sequence

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


@functools.lru_cache(maxsize=1024)
def _question_language(question: str, corpus: frozenset[str]) -> str:
    return languages.question_language(question, corpus)
