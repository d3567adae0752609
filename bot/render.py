"""Answers -> Telegram HTML messages and inline keyboards.

Everything inserted is escaped; every message fits Telegram's 4096-character limit (counted in UTF-16
units, tags included, which is stricter than Telegram's own count). Long answers are split between
quotes, a quote longer than a message is split at sentence or word boundaries into several blockquotes,
and no split ever falls inside a tag or an entity. Callback data stays within 64 bytes.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from html import escape

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)

from bot import callbacks
from bot.messages import ADD_FAILED, ADDED, EN, MORE_LINES, REINDEX_PROBLEM, SYNCED, Texts, reason
from index.sources.corpus import shown_text
from index.types import Answer, Chunk, Passage, Quote

MAX_MESSAGE = 4096
EXPANDABLE_OVER = 300
MAX_URL = 300
PREFIX_LIMIT = 2000  # what led to a reindex (/add results, an upload) leaves room for its outcome
_BLANK_LINES = re.compile(r"[ \t]*\n\s*\n\s*")
_BREAKS = (re.compile(r"\n"), re.compile(r"(?<=[.!?;…])\s+"), re.compile(r"\s+"))


@dataclass(frozen=True, slots=True)
class Rendered:
    """Messages to send in order; the keyboard goes under the last one."""

    texts: list[str]
    keyboard: InlineKeyboardMarkup | None


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def tidy(text: str) -> str:
    """Article text for display: blank-line runs become single line breaks."""
    return _BLANK_LINES.sub("\n", text).strip()


def render_answer(answer: Answer, answer_id: str, texts: Texts = EN, *, related: bool = False) -> Rendered:
    """An answer as messages: quotes in blockquotes with [n], then the sources; buttons for each quote.
    `related`: the passages related to a forwarded post, which was not a question."""
    if answer.abstained:
        text = texts.related_none if related else abstention(answer, texts)
        return Rendered([text], feedback_row_only(answer_id))
    blocks = [("\n\n", texts.related_header if related else texts.answer_header)]
    blocks.extend(("\n\n", block) for quote in answer.quotes for block in quote_blocks(quote))
    blocks.extend(sources_lines(answer.quotes, texts))
    blocks.extend(("\n\n", f"ℹ️ {escape(note)}") for note in notes(answer, texts))
    return Rendered(pack(blocks), answer_keyboard(answer, answer_id, texts))


def notes(answer: Answer, texts: Texts) -> list[str]:
    """The engine's notes in the reader's language where the bot knows them."""
    return [texts.note(note) for note in answer.notes]


def abstention(answer: Answer, texts: Texts = EN) -> str:
    """The friendly 'not in the articles' message, why (where known), the nearest article titles."""
    lines = [texts.abstain]
    why = reason(texts, answer.reason.kind, answer.reason.terms) if answer.reason else None
    if why:
        lines.append(why)
    if answer.nearest_titles:
        lines.append(texts.nearest)
        lines.extend(f"• {link(title, None, with_url=False)}" for title in answer.nearest_titles)
    lines.extend(f"\nℹ️ {clip_end(note, 1000)}" for note in notes(answer, texts))
    return lines_message(lines)


def quote_blocks(quote: Quote) -> list[str]:
    """One quote as one blockquote (expandable when long), or several when longer than a message."""
    marker = f" <b>[{quote.n}]</b>"
    text = tidy(quote.text)
    tag = "<blockquote expandable>" if len(text) > EXPANDABLE_OVER else "<blockquote>"
    room = MAX_MESSAGE - utf16_len(tag + "</blockquote>" + marker) - 16
    pieces = split_text(text, room)
    return [
        f"{tag}{escape(piece)}{marker if i == len(pieces) - 1 else ''}</blockquote>"
        for i, piece in enumerate(pieces)
    ]


def sources_lines(
    quotes: tuple[Quote, ...], texts: Texts = EN, *, with_url: bool = True, title_chars: int = 200
) -> list[tuple[str, str]]:
    """'[1, 2] Title' per article, linked when its URL is known (and `with_url`), for pack()."""
    by_article: dict[str, list[Quote]] = {}
    for quote in quotes:
        by_article.setdefault(quote.doc_id, []).append(quote)
    lines = [("\n\n", texts.sources_header)]
    for group in by_article.values():
        first = group[0]
        numbers = ", ".join(str(q.n) for q in group)
        dated = f" <i>({escape(first.date)})</i>" if first.date else ""
        title = link(
            first.title, text_fragment(first.source, first.text), with_url=with_url, limit=title_chars
        )
        lines.append(("\n", f"[{numbers}] {title}{dated}"))
    return lines


def text_fragment(url: str | None, quote: str, words: int = 8) -> str | None:
    """The source URL pointing at the quoted sentence (`#:~:text=`), where browsers support it."""
    if not url or "#" in url:
        return url
    opening = " ".join(tidy(quote).split()[:words])
    # In a text fragment '-', '&' and ',' are syntax: percent-encode everything but letters and digits.
    encoded = urllib.parse.quote(opening, safe="").replace("-", "%2D")
    return f"{url}#:~:text={encoded}"


def link(title: str, url: str | None, *, with_url: bool = True, limit: int = 200) -> str:
    """An escaped title (at most `limit` characters), as a link when the URL is http(s) and of sane length."""
    title = shown_text(title)
    shown = escape(title if len(title) <= limit else title[: max(0, limit - 1)] + "…")
    if with_url and url and url.startswith(("http://", "https://")) and len(url) <= MAX_URL:
        return f'<a href="{escape(url, quote=True)}">{shown}</a>'
    return shown


def passage_view(quote: Quote, chunk: Chunk | None, article_text: str) -> str:
    """The passage around quote [n], the quote itself in bold, trimmed to fit one message."""
    start, end = (chunk.start, chunk.end) if chunk else (quote.start, quote.end)
    start, end = min(start, quote.start), max(end, quote.end)
    header = f"📖 <b>[{quote.n}]</b> {link(quote.title, quote.source)}\n\n"
    room = MAX_MESSAGE - utf16_len(header) - utf16_len("<b></b>…")
    body = tidy(quote.text)
    if utf16_len(escape(body)) > room:
        return header + f"<b>{escape(split_text(body, room)[0])}</b>…"
    body_html = escape(body)
    room -= utf16_len(body_html)
    before = article_text[start : quote.start].lstrip()
    after = article_text[quote.end : end].rstrip()
    before_html, after_html = escape(before), escape(after)
    if utf16_len(before_html) + utf16_len(after_html) > room:
        # The shorter side keeps what it needs of half the room; the other side gets the rest.
        half = room // 2
        if utf16_len(before_html) <= half:
            after_html = clip_end(after, room - utf16_len(before_html))
        elif utf16_len(after_html) <= half:
            before_html = clip_start(before, room - utf16_len(after_html))
        else:
            before_html = clip_start(before, half)
            after_html = clip_end(after, room - utf16_len(before_html))
    return f"{header}{before_html}<b>{body_html}</b>{after_html}"


def clip_end(text: str, units: int) -> str:
    """`text` escaped and cut at the end (at a space when one is near) to at most `units` UTF-16 units."""
    if utf16_len(escape(text)) <= units:
        return escape(text)
    if units < 1:
        return ""
    low, high = 0, len(text)  # the longest prefix whose escaped form fits before the '…'
    while low < high:
        middle = (low + high + 1) // 2
        if utf16_len(escape(text[:middle])) <= units - 1:
            low = middle
        else:
            high = middle - 1
    space = text.rfind(" ", 0, low)
    if space > low // 2:
        low = space
    return escape(text[:low].rstrip()) + "…"


def clip_start(text: str, units: int) -> str:
    """`text` escaped, cut at the start to at most `units` UTF-16 units, beginning with '…'."""
    if utf16_len(escape(text)) <= units:
        return escape(text)
    if units < 1:
        return ""
    low, high = len(text), 0  # the earliest start whose escaped rest fits after the '…'
    while high < low:
        middle = (low + high) // 2
        if utf16_len(escape(text[middle:])) <= units - 1:
            low = middle
        else:
            high = middle + 1
    space = text.find(" ", low)
    if 0 <= space < low + (len(text) - low) // 2:
        low = space
    return "…" + escape(text[low:].lstrip())


def passages_view(passages: tuple[Passage, ...], texts: Texts = EN) -> list[str]:
    """The retrieved passages, best first: title and opening words of each."""
    blocks = [("\n\n", f"<b>{texts.more_sources}</b>")]
    for passage in passages:
        preview = tidy(passage.text)
        preview = preview if len(preview) <= 240 else preview[:240].rsplit(" ", 1)[0] + "…"
        body = f"<b>{passage.rank}.</b> {link(passage.title, passage.source)}\n<i>{escape(preview)}</i>"
        blocks.append(("\n\n", body))
    return pack(blocks) if passages else [texts.no_more]


def sources_page(
    titles: list[tuple[str, str, str | None]], page: int, texts: Texts = EN, per_page: int = 10
) -> Rendered:
    """One page of /sources: title, doc_id and link of each indexed article, with paging buttons."""
    if not titles:
        return Rendered([texts.sources_empty], None)
    pages = (len(titles) + per_page - 1) // per_page
    page = max(0, min(page, pages - 1))
    shown = titles[page * per_page : (page + 1) * per_page]
    head = texts.articles_page.format(count=len(titles), page=page + 1, pages=pages)
    text = head
    # Long URLs, or titles and ids full of characters that escaping lengthens, could overflow a page:
    # then titles only, then shorter titles and ids. The last rung fits ten lines whatever they hold.
    for with_url, title_chars, id_chars in _SOURCES_LADDER:
        lines = [head]
        lines.extend(
            f"• {link(title, url, with_url=with_url, limit=title_chars)} — "
            f"<code>{escape(_cut(shown_text(doc_id), id_chars))}</code>"
            for doc_id, title, url in shown
        )
        text = "\n".join(lines)
        if utf16_len(text) <= MAX_MESSAGE:
            break
    buttons = []
    if page > 0:
        buttons.append(InlineKeyboardButton(texts.previous, callback_data=callbacks.sources(page - 1)))
    if page < pages - 1:
        buttons.append(InlineKeyboardButton(texts.next, callback_data=callbacks.sources(page + 1)))
    return Rendered([text], InlineKeyboardMarkup([buttons]) if buttons else None)


_SOURCES_LADDER = ((True, 200, 100), (False, 200, 100), (False, 80, 60), (False, 30, 30))


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def lines_message(lines: list[str], limit: int = MAX_MESSAGE) -> str:
    """HTML lines, one per line break, as many whole lines as fit in `limit`; the rest are counted."""
    whole = "\n".join(lines)
    if utf16_len(whole) <= limit:
        return whole
    room = limit - utf16_len("\n" + MORE_LINES.format(count=len(lines)))
    kept: list[str] = []
    used = 0
    for line in lines:
        size = utf16_len(line) + (1 if kept else 0)
        if used + size > room:
            break
        kept.append(line)
        used += size
    return "\n".join([*kept, MORE_LINES.format(count=len(lines) - len(kept))])


def add_report(written: list[str], failed: list[str]) -> str:
    """What /add did: the saved articles and, for each URL that failed, why; fits a message prefix."""
    lines = [ADDED.format(doc_id=clip_end(doc_id, 300)) for doc_id in written]
    lines += [ADD_FAILED.format(problem=clip_end(problem, 600)) for problem in failed]
    return lines_message(lines, PREFIX_LIMIT)


def reindex_report(prefix: str, outcome: str, problems: list[str]) -> str:
    """The reindex progress message's last text: what triggered it, the outcome, the skipped files."""
    return lines_message(
        [prefix + outcome, *(REINDEX_PROBLEM.format(problem=clip_end(p, 600)) for p in problems)]
    )


