"""Footnote's settings: one frozen object, read from `FOOTNOTE_*` variables and an optional `.env`.

Built once in the entry point and passed down; library code takes plain arguments. The defaults the
library's parameters share, and the allowed values of the settings that name a choice, are in
config/defaults.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config import defaults
from config.defaults import Consistency, IndexKind, IndexType, Mode

_CHANNEL = re.compile(r"^(?:[a-z][a-z0-9_]{3,31}|-?[0-9]{1,20})$")
EmbedderName = Literal["auto", "minilm", "e5-multilingual", "hashing"]


class SettingsError(ValueError):
    """A setting has a bad value; the message names the setting and never echoes secrets."""


def _int_list(value: object) -> object:
    """Accept `1,2,3` (and JSON-free spaces) for id lists, as people write them in env files."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    """Every knob Footnote has; docs/configuration.md has a row for each."""

    model_config = SettingsConfigDict(
        env_prefix="FOOTNOTE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    # Corpus and index
    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("data/index")
    # The feedback log, kept answers, follow-ups, feed state and the bot's heartbeat. Unset: the index
    # directory's parent, as before FOOTNOTE_DATA_DIR existed (so FOOTNOTE_INDEX_DIR=/var/idx alone would
    # write into /var: set both).
    data_dir: Path = Path("data")
    initial_seeds_dir: Path | None = (
        None  # copied into an empty seeds_dir at start (the image's own articles)
    )
    # auto: the English MiniLM for an English corpus, multilingual e5 when 10% of it is in other languages
    embedder: EmbedderName = "auto"
    faiss_index: IndexKind = defaults.FAISS_INDEX
    faiss_flat_max: int = Field(defaults.FAISS_FLAT_MAX, ge=1)
    ivf_nprobe: int = Field(defaults.IVF_NPROBE, ge=1, le=65536)

    # Where the chunk vectors live: FAISS files in the index directory, or a Milvus collection that
    # several bot replicas share (changing it makes the next `footnote index` rebuild everything)
    vector_store: Literal["faiss", "milvus"] = "faiss"
    milvus_uri: str = "http://localhost:19530"
    milvus_token: SecretStr | None = None  # "user:password" or an API key
    milvus_collection: str = Field(defaults.MILVUS_COLLECTION, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    milvus_consistency: Consistency = defaults.MILVUS_CONSISTENCY
    milvus_index: IndexType = defaults.MILVUS_INDEX  # used when the collection is created
    # HNSW search breadth (at least the passages asked for)
    milvus_ef: int = Field(defaults.MILVUS_EF, ge=1, le=32768)
    milvus_timeout: float = Field(defaults.MILVUS_TIMEOUT, gt=0, le=600)

    # Chunking (changing any of these makes the next `footnote index` rebuild everything)
    chunk_target_words: int = Field(defaults.CHUNK_TARGET_WORDS, ge=20, le=400)
    chunk_max_words: int = Field(defaults.CHUNK_MAX_WORDS, ge=30, le=600)
    chunk_overlap_words: int = Field(defaults.CHUNK_OVERLAP_WORDS, ge=0, le=200)

    # Retrieval and answers
    top_k: int = Field(defaults.TOP_K, ge=1, le=50)
    retrieval: Mode = defaults.RETRIEVAL
    followup_window_seconds: float = Field(600.0, ge=0, le=86400)
    rrf_k: int = Field(defaults.RRF_K, ge=1, le=1000)
    abstain_threshold: float | None = Field(None, ge=-1.0, le=2.0)  # None: the embedder's calibrated value
    max_quotes: int = Field(defaults.MAX_QUOTES, ge=1, le=12)
    # Which reader picks the quotes: the trained model blended with the hand rules (English, with the
    # MiniLM embedder; other models and languages keep the rules), or the rules alone (docs/answers.md).
    reader: Literal["model", "rules"] = "model"
    max_question_chars: int = Field(defaults.MAX_QUESTION_CHARS, ge=20, le=4000)

    # Telegram
    bot_token: SecretStr | None = None
    bot_api_url: str = "https://api.telegram.org/bot"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    allowed_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: int = Field(10, ge=0, le=10_000)
    # Presses of 📖, "More sources" and 👍/👎 per reader per minute (0 = no limit)
    button_rate_limit_per_minute: int = Field(30, ge=0, le=10_000)
    telegram_max_rate: float = Field(30.0, ge=0, le=10_000)  # requests/s to the Bot API overall; 0 = no cap
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    max_upload_bytes: int = Field(2_000_000, ge=1_000, le=20_000_000)
    example_questions: list[str] = Field(default_factory=list)

    # Inline mode (`@bot question` in any chat; switch it on with BotFather's /setinline)
    inline_min_chars: int = Field(10, ge=1, le=200)  # shorter queries are still being typed
    inline_debounce_seconds: float = Field(0.6, ge=0, le=10)  # quiet time before a query is answered
    inline_cache_seconds: int = Field(300, ge=0, le=86400)  # Telegram caches inline results this long

    # Telegram channels whose posts become articles (the bot must be an admin of each)
    channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    channel_min_words: int = Field(80, ge=1, le=100_000)
    channel_index_seconds: float = Field(60.0, ge=0, le=86400)  # at most one channel reindex this often
    channel_notices: bool = True  # admins get one message per indexed batch (each can mute: /channelnotices)

    # Watches (/watch, `footnote watch`): standing questions checked against each new generation's articles
    watches_per_user: int = Field(defaults.WATCHES_PER_USER, ge=1, le=50)

    heartbeat_interval: float = Field(30.0, gt=0, le=3600)
    heartbeat_max_age: float = Field(120.0, gt=0, le=86400)
    heartbeat_file: Path | None = None  # default <data dir>/heartbeat; one per replica when several run
    # Seconds between checks for an index generation made current by another process (another replica).
    index_check_seconds: float = Field(10.0, gt=0, le=3600)
    # Answers stay on disk this long so their buttons work on any replica and after a restart (0: memory only)
    answers_keep_days: float = Field(7.0, ge=0, le=365)

    fetch_timeout: float = Field(defaults.FETCH_TIMEOUT, gt=0, le=300)
    fetch_max_bytes: int = Field(defaults.FETCH_MAX_BYTES, ge=10_000, le=100_000_000)
    # Whole-fetch limits in seconds: one page (redirects and robots.txt included); one feed with its entries.
    fetch_deadline: float = Field(defaults.FETCH_DEADLINE, gt=0, le=3600)
    feeds_deadline: float = Field(defaults.FEEDS_DEADLINE, gt=0, le=86400)
    # Let `footnote add` and feed syncs reach private and loopback addresses (tests, intranets).
    fetch_allow_private: bool = defaults.FETCH_ALLOW_PRIVATE
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feeds_interval_minutes: float = Field(60.0, ge=0, le=10_080)
    # feeds.json forgets an entry no feed has listed for this long, and a feed not synced for as long.
    feeds_keep_days: float = Field(defaults.FEEDS_KEEP_DAYS, gt=0, le=3650)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def heartbeat_path(self) -> Path:
        """The file the running bot touches every `heartbeat_interval` seconds."""
        return self.heartbeat_file or self.data_dir / "heartbeat"

    @model_validator(mode="before")
    @classmethod
    def _data_dir_beside_the_index(cls, values: object) -> object:
        """Without FOOTNOTE_DATA_DIR, the data folder is the index directory's parent (the old behaviour)."""
        if isinstance(values, dict) and values.get("data_dir") in (None, ""):
            index_dir = values.get("index_dir") or cls.model_fields["index_dir"].default
            values = {**values, "data_dir": Path(str(index_dir)).parent}
        return values

    _split_ids = field_validator("admin_ids", "allowed_ids", mode="before")(_int_list)

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        """Feed URLs separated by commas, spaces or new lines."""
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        """Channel usernames (with or without @, any case) or numeric ids, separated by commas or spaces."""
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list):
            names = []
            for part in value:
                name = str(part).strip().removeprefix("@").removeprefix("https://t.me/").lower()
                if not _CHANNEL.match(name):
                    raise ValueError(f"{str(part)[:40]!r} is neither a channel username nor a numeric id")
                names.append(name)
            return names
        return value

    @field_validator("chunk_max_words")
    @classmethod
    def _max_above_target(cls, value: int, info: object) -> int:
        target = getattr(info, "data", {}).get("chunk_target_words")
        if target is not None and value < target:
            raise ValueError(f"must be at least chunk_target_words ({target})")
        return value


DOCKER_SECRETS = Path("/run/secrets")


def load_settings(**overrides: object) -> Settings:
    """Build the settings (Docker secrets too, when /run/secrets exists), one line per bad setting."""
    if DOCKER_SECRETS.is_dir() and "_secrets_dir" not in overrides:
        overrides["_secrets_dir"] = DOCKER_SECRETS
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "FOOTNOTE_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("; ".join(lines)) from None
