"""The Telegram bot: a thin layer over `index` (python-telegram-bot v22)."""