def sync_report(summary: str, added: list[str]) -> str:
    """The admins' note after a feed sync: the summary and the new articles' ids."""
    return lines_message(
        [
            SYNCED.format(summary=clip_end(summary, 600)),
            *(f"• <code>{clip_end(a, 300)}</code>" for a in added),
        ]
    )


def answer_keyboard(answer: Answer, answer_id: str, texts: Texts = EN) -> InlineKeyboardMarkup:
    """Buttons: open each quote's passage; more sources; 👍/👎."""
    quote_row = [
        InlineKeyboardButton(f"📖 [{q.n}]", callback_data=callbacks.passage(answer_id, q.n))
        for q in answer.quotes
    ]
    rows = [quote_row[i : i + 4] for i in range(0, len(quote_row), 4)]
    rows.append(
        [
            InlineKeyboardButton(texts.more_sources, callback_data=callbacks.more(answer_id)),
            InlineKeyboardButton("👍", callback_data=callbacks.feedback(answer_id, helpful=True)),
            InlineKeyboardButton("👎", callback_data=callbacks.feedback(answer_id, helpful=False)),
        ]
    )
    return InlineKeyboardMarkup(rows)


def feedback_row_only(answer_id: str) -> InlineKeyboardMarkup:
    """Under an abstention only the rating makes sense."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data=callbacks.feedback(answer_id, helpful=True)),
                InlineKeyboardButton("👎", callback_data=callbacks.feedback(answer_id, helpful=False)),
            ]
        ]
    )


def pack(blocks: list[tuple[str, str]], limit: int = MAX_MESSAGE) -> list[str]:
    """Join (separator, block) pairs into as few messages as fit; a block is never cut."""
    out: list[str] = []
    current = ""
    for separator, block in blocks:
        candidate = f"{current}{separator}{block}" if current else block
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            out.append(current)
        current = block
    if current:
        out.append(current)
    return out


def split_text(text: str, limit: int) -> list[str]:
    """Cut plain text into pieces whose escaped form fits `limit`, at line, sentence, then word breaks."""
    if utf16_len(escape(text)) <= limit:
        return [text]
    for breaks in _BREAKS:
        cut = _last_break(text, breaks, limit)
        if cut:
            return [text[:cut].rstrip(), *split_text(text[cut:].lstrip(), limit)]
    cut = _fitting_prefix(text, limit)
    return [text[:cut], *split_text(text[cut:], limit)]


def _last_break(text: str, pattern: re.Pattern[str], limit: int) -> int:
    best = 0
    for match in pattern.finditer(text):
        if utf16_len(escape(text[: match.start()])) > limit:
            break
        if match.start() > 0:
            best = match.end()
    return best


def _fitting_prefix(text: str, limit: int) -> int:
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if utf16_len(escape(text[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


# -- watches ---------------------------------------------------------------------------------------

# (room for each quote, links in the sources, title characters, room for the watched question): the first
# rung that fits one message is used; the last fits whatever the quotes, titles and question hold.
_NOTICE_LADDER = ((1200, True, 200, 300), (600, True, 120, 200), (300, False, 80, 120), (100, False, 40, 80))


def watch_notice(
    question: str, quotes: tuple[Quote, ...], answer_id: str, watch_id: int, texts: Texts = EN
) -> Rendered:
    """What a watch's owner gets when new passages answer it, in one message: the quotes (each cut to fit),
    their sources with dates and links to the quoted sentence; a button to open each passage and one to
    stop the watch."""
    text = ""
    for room, with_url, title_chars, question_room in _NOTICE_LADDER:
        blocks = [texts.notice_header.format(question=clip_end(question, question_room))]
        blocks.extend(_quote_block(quote, room) for quote in quotes)
        sources = sources_lines(quotes, texts, with_url=with_url, title_chars=title_chars)
        text = "\n\n".join(blocks) + "".join(separator + line for separator, line in sources)
        if utf16_len(text) <= MAX_MESSAGE:
            break
    passages = [
        InlineKeyboardButton(f"📖 [{q.n}]", callback_data=callbacks.passage(answer_id, q.n)) for q in quotes
    ]
    rows = [passages[i : i + 4] for i in range(0, len(passages), 4)]
    rows.append(
        [InlineKeyboardButton(texts.watch_stop, callback_data=callbacks.unwatch(watch_id, from_list=False))]
    )
    return Rendered([text], InlineKeyboardMarkup(rows))


def _quote_block(quote: Quote, room: int) -> str:
    """One quote as one blockquote of at most `room` UTF-16 units of text (cut at a sentence or word)."""
    text = tidy(quote.text)
    pieces = split_text(text, room)
    body = escape(pieces[0]) + ("…" if len(pieces) > 1 else "")
    tag = "<blockquote expandable>" if len(text) > EXPANDABLE_OVER else "<blockquote>"
    return f"{tag}{body} <b>[{quote.n}]</b></blockquote>"


def watch_list(watches: list[tuple[int, str]], limit: int, texts: Texts = EN) -> Rendered:
    """/watches: the reader's watches (id, question), numbered, with a 🗑 button for each."""
    if not watches:
        return Rendered([texts.watches_empty], None)
    lines = [texts.watches_header.format(count=len(watches), limit=limit)]
    lines.extend(f"{n}. <i>{clip_end(question, 300)}</i>" for n, (_, question) in enumerate(watches, 1))
    buttons = [
        InlineKeyboardButton(f"🗑 {n}", callback_data=callbacks.unwatch(watch_id, from_list=True))
        for n, (watch_id, _) in enumerate(watches, 1)
    ]
    rows = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    return Rendered([lines_message(lines)], InlineKeyboardMarkup(rows))


