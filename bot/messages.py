"""Everything the bot says in its own words, in one place.

HTML parse mode: callers escape whatever they insert.
"""

from __future__ import annotations

from html import escape

START = (
    "👋 I answer questions about <b>{articles}</b> analytical article{plural} with <b>exact quotes</b> "
    "from them, each marked [1], [2]… and linked to its source.\n\n"
    "Just ask, for example:\n{examples}\n\n"
    "In a group, write <code>/ask your question</code>, mention me, or reply to one of my answers. "
    "/help for more."
)
START_EMPTY = (
    "👋 I answer questions about a corpus of articles with exact quotes, but no articles are indexed yet."
)
HELP = (
    "<b>How to ask</b>\n"
    "Write a question in plain words. I quote the sentences of the articles that answer it, word for word, "
    "and list the sources. Buttons under an answer open the whole passage around a quote, show more sources, "
    "or let you rate the answer.\n\n"
    "<b>In groups</b>: <code>/ask your question</code>, an @mention, or a reply to my message.\n\n"
    "<b>Commands</b>\n"
    "/ask — ask a question\n/sources — the articles I know\n/help — this message"
)
HELP_ADMIN = (
    "\n\n<b>Admin</b>\n"
    "/reindex — rebuild the index from the seeds folder\n"
    "Send a .txt, .md or .html file — add it as an article (caption <code>replace</code> to overwrite one)\n"
    "/remove <i>doc_id</i> — delete an article\n"
    "/stats — articles, chunks, questions answered, answer times\n"
    "/feedback — export 👍/👎 feedback as JSONL"
)
ANSWER_HEADER = "📝 <b>From the articles</b>"
SOURCES_HEADER = "<b>Sources</b>"
ABSTAIN = "🤷 I don't find this in the articles."
NEAREST = "The nearest articles are:"
ASK_USAGE = "Write your question after the command, e.g. <code>/ask Why did Moscow refuse?</code>"
NOT_TEXT = "I read text questions only — please type your question."
CUT_NOTE = "✂️ Your question was long, so I used its first {chars} characters."
RATE_LIMITED = "⏳ You're asking faster than I can read. Please wait a minute before the next question."
NOT_ALLOWED = "This bot is private."
ADMINS_ONLY = "⛔ Admins only."
ERROR = "😔 Sorry, something went wrong on my side. Please try again in a moment."
EXPIRED = "This answer is too old for that button — please ask again."
THANKS = "Thanks for the feedback!"
NO_FEEDBACK = "No feedback yet."
NO_MORE = "No other sources for this answer."
SOURCES_EMPTY = "No articles are indexed yet."

REINDEX_STARTED = "⏳ Reindexing…"
REINDEX_PROGRESS = "⏳ Reindexing… embedded {done} of {total} texts"
REINDEX_RUNNING = "A reindex is already running; I'll post its summary when it ends."
REINDEX_BUSY = "Another indexing run (perhaps from the command line) holds the index. Try again when it ends."
REINDEX_DONE = "✅ Reindexed: {summary}"
REINDEX_UP_TO_DATE = "✅ The index is already up to date: {summary}"
REINDEX_FAILED = "❌ Reindex failed: {reason}. The previous index keeps answering."
REINDEX_PROBLEM = "⚠️ {problem} (skipped)"

UPLOAD_TYPE = "I can add .txt, .md and .html files only."
UPLOAD_TOO_BIG = "That file is too big ({size} KB); the limit is {limit} KB."
UPLOAD_BAD = "I can't add this file: {reason}"
UPLOAD_SAME = "<code>{doc_id}</code> is already in the corpus with exactly this content."
UPLOAD_SAVED = "📥 Saved as <code>{doc_id}</code>."
UPLOAD_RENAMED = (
    "📥 <code>{wanted}</code> already exists with other content, so I saved this one as "
    "<code>{doc_id}</code>. "
    "Send it with the caption <code>replace</code> to overwrite instead."
)
REMOVE_USAGE = "Usage: <code>/remove doc_id</code> (see /sources for the ids)."
REMOVE_MISSING = "There is no article <code>{doc_id}</code>."
REMOVED = "🗑 Removed <code>{doc_id}</code>."

STATS = (
    "<b>Articles</b> {articles}\n<b>Chunks</b> {chunks}\n<b>Questions answered</b> {questions}\n"
    "<b>Median answer time</b> {median}\n<b>Index age</b> {age}\n<b>Embedder</b> {embedder}"
)


def plural(count: int) -> str:
    """'s' unless there is exactly one."""
    return "" if count == 1 else "s"


def start(articles: int, examples: list[str]) -> str:
    """The /start greeting with the corpus size and example questions."""
    if not articles:
        return START_EMPTY
    shown = "\n".join(f"• <i>{escape(example)}</i>" for example in examples)
    return START.format(articles=articles, plural=plural(articles), examples=shown)
