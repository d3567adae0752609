"""The Telegram bot: a thin layer over `index` (python-telegram-bot v22)."""

import os

# Opt in to python-telegram-bot's future timedelta values (retry_after…) and skip its deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")
