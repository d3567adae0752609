"""Settings for Footnote (pydantic-settings, `FOOTNOTE_*` variables, optional `.env`)."""

from config.settings import EmbedderName, Settings, SettingsError, load_settings

__all__ = ["EmbedderName", "Settings", "SettingsError", "load_settings"]
