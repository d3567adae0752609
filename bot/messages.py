"""Everything the bot says in its own words, in one place.

HTML parse mode: callers escape whatever they insert.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from index.types import Note, Reason, ReasonKind
from index.wording import Language, note_text, reason_text, wording

HELP_ADMIN = (
    "\n\n<b>Admin</b>\n"
    "/reindex — rebuild the index from the seeds folder\n"
    "Send a .txt, .md or .html file — add it as an article (caption <code>replace</code> to overwrite one)\n"
    "/add <i>URL</i> — fetch an article from the web\n"
    "/remove <i>doc_id</i> — delete an article\n"
    "/stats — articles, chunks, questions answered, answer times\n"
    "/feedback — export 👍/👎 feedback as JSONL\n"
    "/channelnotices <i>on|off</i> — your message after each batch of channel posts is indexed\n"
    "Posts of the channels in <code>FOOTNOTE_CHANNELS</code> (the bot must be their admin) become articles; "
    "deleted posts are not reported by Telegram: /remove them."
)
ADMINS_ONLY = "⛔ Admins only."
NO_FEEDBACK = "No feedback yet."


@dataclass(frozen=True, slots=True)
class Texts:
    """What readers see, in one language (admin texts below stay in English)."""

    start: str
    start_empty: str
    help: str
    answer_header: str
    sources_header: str
    more_sources: str
    ask_usage: str
    not_text: str
    cut_note: str
    rate_limited: str
    buttons_too_fast: str
    not_allowed: str
    error: str
    expired: str
    article_changed: str
    private_only: str
    thanks: str
    no_more: str
    sources_empty: str
    articles_page: str
    previous: str
    next: str
    example: str
    related_header: str
    related_none: str
    inline_whole: str
    inline_keep_typing: str
    inline_not_found: str
    inline_rate_limited: str
    inline_private: str
    watch_usage: str
    watch_added: str
    watch_exists: str
    watch_limit: str
    watches_header: str
    watches_empty: str
    watch_removed: str
    watch_gone: str
    watch_stop: str
    watch_stopped: str
    unwatch_usage: str
    notice_header: str

    language: Language = "en"  # the answer's own words come from index/wording.py in this language

    def note(self, note: Note) -> str:
        """An answer's note in this language."""
        return note_text(note, self.language)

    @property
    def abstain(self) -> str:
        return f"🤷 {wording(self.language).abstain}"

    @property
    def nearest(self) -> str:
        return wording(self.language).nearest


