"""Settings: FOOTNOTE_* variables, id lists, one clear line per bad value, secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings
from tests.helpers import make_settings


def test_defaults() -> None:
    settings = make_settings()
    assert settings.seeds_dir == Path("seeds")
    assert settings.index_dir == Path("data/index")
    assert settings.embedder == "auto"
    assert settings.bot_token is None and settings.admin_ids == []


def test_environment_with_prefix_and_comma_separated_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOTNOTE_SEEDS_DIR", "/srv/articles")
    monkeypatch.setenv("FOOTNOTE_ADMIN_IDS", "1, 22,333")
    monkeypatch.setenv("FOOTNOTE_ALLOWED_IDS", "-100123")
    settings = load_settings(_env_file=None)
    assert settings.seeds_dir == Path("/srv/articles")
    assert settings.admin_ids == [1, 22, 333]
    assert settings.allowed_ids == [-100123]


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FOOTNOTE_TOP_K=7\nFOOTNOTE_BOT_TOKEN=1:abc\n", encoding="utf-8")
    settings = load_settings(_env_file=env_file)
    assert settings.top_k == 7
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == "1:abc"
    assert "1:abc" not in repr(settings)


def test_bad_values_name_the_setting_and_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOTNOTE_BOT_TOKEN", "123:TOPSECRET")
    monkeypatch.setenv("FOOTNOTE_TOP_K", "0")
    monkeypatch.setenv("FOOTNOTE_EMBEDDER", "gpt")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "FOOTNOTE_TOP_K" in message and "FOOTNOTE_EMBEDDER" in message
    assert "TOPSECRET" not in message and "\n" not in message


def test_chunk_budget_must_exceed_the_target() -> None:
    with pytest.raises(SettingsError, match="FOOTNOTE_CHUNK_MAX_WORDS"):
        load_settings(_env_file=None, chunk_target_words=200, chunk_max_words=100)


def test_settings_are_frozen() -> None:
    settings = make_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.top_k = 3  # type: ignore[misc]


def test_docker_secrets_are_read_from_files(tmp_path: Path) -> None:
    (tmp_path / "footnote_bot_token").write_text("42:FROM-A-SECRET\n", encoding="utf-8")
    settings = load_settings(_env_file=None, _secrets_dir=tmp_path)
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == "42:FROM-A-SECRET"


def test_the_data_folder_defaults_to_the_index_directorys_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_settings().data_dir == Path("data")
    monkeypatch.setenv("FOOTNOTE_INDEX_DIR", "/srv/footnote/index")
    settings = load_settings(_env_file=None)
    assert settings.data_dir == Path("/srv/footnote"), "existing installs keep their feedback and answers"
    assert settings.heartbeat_path == Path("/srv/footnote/heartbeat")


def test_footnote_data_dir_puts_the_data_apart_from_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOTNOTE_INDEX_DIR", "/var/idx")
    monkeypatch.setenv("FOOTNOTE_DATA_DIR", "/var/lib/footnote")
    settings = load_settings(_env_file=None)
    assert settings.index_dir == Path("/var/idx") and settings.data_dir == Path("/var/lib/footnote")
    assert settings.heartbeat_path == Path("/var/lib/footnote/heartbeat"), "nothing is written into /var"
    assert make_settings(index_dir=Path("/x/index"), data_dir=Path("/y")).data_dir == Path("/y")
