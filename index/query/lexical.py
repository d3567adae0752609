"""Step 6a: lexical retrieval, BM25 over chunk texts (bm25s), with Snowball stemming and English stopwords.

Built in memory when an index is loaded. It also weighs words by inverse document frequency, which the
answer step uses to see how much of a question a passage or sentence covers; a word the corpus never
uses gets the highest weight, so a question about something absent is not mistaken for a match.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from numpy.typing import NDArray

# bm25s sets its own logger to DEBUG on import and logs every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_WORD = re.compile(r"(?u)\b\w\w+\b")
# Words readers use to refer to the corpus itself ("the conclusion of the article"): they say nothing
# about which passage answers.
_CORPUS_WORDS = frozenset(
    {"article", "articles", "author", "authors", "text", "texts", "post", "blog", "piece"}
)
# Words that shape a question rather than name its subject.
_QUESTION_WORDS = frozenset({"would", "could", "tell", "given", "explain", "describe", "say", "says", "said"})
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | _CORPUS_WORDS | _QUESTION_WORDS


class Analyzer:
    """Text -> lower-cased, stopword-free, stemmed words (thread-safe)."""

    def __init__(self, language: str = "english") -> None:
        self._stemmer = Stemmer.Stemmer(language)
        self._lock = threading.Lock()  # PyStemmer objects are not thread-safe

    def words(self, text: str) -> list[str]:
        """The analysed words of a text, in order."""
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
        with self._lock:
            return list(self._stemmer.stemWords(words))


class LexicalIndex:
    """BM25 over a fixed list of texts."""

    def __init__(self, texts: Sequence[str], analyzer: Analyzer | None = None) -> None:
        self.analyzer = analyzer or Analyzer()
        self._size = len(texts)
        tokenized = [self.analyzer.words(t) for t in texts]
        self._df: Counter[str] = Counter(w for words in tokenized for w in set(words))
        self._bm25: bm25s.BM25 | None = None
        if any(tokenized):
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokenized, show_progress=False)

    def idf(self, word: str) -> float:
        """Smoothed inverse document frequency of an analysed word (highest for unseen words)."""
        df = self._df.get(word, 0)
        return math.log(1.0 + (self._size - df + 0.5) / (df + 0.5))

    def weights(self, text: str) -> dict[str, float]:
        """Each distinct analysed word of a text with its idf."""
        return {w: self.idf(w) for w in set(self.analyzer.words(text))}

    def known_share(self, text: str) -> float:
        """Share of a text's analysed words that occur in the indexed texts (0 when it has none)."""
        words = self.analyzer.words(text)
        return sum(1 for w in words if w in self._df) / len(words) if words else 0.0

    def scores(self, text: str) -> NDArray[np.float32]:
        """BM25 score of every indexed text for a query (zeros when no word is shared)."""
        words = [w for w in self.analyzer.words(text) if w in self._df]
        if self._bm25 is None or not words:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(words), dtype=np.float32)