EN = Texts(
    start=(
        "👋 I answer questions about <b>{articles}</b> analytical article{plural} with <b>exact quotes</b> "
        "from them, each marked [1], [2]… and linked to its source.\n\n"
        "Just ask, for example:\n{examples}\n\n"
        "In a group, write <code>/ask your question</code>, mention me, or reply to one of my answers. "
        "/help for more."
    ),
    start_empty="👋 I answer questions about articles with exact quotes, but no articles are indexed yet.",
    help=(
        "<b>How to ask</b>\n"
        "Write a question in plain words. I quote the sentences of the articles that answer it, "
        "word for word, "
        "and list the sources. Buttons under an answer open the whole passage around a quote, show more "
        "sources, or let you rate the answer. Short follow-ups such as “and the informal reasons?” continue "
        "your previous question.\n\n"
        "<b>In groups</b>: <code>/ask your question</code>, an @mention, or a reply to my message.\n\n"
        "<b>In any chat</b>, even one I am not in: type <code>@{bot} your question</code> and pick a quote "
        "(or the whole answer) from the list to send it there.\n\n"
        "<b>Forward me a post or a message</b> and I show the passages of the articles most related "
        "to it.\n\n"
        "<b>Watch a question</b>: <code>/watch your question</code> in our private chat, and when a new "
        "article answers it I send you the quotes.\n\n"
        "<b>Commands</b>\n"
        "/ask — ask a question\n/sources — the articles I know\n"
        "/watch — tell me when new articles answer a question\n/watches — your watches\n"
        "/help — this message"
    ),
    answer_header="📝 <b>From the articles</b>",
    sources_header="<b>Sources</b>",
    more_sources="📚 More sources",
    ask_usage="Write your question after the command, e.g. <code>/ask Why did Moscow refuse?</code>",
    not_text="I read text questions only — please type your question.",
    cut_note="✂️ Your question was long, so I used its first {chars} characters.",
    rate_limited="⏳ You're asking faster than I can read. Please wait a minute before the next question.",
    buttons_too_fast="⏳ Too many taps — please wait a minute.",
    not_allowed="This bot is private.",
    error="😔 Sorry, something went wrong on my side. Please try again in a moment.",
    expired="This answer is too old for that button — please ask again.",
    article_changed=(
        "This article has changed since I answered, so I can't show that passage — please ask again."
    ),
    private_only="🔒 Only in our private chat: send me this command there.",
    thanks="Thanks for the feedback!",
    no_more="No other sources for this answer.",
    sources_empty="No articles are indexed yet.",
    articles_page="📚 <b>Articles</b> ({count}), page {page} of {pages}",
    previous="◀ Previous",
    next="Next ▶",
    example="What is the main point of {title}?",
    related_header="📚 <b>Related in the articles</b>",
    related_none="🤷 Nothing in the articles is close to this.",
    inline_whole="📝 The whole answer ({count} quotes)",
    inline_keep_typing="✍️ Type a whole question, or open the bot",
    inline_not_found="🤷 Not in the articles — open the bot",
    inline_rate_limited="⏳ Too many questions — wait a minute",
    inline_private="This bot is private",
    watch_usage=(
        "Write the question or subject to watch after the command, e.g. "
        "<code>/watch Why did Moscow refuse?</code> When a new article answers it, I send you the quotes."
    ),
    watch_added=(
        "🔔 Watching: <i>{question}</i>\nWhen a new article answers it, I'll send you the quotes. "
        "/watches lists your watches."
    ),
    watch_exists="🔔 You already watch <i>{question}</i>. /watches lists your watches.",
    watch_limit="You already have {limit} watches, the most I keep. Remove one with /watches first.",
    watches_header="🔔 <b>Your watches</b> ({count} of {limit}) — 🗑 removes one:",
    watches_empty="You watch nothing yet. <code>/watch your question</code> adds a watch.",
    watch_removed="🔕 No longer watching <i>{question}</i>.",
    watch_gone="That watch is already gone.",
    watch_stop="🔕 Stop this watch",
    watch_stopped="Stopped: you won't hear about this question again.",
    unwatch_usage="Write the number of the watch to remove (see /watches), e.g. <code>/unwatch 1</code>.",
    notice_header="🔔 <b>New in the articles</b> for your watch <i>{question}</i>",
)

