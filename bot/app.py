"""Building and running the Telegram application (long polling, or a webhook when configured)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import admin, callbacks, channels, forwarded, handlers, inline, watches
from bot.state import Batch, BotData, BotState, Context, FeedbackLog, FootnoteApp, RateLimiter, SharedMemory
from bot.transport import RetryingRequest, wait_for_api
from config import Settings, SettingsError
from index.errors import FootnoteError
from index.pipeline import Pipeline
from index.query.engine import Engine

log = logging.getLogger(__name__)

PUBLIC_COMMANDS = [
    BotCommand("ask", "Ask a question about the articles"),
    BotCommand("sources", "The articles I know"),
    BotCommand("watch", "Tell me when new articles answer a question"),
    BotCommand("watches", "Your watches"),
    BotCommand("help", "How to use this bot"),
    BotCommand("start", "What I can do"),
]
ADMIN_COMMANDS = [
    BotCommand("reindex", "Rebuild the index from the seeds folder"),
    BotCommand("add", "Add an article from a URL: /add URL"),
    BotCommand("remove", "Delete an article: /remove doc_id"),
    BotCommand("stats", "Articles, chunks, questions, answer times"),
    BotCommand("feedback", "Export 👍/👎 feedback"),
    BotCommand("channelnotices", "on|off: a message after channel posts are indexed"),
]


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token) in every log line and traceback passing a handler."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]
        self._formatter = logging.Formatter()

    def clean(self, text: str) -> str:
        """`text` with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        return True


def secrets_of(settings: Settings) -> list[str]:
    """The secret values among the settings (token, webhook secret, Milvus token)."""
    return [
        s.get_secret_value()
        for s in (settings.bot_token, settings.webhook_secret, settings.milvus_token)
        if s is not None
    ]


def protect_logs(settings: Settings) -> None:
    """Keep the token out of every log handler's output (httpx also logs URLs, which contain it)."""
    redactor = RedactSecrets(secrets_of(settings))
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        handler.addFilter(redactor)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def file_url(api_url: str) -> str:
    """The file download base URL that goes with a Bot API base URL ('…/bot' -> '…/file/bot')."""
    return (
        api_url[: -len("bot")] + "file/bot" if api_url.endswith("/bot") else api_url.rstrip("/") + "/file/bot"
    )


