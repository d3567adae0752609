"""Defaults that a setting and the library share, and the allowed values of those settings that name a
choice: each written once, here.

`Settings` (config/settings.py, what users set with FOOTNOTE_* variables) and the parameters of index/
(`ChunkingParams`, `EngineParams`, `AnswerParams`, `Retriever`, `FaissStore`, `MilvusStore`, `FetchPolicy`,
`WatchStore`, the feed sync) both take their defaults from these names, so code and tests that use the
library without settings get what an unconfigured installation gets. Each constant is named after its
setting. This module imports nothing of Footnote's.
"""

from __future__ import annotations

from typing import Literal

# Allowed values
Mode = Literal["hybrid", "dense", "lexical"]  # FOOTNOTE_RETRIEVAL
IndexKind = Literal["auto", "flat", "ivf"]  # FOOTNOTE_FAISS_INDEX
Consistency = Literal["Strong", "Bounded", "Session", "Eventually"]  # FOOTNOTE_MILVUS_CONSISTENCY
IndexType = Literal["HNSW", "IVF_FLAT", "FLAT"]  # FOOTNOTE_MILVUS_INDEX

# Vector stores
FAISS_INDEX: IndexKind = "auto"
FAISS_FLAT_MAX = 50_000
IVF_NPROBE = 48  # FAISS's IVF index and Milvus's IVF_FLAT alike
MILVUS_COLLECTION = "footnote"
MILVUS_CONSISTENCY: Consistency = "Bounded"
MILVUS_INDEX: IndexType = "HNSW"
MILVUS_EF = 64
MILVUS_TIMEOUT = 30.0

# Chunking
CHUNK_TARGET_WORDS = 110
CHUNK_MAX_WORDS = 170
CHUNK_OVERLAP_WORDS = 35

# Retrieval and answers
TOP_K = 5
RETRIEVAL: Mode = "hybrid"
RRF_K = 60
MAX_QUOTES = 4
MAX_QUESTION_CHARS = 500

# Watches
WATCHES_PER_USER = 10

# Fetching pages and feeds
FETCH_TIMEOUT = 10.0
FETCH_MAX_BYTES = 5_000_000
FETCH_DEADLINE = 60.0
FEEDS_DEADLINE = 600.0
FETCH_ALLOW_PRIVATE = False
FEEDS_KEEP_DAYS = 90.0