RU = Texts(
    language="ru",
    start=(
        "👋 Я отвечаю на вопросы по <b>{articles}</b> аналитическим статьям <b>точными цитатами</b> из них: "
        "каждая помечена [1], [2]… и ведёт к источнику.\n\n"
        "Просто спросите, например:\n{examples}\n\n"
        "В группе напишите <code>/ask ваш вопрос</code>, упомяните меня или ответьте на моё сообщение. "
        "Подробнее — /help."
    ),
    start_empty="👋 Я отвечаю на вопросы по статьям точными цитатами, но статей в индексе пока нет.",
    help=(
        "<b>Как спрашивать</b>\n"
        "Напишите вопрос своими словами. Я процитирую дословно те предложения статей, которые на него "
        "отвечают, и укажу источники. Кнопки под ответом открывают весь фрагмент вокруг цитаты, показывают "
        "другие источники и позволяют оценить ответ. Короткие уточнения вроде «а неофициальные причины?» "
        "продолжают ваш предыдущий вопрос.\n\n"
        "<b>В группах</b>: <code>/ask ваш вопрос</code>, упоминание через @ или ответ на моё сообщение.\n\n"
        "<b>В любом чате</b>, даже там, где меня нет: наберите <code>@{bot} ваш вопрос</code> и выберите "
        "в списке цитату (или весь ответ), чтобы отправить её в чат.\n\n"
        "<b>Перешлите мне пост или сообщение</b> — я покажу самые близкие к нему фрагменты статей.\n\n"
        "<b>Следите за вопросом</b>: <code>/watch ваш вопрос</code> в личном чате со мной, и когда новая "
        "статья ответит на него, я пришлю вам цитаты.\n\n"
        "<b>Команды</b>\n"
        "/ask — задать вопрос\n/sources — статьи, которые я знаю\n"
        "/watch — сообщить, когда новые статьи ответят на вопрос\n/watches — ваши отслеживания\n"
        "/help — эта справка"
    ),
    answer_header="📝 <b>Из статей</b>",
    sources_header="<b>Источники</b>",
    more_sources="📚 Ещё источники",
    ask_usage="Напишите вопрос после команды, например: <code>/ask Почему Москва отказалась?</code>",
    not_text="Я понимаю только текстовые вопросы — пожалуйста, напишите вопрос.",
    cut_note="✂️ Вопрос длинный, поэтому я использовал первые {chars} символов.",
    rate_limited="⏳ Вы спрашиваете быстрее, чем я успеваю читать. Подождите минуту до следующего вопроса.",
    buttons_too_fast="⏳ Слишком много нажатий — подождите минуту.",
    not_allowed="Это закрытый бот.",
    error="😔 Извините, у меня что-то пошло не так. Попробуйте ещё раз через минуту.",
    expired="Этот ответ устарел для этой кнопки — задайте вопрос снова.",
    article_changed=(
        "Статья изменилась после моего ответа, поэтому этот фрагмент показать нельзя — задайте вопрос снова."
    ),
    private_only="🔒 Только в личном чате: отправьте мне эту команду там.",
    thanks="Спасибо за отзыв!",
    no_more="Других источников для этого ответа нет.",
    sources_empty="В индексе пока нет статей.",
    articles_page="📚 <b>Статьи</b> ({count}), страница {page} из {pages}",
    previous="◀ Назад",
    next="Дальше ▶",
    example="О чём статья {title}?",
    related_header="📚 <b>Похожее в статьях</b>",
    related_none="🤷 В статьях нет ничего близкого к этому.",
    inline_whole="📝 Весь ответ (цитат: {count})",
    inline_keep_typing="✍️ Допишите вопрос или откройте бота",
    inline_not_found="🤷 В статьях этого нет — открыть бота",
    inline_rate_limited="⏳ Слишком много вопросов — подождите минуту",
    inline_private="Это закрытый бот",
    watch_usage=(
        "Напишите после команды вопрос или тему, например: "
        "<code>/watch Почему Москва отказалась?</code> Когда новая статья ответит на него, я пришлю цитаты."
    ),
    watch_added=(
        "🔔 Слежу за вопросом: <i>{question}</i>\nКогда новая статья ответит на него, я пришлю цитаты. "
        "Список — /watches."
    ),
    watch_exists="🔔 Вы уже следите за вопросом <i>{question}</i>. Список — /watches.",
    watch_limit="У вас уже {limit} отслеживаний — больше я не храню. Сначала удалите одно через /watches.",
    watches_header="🔔 <b>Ваши отслеживания</b> ({count} из {limit}) — 🗑 удаляет:",
    watches_empty="Вы пока ни за чем не следите. <code>/watch ваш вопрос</code> добавит отслеживание.",
    watch_removed="🔕 Больше не слежу за вопросом <i>{question}</i>.",
    watch_gone="Это отслеживание уже удалено.",
    watch_stop="🔕 Не следить",
    watch_stopped="Готово: об этом вопросе я больше не напишу.",
    unwatch_usage="Напишите номер отслеживания (см. /watches), например: <code>/unwatch 1</code>.",
    notice_header="🔔 <b>Новое в статьях</b> по вашему вопросу <i>{question}</i>",
)


