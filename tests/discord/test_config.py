"""Settings -> DiscordConfig: the environment names operators use, and no token in any repr."""

from __future__ import annotations

import pytest

from adapters.discord import DiscordConfig
from bots.settings import Settings


def test_guild_ids_come_comma_separated_and_the_token_stays_hidden(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "very-secret-token")
    monkeypatch.setenv("DISCORD_GUILD_IDS", "111, 222")
    monkeypatch.setenv("DISCORD_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AIWM_DATA_DIR", str(tmp_path / "data"))
    config = DiscordConfig.from_settings(Settings())
    assert config.guild_ids == [111, 222] and config.api_url == "http://127.0.0.1:9"
    assert config.staging_dir == tmp_path / "data" / "tmp" / "discord"
    assert config.token == "very-secret-token" and "very-secret-token" not in repr(config)


def test_without_a_token_there_is_no_discord_surface(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    with pytest.raises(ValueError, match="DISCORD_BOT_TOKEN"):
        DiscordConfig.from_settings(Settings())