def check_settings(settings: Settings) -> None:
    """Refuse, before any network call, settings the bot must not run with."""
    if settings.bot_token is None:
        raise SettingsError("FOOTNOTE_BOT_TOKEN is not set; see docs/bot.md")
    if settings.webhook_url and settings.webhook_secret is None:
        # Without it anyone who finds the webhook URL can post updates in an admin's name.
        raise SettingsError(
            "FOOTNOTE_WEBHOOK_URL is set but FOOTNOTE_WEBHOOK_SECRET is not: set a secret of 1-256 "
            "characters A-Z, a-z, 0-9, _ or - (Telegram sends it with every update), or unset the URL "
            "to use long polling"
        )
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if settings.webhook_url and not _WEBHOOK_SECRET.fullmatch(secret):
        raise SettingsError(
            "FOOTNOTE_WEBHOOK_SECRET: Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ or - only"
        )


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def build_application(settings: Settings, footnote: Pipeline, engine: Engine) -> FootnoteApp:
    """The python-telegram-bot application with Footnote's handlers and state."""
    check_settings(settings)
    assert settings.bot_token is not None
    application = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value())
        .base_url(settings.bot_api_url)
        .base_file_url(file_url(settings.bot_api_url))
        .context_types(ContextTypes(bot_data=BotData))
        .concurrent_updates(True)
        .request(RetryingRequest())
        # Waits out Telegram's 429 "retry after N seconds" and sends again, instead of losing the answer.
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=3))
        .post_init(on_startup)
        .post_stop(on_stop)
        .post_shutdown(on_stop)  # also when start-up fails after post_init started the background tasks
        .build()
    )
    feedback = FeedbackLog(settings.data_dir / "feedback.jsonl")
    keep = settings.answers_keep_days * 86400
    memory = SharedMemory(settings.data_dir if keep > 0 else None, keep)
    application.bot_data.state = BotState(
        footnote,
        engine,
        RateLimiter(settings.rate_limit_per_minute),
        feedback,
        memory,
        button_rate=RateLimiter(settings.button_rate_limit_per_minute),
    )
    application.bot_data.batch = Batch(settings.channel_index_seconds)
    watches.setup(application, footnote)
    # The allow-list comes before every other handler, so it covers whatever they answer.
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)

    new = filters.UpdateType.MESSAGE  # edits of old messages are not new questions
    # A forwarded message (by hand, or automatically from a linked channel into its discussion group) is
    # someone else's words: never a command or an upload, whoever forwards it. In private it gets the
    # related passages; in a group it is left alone.
    forwarded_post = filters.FORWARDED | filters.IS_AUTOMATIC_FORWARD
    own = new & ~forwarded_post
    commands = {
        "start": handlers.on_start,
        "help": handlers.on_help,
        "ask": handlers.on_ask,
        "sources": handlers.on_sources,
        "reindex": admin.on_reindex,
        "remove": admin.on_remove,
        "add": admin.on_add,
        "stats": admin.on_stats,
        "feedback": admin.on_feedback,
        "watch": watches.on_watch,
        "watches": watches.on_watches,
        "unwatch": watches.on_unwatch,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback, filters=own))
    application.add_handler(CommandHandler("channelnotices", channels.on_channel_notices, filters=own))
    application.add_handler(
        MessageHandler(
            new & filters.ChatType.PRIVATE & forwarded_post & (filters.TEXT | filters.CAPTION),
            forwarded.on_forwarded,
        )
    )
    application.add_handler(MessageHandler(own & filters.Document.ALL, admin.on_document))
    application.add_handler(MessageHandler(own & filters.TEXT & ~filters.COMMAND, handlers.on_text))
    application.add_handler(
        MessageHandler(own & filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND, handlers.on_other)
    )
    application.add_handler(
        CallbackQueryHandler(watches.on_unwatch_button, pattern=callbacks.UNWATCH_PATTERN)
    )
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_handler(InlineQueryHandler(inline.on_inline_query))
    application.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, channels.on_channel_post))
    application.add_error_handler(handlers.on_error)
    return application


async def on_startup(application: FootnoteApp) -> None:
    """After connecting: the command menus, and the periodic work on python-telegram-bot's JobQueue (it
    stops with the application): the heartbeat that `footnote health` checks, loading a generation another
    process made current, forgetting idle rate limits, the feed schedule and the watches' sweep."""
    await setup_commands(application)
    state = application.bot_data.state
    settings = state.footnote.settings
    jobs = application.job_queue
    if jobs is None:  # python-telegram-bot without its job-queue extra (the locks always have it)
        raise RuntimeError("python-telegram-bot[job-queue] is not installed")
    every: list[tuple[Callable[[FootnoteApp], Awaitable[object]], float, str]] = [
        (_beat, settings.heartbeat_interval, "heartbeat"),
        # Another replica's /reindex (or a `footnote index` run) makes a new generation current: load it
        # before a question needs it.
        (_refresh, settings.index_check_seconds, "index-watch"),
        (_forget_idle, state.rate.window, "rate-sweep"),
        # Watches: the served generation checked if no round has, and the outbox sent (at once: what a
        # crash left unsent goes out at start-up).
        (watches.sweep, watches.SWEEP_SECONDS, "watch-sweep"),
    ]
    if settings.feeds and settings.feeds_interval_minutes > 0:
        every.append((admin.scheduled_sync, settings.feeds_interval_minutes * 60, "feeds"))
    for work, seconds, name in every:
        # The first run as soon as the queue starts (a repeating job whose first time passed before the
        # start would wait a whole interval), then every `seconds`.
        jobs.run_once(_job(work), 0, name=name, job_kwargs={"misfire_grace_time": None})
        jobs.run_repeating(_job(work), seconds, first=seconds, name=name)