def texts_for(language_code: str | None) -> Texts:
    """Russian for readers whose Telegram is in Russian, Belarusian or Ukrainian; English otherwise."""
    if language_code and language_code.split("-")[0].lower() in {"ru", "be", "uk"}:
        return RU
    return EN


def reason(texts: Texts, kind: ReasonKind, terms: tuple[str, ...]) -> str | None:
    """Why the bot abstained, in the reader's language (terms quoted and escaped); None for a foreign
    script, which the answer's note explains."""
    if kind == "foreign_script":
        return None

    def mark(term: str) -> str:
        return f"«{escape(term)}»" if texts.language == "ru" else f"“{escape(term)}”"

    return reason_text(Reason(kind, terms), texts.language, mark)


def plural(count: int) -> str:
    """'s' unless there is exactly one (English only)."""
    return "" if count == 1 else "s"


def start(texts: Texts, articles: int, examples: list[str]) -> str:
    """The /start greeting with the corpus size and example questions."""
    if not articles:
        return texts.start_empty
    shown = "\n".join(f"• <i>{escape(_short(example))}</i>" for example in examples)
    return texts.start.format(articles=articles, plural=plural(articles), examples=shown)


def _short(text: str, chars: int = 200) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


REINDEX_STARTED = "⏳ Reindexing…"
REINDEX_PROGRESS = "⏳ Reindexing… embedded {done} of {total} texts"
REINDEX_RUNNING = "A reindex is already running; I'll post its summary when it ends."
REINDEX_BUSY = "Another indexing run (perhaps from the command line) holds the index. Try again when it ends."
REINDEX_DONE = "✅ Reindexed: {summary}"
REINDEX_UP_TO_DATE = "✅ The index is already up to date: {summary}"
REINDEX_FAILED = "❌ Reindex failed: {reason}. The previous index keeps answering."
REINDEX_PROBLEM = "⚠️ {problem} (skipped)"
MORE_LINES = "… and {count} more"

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
ADD_USAGE = "Usage: <code>/add https://example.org/article</code> (several URLs may follow)."
ADDED = "📥 Saved <code>{doc_id}</code>."
ADD_FAILED = "⚠️ {problem}"
SYNCED = "📰 Feeds synced: {summary}"
REMOVE_USAGE = "Usage: <code>/remove doc_id</code> (see /sources for the ids)."
REMOVE_MISSING = "There is no article <code>{doc_id}</code>."
REMOVED = "🗑 Removed <code>{doc_id}</code>."

STATS = (
    "<b>Articles</b> {articles}\n<b>Chunks</b> {chunks}\n<b>Questions answered</b> {questions}\n"
    "<b>Median answer time</b> {median}\n<b>Index age</b> {age}\n<b>Embedder</b> {embedder}{reason}\n"
    "<b>Reader</b> {reader}\n<b>Languages</b> {languages}"
)
STATS_INLINE = "\n<b>Inline answers</b> {inline} (included above)"

CHANNEL_POSTS = "{count} post{plural} from {channel}"
CHANNEL_INDEXED = "📣 Indexed: {batches}."
CHANNEL_INDEX_FAILED = (
    "❌ Indexing channel posts failed: {reason}. They are saved and wait for the next reindex."
)
CHANNEL_NOTICES_ON = (
    "📣 You get one message after each batch of channel posts is indexed. /channelnotices off stops it."
)
CHANNEL_NOTICES_OFF = "🔕 No more channel messages for you. /channelnotices on brings them back."
CHANNEL_NOTICES_DISABLED = (
    "Channel messages are switched off for every admin (FOOTNOTE_CHANNEL_NOTICES=false)."
)
CHANNEL_NOTICES_USAGE = (
    "Usage: <code>/channelnotices on</code> or <code>/channelnotices off</code>. Now: {now}."
)
