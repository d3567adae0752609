"""Footnote's core: articles -> chunks -> embeddings -> FAISS index on disk -> retrieval -> quoted answers.

Nothing here imports Telegram; the bot and the CLI build on these modules.
"""