# -- inline mode -------------------------------------------------------------------------------------

MAX_INLINE_RESULTS = 5
_INLINE_TITLE_WORDS = 8
_INLINE_TITLE_CHARS = 64


def inline_results(answer: Answer, texts: Texts = EN) -> list[InlineQueryResultArticle]:
    """Up to five results for an inline query: the whole answer first when it fits one message, then one
    result per quote. An abstention has none (never an unrelated quote)."""
    if answer.abstained or not answer.quotes:
        return []
    results = []
    whole = render_answer(answer, "inline", texts).texts
    if len(whole) == 1:
        titles = dict.fromkeys(q.title for q in answer.quotes)
        results.append(
            _article(
                "all",
                texts.inline_whole.format(count=len(answer.quotes)),
                "; ".join(titles),
                whole[0],
            )
        )
    for quote in answer.quotes[: MAX_INLINE_RESULTS - len(results)]:
        results.append(_article(f"q{quote.n}", opening_words(quote.text), quote.title, inline_quote(quote)))
    return results


def inline_quote(quote: Quote) -> str:
    """One quote as a message of its own: the blockquote, then its linked source."""
    dated = f" <i>({escape(quote.date)})</i>" if quote.date else ""
    source = f"\n— {link(quote.title, text_fragment(quote.source, quote.text))}{dated}"
    tag = "<blockquote expandable>" if len(tidy(quote.text)) > EXPANDABLE_OVER else "<blockquote>"
    room = MAX_MESSAGE - utf16_len(tag + "</blockquote>…" + source) - 16
    pieces = split_text(tidy(quote.text), room)
    body = escape(pieces[0]) + ("…" if len(pieces) > 1 else "")
    return f"{tag}{body}</blockquote>{source}"


def opening_words(text: str) -> str:
    """A quote's first words, as the title of its inline result."""
    words = tidy(text).split()
    opening = " ".join(words[:_INLINE_TITLE_WORDS])
    if len(opening) > _INLINE_TITLE_CHARS:
        opening = opening[: _INLINE_TITLE_CHARS - 1].rstrip()
    return opening + ("…" if opening != " ".join(words) else "")


def _article(result_id: str, title: str, description: str, html: str) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result_id,
        title=shown_text(title),
        description=description[:200],
        input_message_content=InputTextMessageContent(
            html, parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)
        ),
    )