async def on_stop(application: FootnoteApp) -> None:
    """Stop the periodic jobs (so a stopped bot soon reads as unhealthy), the wait for the next batch of
    channel posts and the watches' sender."""
    if application.job_queue is not None:
        for job in application.job_queue.jobs():
            job.schedule_removal()
    await channels.stop_batches(application)
    await watches.close(application)


def _job(work: Callable[[FootnoteApp], Awaitable[object]]) -> Callable[[Context], Coroutine[Any, Any, None]]:
    """A JobQueue callback that runs `work(application)`, logging (never raising) its failures."""

    async def run(context: Context) -> None:
        try:
            await work(context.application)
        except Exception:
            log.exception("scheduled job failed")

    return run


async def _refresh(application: FootnoteApp) -> None:
    await application.bot_data.state.fresh_engine()


async def _forget_idle(application: FootnoteApp) -> None:
    application.bot_data.state.forget_idle()


async def _beat(application: FootnoteApp) -> None:
    """Touch the heartbeat file while the event loop is alive."""
    await heartbeat_once(application.bot_data.state.footnote.settings.heartbeat_path)


async def heartbeat_once(path: Path) -> None:
    """Write the time into `path` (its age is what `footnote health` reads)."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_text, f"{time.time():.0f}\n", encoding="utf-8")


async def setup_commands(application: FootnoteApp) -> None:
    """Public commands for everyone; admin commands only in the admins' own chats."""
    state = application.bot_data.state
    try:
        await application.bot.set_my_commands(PUBLIC_COMMANDS, scope=BotCommandScopeDefault())
        for admin_id in state.footnote.settings.admin_ids:
            await application.bot.set_my_commands(
                PUBLIC_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin_id)
            )
    except TelegramError:
        log.warning(
            "could not set the command menu (has the admin started a chat with the bot?)", exc_info=True
        )


def run_bot(settings: Settings, footnote: Pipeline) -> int:
    """Load the index once, wait for the Bot API, then serve until SIGINT/SIGTERM (exit 0)."""
    check_settings(settings)
    protect_logs(settings)
    try:
        return _serve(settings, footnote)
    except InvalidToken:
        # python-telegram-bot's message quotes the token: say what happened without it.
        raise FootnoteError(
            "the Telegram Bot API refused FOOTNOTE_BOT_TOKEN: check the token (from @BotFather) and "
            "FOOTNOTE_BOT_API_URL"
        ) from None
    except TelegramError as exc:  # at start-up, e.g. setWebhook refused: one line, no secret in it
        reason = RedactSecrets(secrets_of(settings)).clean(str(exc))
        raise FootnoteError(f"the Telegram Bot API refused to start the bot: {reason}") from None


def _serve(settings: Settings, footnote: Pipeline) -> int:
    engine = footnote.open_engine()
    engine.warm_up()
    application = build_application(settings, footnote, engine)
    assert settings.bot_token is not None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # run_polling / run_webhook go on in this loop
    if not loop.run_until_complete(wait_for_api(settings.bot_token.get_secret_value(), settings.bot_api_url)):
        return 0
    log.info("serving %d articles from %s", len(engine.stored.articles), engine.generation)
    if settings.webhook_url:
        from urllib.parse import urlparse

        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        try:
            application.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=urlparse(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
            )
        except OSError as exc:  # the port is taken, or the address is not this machine's
            raise FootnoteError(
                f"cannot listen for the webhook on {settings.webhook_listen}:{settings.webhook_port} "
                f"({exc.strerror or exc}); check FOOTNOTE_WEBHOOK_LISTEN and FOOTNOTE_WEBHOOK_PORT"
            ) from exc
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0
