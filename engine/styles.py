"""Music styles the engine can play, and what a user's words ask for.

A Style is a small recipe: tempo range, default mode, which General MIDI programs play which
role, how busy it is and how it grooves. `parse_prompt` reads English and Chinese wishes
("lo-fi, slower, music at 20%", "欢快一点 120bpm", "去掉音乐") into PromptWishes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Roles the composer knows: "chords" (comping), "pad" (held chords), "bass", "lead" (melody),
# "arp" (broken chords). Drums are a flag, always on MIDI channel 10.
# Render cost matters (a 60 s clip must synthesise in well under a second): in TimGM6mb the
# string ensembles (48/49), new-age pad (88), polysynth (90) and glockenspiel (9) cost 3-5x a
# guitar per note, so none of them comps or plays melody, and strings hold a two-note pad.


@dataclass(frozen=True)
class Style:
    name: str
    label: str
    tempo_range: tuple[float, float]  # BPM (min, max)
    mode: str  # default "major" or "minor"
    instruments: dict[str, int]  # role -> GM program (0-based)
    drums: bool
    density: float  # 0..1 how busy by default
    swing: float = 0.0  # 0 (straight) .. 0.33 (triplet feel), delays off-beat eighths
    mood: str = "calm"  # mood when nothing else says otherwise
    drum_kit: str = "pop"  # drum pattern family: pop, four, boom, lofi, brush, cinematic
    bass_pattern: str = "roots"  # whole, roots, pulse, synco, walk
    chord_pattern: str = "comp"  # hold, comp, strum, arp, stabs
    sevenths: bool = False  # jazzier chords (lofi, hip-hop)
    velocity: int = 80  # base MIDI velocity
    keys: tuple[str, ...] = ("C", "D", "F", "G", "A")  # tonics the seed picks from
    alternates: dict[str, tuple[int, ...]] = field(default_factory=dict)  # role -> other programs


STYLES: dict[str, Style] = {
    "lofi": Style(
        name="lofi", label="Lo-fi", tempo_range=(70, 90), mode="major",
        instruments={"chords": 4, "bass": 33, "lead": 11},
        drums=True, density=0.5, swing=0.18, mood="calm", drum_kit="lofi",
        bass_pattern="synco", chord_pattern="comp", sevenths=True, velocity=72,
        keys=("C", "D", "Eb", "F", "A"), alternates={"chords": (4, 5, 0), "lead": (11, 73, 26)},
    ),
    "cinematic": Style(
        name="cinematic", label="Cinematic", tempo_range=(64, 100), mode="minor",
        instruments={"pad": 49, "arp": 0, "bass": 43, "lead": 60},
        drums=True, density=0.55, mood="epic", drum_kit="cinematic",
        bass_pattern="whole", chord_pattern="hold", velocity=82,
        keys=("D", "C", "E", "A", "G"), alternates={"lead": (60, 40, 61), "pad": (49, 52), "arp": (0, 46)},
    ),
    "upbeat": Style(
        name="upbeat", label="Upbeat pop", tempo_range=(108, 128), mode="major",
        instruments={"chords": 1, "bass": 33, "lead": 80, "pad": 89},
        drums=True, density=0.75, mood="happy", drum_kit="pop",
        bass_pattern="pulse", chord_pattern="stabs", velocity=92,
        keys=("C", "D", "E", "G", "A"), alternates={"chords": (1, 0, 27), "lead": (80, 81, 62)},
    ),
    "ambient": Style(
        name="ambient", label="Calm ambient", tempo_range=(60, 80), mode="major",
        instruments={"pad": 89, "arp": 46, "bass": 89},
        drums=False, density=0.25, mood="calm", drum_kit="brush",
        bass_pattern="whole", chord_pattern="hold", velocity=64,
        keys=("C", "D", "E", "F", "A"), alternates={"pad": (89, 94), "arp": (46, 11, 8)},
    ),
    "acoustic": Style(
        name="acoustic", label="Acoustic", tempo_range=(84, 110), mode="major",
        instruments={"chords": 25, "bass": 32, "lead": 73},
        drums=True, density=0.5, swing=0.08, mood="happy", drum_kit="brush",
        bass_pattern="roots", chord_pattern="strum", velocity=80,
        keys=("G", "D", "C", "A", "E"), alternates={"chords": (25, 24), "lead": (73, 24, 22)},
    ),
    "electronic": Style(
        name="electronic", label="Electronic", tempo_range=(118, 128), mode="minor",
        instruments={"chords": 80, "bass": 38, "lead": 81, "pad": 89},
        drums=True, density=0.85, mood="energetic", drum_kit="four",
        bass_pattern="pulse", chord_pattern="stabs", velocity=96,
        keys=("A", "F", "G", "C", "D"), alternates={"chords": (80, 84), "lead": (81, 80, 84), "bass": (38, 39)},
    ),
    "piano": Style(
        name="piano", label="Solo piano", tempo_range=(66, 96), mode="major",
        instruments={"arp": 0, "bass": 0, "lead": 0},
        drums=False, density=0.4, mood="calm", drum_kit="brush",
        bass_pattern="roots", chord_pattern="arp", velocity=80,
        keys=("C", "F", "G", "D", "Eb"), alternates={},
    ),
    "hiphop": Style(
        name="hiphop", label="Hip-hop", tempo_range=(84, 98), mode="minor",
        instruments={"chords": 4, "bass": 38, "lead": 11},
        drums=True, density=0.6, swing=0.22, mood="energetic", drum_kit="boom",
        bass_pattern="synco", chord_pattern="comp", sevenths=True, velocity=88,
        keys=("C", "D", "F", "G", "A"), alternates={"chords": (4, 0, 5), "lead": (11, 73, 80)},
    ),
    "sad": Style(
        name="sad", label="Sad", tempo_range=(60, 78), mode="minor",
        instruments={"arp": 0, "pad": 49, "bass": 42, "lead": 40},
        drums=False, density=0.3, mood="sad", drum_kit="brush",
        bass_pattern="whole", chord_pattern="arp", velocity=66,
        keys=("A", "D", "E", "C", "F#"), alternates={"lead": (40, 0, 71), "pad": (49, 52)},
    ),
    "happy": Style(
        name="happy", label="Happy", tempo_range=(100, 124), mode="major",
        instruments={"chords": 24, "bass": 33, "lead": 12},
        drums=True, density=0.65, mood="happy", drum_kit="pop",
        bass_pattern="roots", chord_pattern="strum", velocity=88,
        keys=("C", "D", "F", "G", "A"), alternates={"lead": (12, 72, 11), "chords": (24, 25, 0)},
    ),
}

# Other names people use for the same styles.
ALIASES: dict[str, str] = {
    "lo-fi": "lofi", "lo fi": "lofi", "pop": "upbeat", "calm": "ambient", "chill": "lofi",
    "hip-hop": "hiphop", "hip hop": "hiphop", "rap": "hiphop", "edm": "electronic",
    "epic": "cinematic", "film": "cinematic", "movie": "cinematic", "guitar": "acoustic",
    "folk": "acoustic", "electro": "electronic", "techno": "electronic", "joyful": "happy",
    "melancholy": "sad", "relaxing": "ambient", "peaceful": "ambient",
}


def resolve_style(name: str | None) -> str | None:
    """A STYLES key for a style name or alias ("Lo-Fi", "pop", "hip hop"); None when unknown."""
    if not name:
        return None
    key = re.sub(r"[\s_]+", " ", name.strip().lower())
    if key in STYLES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    squashed = key.replace(" ", "").replace("-", "")
    if squashed in STYLES:
        return squashed
    return ALIASES.get(squashed)


@dataclass(frozen=True)
class PromptWishes:
    style: str | None = None  # STYLES key
    mood: str | None = None  # happy, sad, calm, energetic, dark, dreamy, epic
    tempo: float | None = None  # explicit BPM
    pace: str | None = None  # "slow" | "fast"
    volume: float | None = None  # 0..1 absolute music level
    volume_change: str | None = None  # "quieter" | "louder" when asked relatively
    no_music: bool = False
    instruments: tuple[str, ...] = ()  # piano, guitar, strings, synth, flute, bass, drums, no_drums


# Keyword tables: (keyword, value). English keywords match whole words (with an optional
# plural/comparative ending); Chinese ones match as substrings. Longer keywords win, so
# "欢快" (upbeat) is not also read as "快" (fast), nor "不要鼓" as "鼓".
_STYLE_WORDS: list[tuple[str, str]] = [
    ("lo-fi", "lofi"), ("lofi", "lofi"), ("lo fi", "lofi"), ("chillhop", "lofi"), ("低保真", "lofi"),
    ("cinematic", "cinematic"), ("epic", "cinematic"), ("film score", "cinematic"), ("soundtrack", "cinematic"),
    ("orchestral", "cinematic"), ("电影", "cinematic"), ("史诗", "cinematic"), ("大片", "cinematic"),
    ("upbeat", "upbeat"), ("pop", "upbeat"), ("欢快", "upbeat"), ("流行", "upbeat"), ("轻快", "upbeat"),
    ("ambient", "ambient"), ("calm", "ambient"), ("peaceful", "ambient"), ("relaxing", "ambient"),
    ("平静", "ambient"), ("氛围", "ambient"), ("安静", "ambient"), ("舒缓", "ambient"),
    ("acoustic", "acoustic"), ("folk", "acoustic"), ("原声", "acoustic"), ("民谣", "acoustic"),
    ("electronic", "electronic"), ("edm", "electronic"), ("techno", "electronic"),
    ("电子", "electronic"),
    ("piano", "piano"), ("钢琴", "piano"),
    ("hip-hop", "hiphop"), ("hiphop", "hiphop"), ("hip hop", "hiphop"), ("rap", "hiphop"), ("嘻哈", "hiphop"),
    ("说唱", "hiphop"),
    ("sad", "sad"), ("melancholy", "sad"), ("melancholic", "sad"), ("悲伤", "sad"), ("伤感", "sad"),
    ("难过", "sad"), ("忧伤", "sad"),
    ("happy", "happy"), ("joyful", "happy"), ("cheerful", "happy"), ("开心", "happy"), ("快乐", "happy"),
    ("高兴", "happy"), ("愉快", "happy"),
    ("guitar", "acoustic"), ("吉他", "acoustic"),
]
# Styles named by a genre beat styles that are really a mood ("sad lo-fi" is lo-fi, mood sad);
# instrument and mood-ish words ("piano", "calm") only pick the style when no genre is named, but
# still beat the pure mood styles ("sad piano" is solo piano in a sad mood).
_MOOD_STYLES = {"sad", "happy"}
_WEAK_STYLE_WORDS = {"guitar", "吉他", "piano", "钢琴", "calm", "peaceful", "relaxing", "epic", "平静", "安静"}

_MOOD_WORDS: list[tuple[str, str]] = [
    ("sad", "sad"), ("melancholy", "sad"), ("melancholic", "sad"), ("悲伤", "sad"), ("伤感", "sad"),
    ("难过", "sad"), ("忧伤", "sad"),
    ("happy", "happy"), ("joyful", "happy"), ("cheerful", "happy"), ("开心", "happy"), ("快乐", "happy"),
    ("高兴", "happy"), ("愉快", "happy"), ("欢快", "happy"),
    ("calm", "calm"), ("chill", "calm"), ("peaceful", "calm"), ("relaxing", "calm"), ("relaxed", "calm"),
    ("平静", "calm"), ("放松", "calm"), ("安静", "calm"), ("舒缓", "calm"),
    ("energetic", "energetic"), ("energy", "energetic"), ("exciting", "energetic"), ("hype", "energetic"),
    ("激情", "energetic"), ("动感", "energetic"), ("燃", "energetic"),
    ("dark", "dark"), ("scary", "dark"), ("tense", "dark"), ("spooky", "dark"), ("黑暗", "dark"),
    ("紧张", "dark"), ("恐怖", "dark"),
    ("dreamy", "dreamy"), ("梦幻", "dreamy"),
    ("epic", "epic"), ("史诗", "epic"), ("宏大", "epic"),
]

_PACE_WORDS: list[tuple[str, str]] = [
    ("slow", "slow"), ("slower", "slow"), ("slowly", "slow"), ("mellow", "slow"), ("慢", "slow"),
    ("fast", "fast"), ("faster", "fast"), ("quick", "fast"), ("quicker", "fast"), ("speedy", "fast"),
    ("speed up", "fast"), ("more energy", "fast"), ("快", "fast"), ("快速", "fast"), ("激烈", "fast"), ("加快", "fast"),
    ("放慢", "slow"),
]

_INSTRUMENT_WORDS: list[tuple[str, str]] = [
    ("piano", "piano"), ("钢琴", "piano"), ("guitar", "guitar"), ("吉他", "guitar"),
    ("strings", "strings"), ("string", "strings"), ("violin", "strings"), ("cello", "strings"),
    ("弦乐", "strings"), ("小提琴", "strings"), ("大提琴", "strings"),
    ("synth", "synth"), ("synths", "synth"), ("合成器", "synth"),
    ("flute", "flute"), ("长笛", "flute"), ("笛子", "flute"),
    ("bass", "bass"), ("贝斯", "bass"),
    ("drums", "drums"), ("drum", "drums"), ("鼓", "drums"), ("鼓点", "drums"),
    ("no drums", "no_drums"), ("without drums", "no_drums"), ("no drum", "no_drums"),
    ("不要鼓", "no_drums"), ("没有鼓", "no_drums"), ("去掉鼓", "no_drums"), ("无鼓", "no_drums"),
]

_NO_MUSIC_WORDS: list[str] = [
    "no music", "without music", "remove music", "remove the music", "mute music", "mute the music",
    "music off", "turn off music", "turn off the music", "no background music", "no bgm", "remove bgm",
    "original sound only", "original audio only", "drop the music", "don't add music", "do not add music",
    "without any music", "no soundtrack",
    "去掉音乐", "不要音乐", "去除音乐", "删除音乐", "删掉音乐", "无音乐", "关掉音乐", "关闭音乐", "不要背景音乐",
    "去掉背景音乐", "去掉配乐", "不要配乐", "只要原声", "静音音乐",
]

_QUIETER = ["quieter", "softer", "lower the music", "turn down", "less loud", "小声", "轻一点", "小一点",
            "降低音乐", "音乐小", "调低"]
_LOUDER = ["louder", "turn up", "more music", "大声", "响一点", "大一点", "音乐大", "调高", "提高音乐"]

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _normalise(text: str) -> str:
    """Lower case, full-width digits/percent to ASCII, punctuation to spaces (keep - % . for words/numbers)."""
    text = text.lower()
    text = text.translate({ord(c): ord(c) - 0xFEE0 for c in "０１２３４５６７８９％．"})
    text = re.sub(r"[，。！？、；：,!?;:()\[\]{}\"'“”‘’/\\|~`*+=<>#@&^]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _pattern(keyword: str) -> re.Pattern[str]:
    keyword = _normalise(keyword)  # "don't" is matched as the text will read: "don t"
    if _CJK.search(keyword):
        return re.compile(re.escape(keyword))
    # Whole words; a space in the keyword also matches "-" or nothing ("lo fi", "lo-fi", "lofi").
    body = r"[\s\-]?".join(re.escape(part) for part in keyword.split(" "))
    return re.compile(r"(?<![a-z0-9])" + body + r"(?:s|es)?(?![a-z0-9])")


_TABLES: dict[str, list[tuple[str, str]]] = {
    "style": _STYLE_WORDS,
    "mood": _MOOD_WORDS,
    "pace": _PACE_WORDS,
    "instrument": _INSTRUMENT_WORDS,
    "no_music": [(w, "yes") for w in _NO_MUSIC_WORDS],
    "volume_change": [(w, "quieter") for w in _QUIETER] + [(w, "louder") for w in _LOUDER],
}
# Longest keywords first across all tables, so longer phrases mask their pieces.
_ALL_RULES: list[tuple[str, str, str, re.Pattern[str]]] = sorted(
    ((table, kw, value, _pattern(kw)) for table, rows in _TABLES.items() for kw, value in rows),
    key=lambda rule: -len(rule[1]),
)


def _find_keywords(text: str) -> list[tuple[int, str, str, str]]:
    """(position, table, keyword, value) for every keyword; a span matched by a longer keyword
    of another meaning is masked, but the same span may serve several tables (e.g. "sad" is a style
    and a mood)."""
    hits: list[tuple[int, str, str, str]] = []
    claimed: list[tuple[int, int, str]] = []  # (start, end, keyword) of accepted matches
    for table, keyword, value, pattern in _ALL_RULES:
        for match in pattern.finditer(text):
            start, end = match.span()
            inside_other = any(
                s <= start and end <= e and (e - s) > (end - start) and kw != keyword for s, e, kw in claimed
            )
            if inside_other:
                continue
            claimed.append((start, end, keyword))
            hits.append((start, table, keyword, value))
    hits.sort()
    return hits


_BPM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute|拍每分钟|拍/分)")
_BPM_AFTER = re.compile(r"(?:tempo|bpm|节奏|速度|节拍)\s*(?:of|at|to|=|is)?\s*(\d{2,3}(?:\.\d+)?)(?!\s*%)")
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|pct\b)")
_VOLUME_NUM = re.compile(r"(?:volume|音量)\s*(?:of|at|to|=|is)?\s*(0?\.\d+|1\.0|\d{1,3})(?![\d.])")


def parse_prompt(text: str | None) -> PromptWishes:
    """Read a user's music wishes from free text in English or Chinese."""
    if not text or not text.strip():
        return PromptWishes()
    norm = _normalise(text)

    tempo = None
    match = _BPM.search(norm) or _BPM_AFTER.search(norm)
    if match:
        value = float(match.group(1))
        if 40 <= value <= 240:
            tempo = value

    volume = None
    match = _PERCENT.search(norm)
    if match:
        volume = min(1.0, max(0.0, float(match.group(1)) / 100.0))
    else:
        match = _VOLUME_NUM.search(norm)
        if match:
            value = float(match.group(1))
            volume = min(1.0, value if value <= 1.0 else value / 100.0)

    hits = _find_keywords(norm)
    strong_styles = [v for _, t, kw, v in hits if t == "style" and kw not in _WEAK_STYLE_WORDS]
    genre_styles = [s for s in strong_styles if s not in _MOOD_STYLES]
    weak_styles = [v for _, t, kw, v in hits if t == "style" and kw in _WEAK_STYLE_WORDS]
    style = (genre_styles or weak_styles or strong_styles or [None])[0]

    moods = [v for _, t, _, v in hits if t == "mood"]
    paces = [v for _, t, _, v in hits if t == "pace"]
    instruments: list[str] = []
    for _, table, _, value in hits:
        if table == "instrument" and value not in instruments:
            instruments.append(value)
    if "no_drums" in instruments and "drums" in instruments:
        instruments.remove("drums")
    changes = [v for _, t, _, v in hits if t == "volume_change"]

    return PromptWishes(
        style=style,
        mood=moods[0] if moods else None,
        tempo=tempo,
        pace=paces[-1] if paces else None,
        volume=volume,
        volume_change=changes[-1] if changes and volume is None else None,
        no_music=any(t == "no_music" for _, t, _, _ in hits),
        instruments=tuple(instruments),
    )
