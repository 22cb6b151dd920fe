"""Platform presets: the caps each destination needs, and a helpful error for unknown names."""

from __future__ import annotations

import pytest

from engine.errors import EngineError
from engine.presets import PRESETS, get_preset


def test_chat_presets_stay_under_the_platform_upload_limits():
    assert get_preset("telegram").max_bytes <= 50 * 1000 * 1000  # Bot API: 50 MB
    assert get_preset("discord").max_bytes <= 10 * 1024 * 1024  # default attachment limit: 10 MiB


@pytest.mark.parametrize("name", ["tiktok", "reels", "shorts"])
def test_short_video_presets_are_portrait_full_hd(name):
    preset = get_preset(name)
    assert preset.aspect == (9, 16)
    assert sorted((preset.max_width, preset.max_height)) == [1080, 1920]
    assert preset.loudness_lufs == -14.0


def test_youtube_has_no_byte_cap_and_no_forced_shape():
    preset = get_preset("youtube")
    assert preset.max_bytes is None
    assert preset.aspect is None


def test_names_are_forgiving_about_case_and_spaces():
    assert get_preset(" TikTok ") is PRESETS["tiktok"]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(EngineError) as caught:
        get_preset("myspace")
    message = str(caught.value)
    for name in PRESETS:
        assert name in message
    assert "\n" not in message


def test_every_preset_names_itself():
    for name, preset in PRESETS.items():
        assert preset.name == name
