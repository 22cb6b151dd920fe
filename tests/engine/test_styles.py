"""Prompt words (English and Chinese) and the style table."""

import pytest

from engine.styles import STYLES, parse_prompt, resolve_style


def test_style_table_has_every_named_style():
    for name in ("lofi", "cinematic", "upbeat", "ambient", "acoustic", "electronic", "piano", "hiphop", "sad", "happy"):
        style = STYLES[name]
        lo, hi = style.tempo_range
        assert 40 <= lo < hi <= 200
        assert style.mode in ("major", "minor")
        assert style.instruments and all(0 <= p <= 127 for p in style.instruments.values())


@pytest.mark.parametrize(
    "text, style",
    [
        ("make it Lo-Fi please", "lofi"),
        ("lofi", "lofi"),
        ("低保真风格", "lofi"),
        ("something EPIC!!", "cinematic"),
        ("电影感的配乐", "cinematic"),
        ("史诗", "cinematic"),
        ("pop", "upbeat"),
        ("欢快一点", "upbeat"),
        ("流行", "upbeat"),
        ("calm, ambient", "ambient"),
        ("平静的氛围", "ambient"),
        ("acoustic guitar", "acoustic"),
        ("原声吉他", "acoustic"),
        ("EDM", "electronic"),
        ("电子音乐", "electronic"),
        ("just piano", "piano"),
        ("钢琴", "piano"),
        ("hip-hop beat", "hiphop"),
        ("hip hop", "hiphop"),
        ("嘻哈", "hiphop"),
        ("sad", "sad"),
        ("悲伤", "sad"),
        ("伤感一点", "sad"),
        ("happy vibes", "happy"),
        ("开心", "happy"),
        ("快乐的", "happy"),
    ],
)
def test_style_words(text, style):
    assert parse_prompt(text).style == style


def test_genre_beats_mood_and_mood_is_kept():
    wishes = parse_prompt("sad lo-fi with piano")
    assert (wishes.style, wishes.mood) == ("lofi", "sad")
    assert "piano" in wishes.instruments
    assert parse_prompt("我想要伤感的电影配乐").style == "cinematic"
    assert parse_prompt("我想要伤感的电影配乐").mood == "sad"


def test_tempo_and_pace():
    assert parse_prompt("90 bpm").tempo == 90
    assert parse_prompt("cinematic, 90BPM.").tempo == 90
    assert parse_prompt("tempo 100").tempo == 100
    assert parse_prompt("欢快 120bpm").tempo == 120
    assert parse_prompt("slower please").pace == "slow"
    assert parse_prompt("FAST!").pace == "fast"
    assert parse_prompt("慢一点").pace == "slow"
    assert parse_prompt("快一点").pace == "fast"
    # "快" inside "快乐"/"欢快" means happy/upbeat, not fast.
    assert parse_prompt("快乐").pace is None
    assert parse_prompt("欢快").pace is None


def test_volume():
    assert parse_prompt("music at 20%").volume == pytest.approx(0.2)
    assert parse_prompt("音乐 20%").volume == pytest.approx(0.2)
    assert parse_prompt("音乐３０％").volume == pytest.approx(0.3)
    assert parse_prompt("volume 0.5").volume == pytest.approx(0.5)
    quieter = parse_prompt("a bit quieter")
    assert quieter.volume is None and quieter.volume_change == "quieter"
    assert parse_prompt("音乐大声一点").volume_change == "louder"


@pytest.mark.parametrize("text", ["no music", "Remove the music!", "去掉音乐", "不要音乐", "without music please"])
def test_no_music(text):
    assert parse_prompt(text).no_music is True


def test_plain_text_asks_for_nothing():
    wishes = parse_prompt("here is my holiday video")
    assert wishes.style is None and wishes.mood is None and wishes.tempo is None
    assert not wishes.no_music and wishes.volume is None
    assert parse_prompt(None) == parse_prompt("") == parse_prompt("   ")


def test_drum_wishes():
    assert parse_prompt("hip hop, no drums").instruments == ("no_drums",)
    assert parse_prompt("不要鼓").instruments == ("no_drums",)
    assert "drums" in parse_prompt("add some drums").instruments


def test_resolve_style_aliases():
    assert resolve_style("Lo-Fi") == "lofi"
    assert resolve_style("pop") == "upbeat"
    assert resolve_style("calm") == "ambient"
    assert resolve_style("Hip Hop") == "hiphop"
    assert resolve_style("polka") is None


def test_more_ways_of_saying_it():
    assert parse_prompt("Don't add music!").no_music is True
    assert parse_prompt("music at 30 percent").volume == pytest.approx(0.3)
    assert parse_prompt("speed up").pace == "fast"
    assert parse_prompt("放慢一点").pace == "slow"
    no_drums = parse_prompt("no drums, music at 20%")
    assert no_drums.no_music is False and no_drums.volume == pytest.approx(0.2)
