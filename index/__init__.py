"""Footnote's core: articles in, verbatim quotes out. No Telegram here (bot/ and cli/ sit on top).

The rooms follow the pipeline; each imports only from the rooms above it in this list:

    types.py, errors.py  the typed chain (Article -> Unit/Chunk -> Passage -> Quote -> Answer), the exceptions
    wording.py           the one catalogue that words an answer's codes (reasons, notes), English and Russian
    storage/             the index on disk (store.py) and its vector stores (vectors.py, faiss_store.py,
                         milvus_store.py)
    sources/             where articles come from: the seeds folder (corpus.py), pages (fetch.py), feeds
    ingest/              articles -> units and chunks (chunking.py) -> vectors (embedding.py) -> a new
                         generation on disk (indexing.py)
    query/               question -> passages (lexical.py, retrieval.py) -> quotes (answer.py), follow-ups,
                         and the open index that answers (engine.py)
    evaluation.py        measuring answers against question files
    pipeline.py          the one place that turns Settings into the pipeline's parameters (CLI, chat, bot)
"""
