"""The rule-based editing agent behind /run_sse (English and Chinese).

It reads one user message, decides which edits it asks for (music, music volume, no music,
titles, trim), applies them to a copy of the session's edit, and says what it did. It never
talks to the network; the chat handler streams its plan as ADK events.
"""

from __future__ import annotations

import copy
import random
import re
from dataclasses import dataclass, field

from backend import engine_bridge
from backend.draft import trim_window

_NUM = r"(\d+(?:\.\d+)?)"
_SEC = r"\s*(?:s|sec|secs|second|seconds)\b"
_CJK = re.compile(r"[\u4e00-\u9fff]")

_QUOTED_TITLE = re.compile(
    r"(?:title|caption|heading|标题|字幕)\s*(?:text\s*)?(?:to\s*|:|：|=|为|是|改成|叫)?\s*"
    r"[\"“”'‘’「『《]([^\"“”'‘’」』》]+)[\"“”'‘’」』》]", re.I)
_BARE_TITLE_EN = re.compile(
    r"\btitle\s+(?:text\s+)?(?:to\s+)?([A-Za-z][^\d\"“,.;!]*?)(?=\s+(?:for|at|from|starting|lasting|and)\b|[,.;!]|$)", re.I)
_BARE_TITLE_ZH = re.compile(r"标题(?:为|是|改成|叫|：|:)?\s*([^\s，,。！!0-9\"“]+?)(?=\s|，|,|。|持续|显示|从|在|$)")
_TITLE_FOR_EN = re.compile(r"\bfor\s+" + _NUM + _SEC, re.I)
_TITLE_AT_EN = re.compile(r"\b(?:at|from|starting at|starting from|after)\s+" + _NUM + _SEC, re.I)
_TITLE_FOR_ZH = re.compile(r"(?:持续|显示|时长|共|停留)\s*" + _NUM + r"\s*秒")
_TITLE_AT_ZH = re.compile(r"(?:从|在)\s*第?\s*" + _NUM + r"\s*秒")
_BARE_SECONDS_ZH = re.compile(_NUM + r"\s*秒")
_REMOVE_TITLE = re.compile(r"\b(?:remove|delete|drop|clear)\b[^.]{0,15}\btitles?\b|(?:去掉|删除|删掉|移除|不要)\S{0,3}(?:标题|字幕)", re.I)

_TRIM_RANGE = re.compile(r"\b(?:trim|cut|keep)\b[^.]*?\bfrom\s+" + _NUM + r"\s*(?:s|sec|seconds?)?\s*(?:to|-|until)\s*" + _NUM + _SEC, re.I)
_TRIM_KEEP = [re.compile(r"\b(?:trim|cut|shorten|make)\b[^.\d%]{0,25}?\bto\s+" + _NUM + _SEC, re.I),
              re.compile(r"\b(?:keep|only)\b[^.\d]{0,15}\bfirst\s+" + _NUM + _SEC, re.I),
              re.compile(r"(?:剪|裁|截|缩短)(?:剪|切)?(?:到|成|至|为)\s*" + _NUM + r"\s*秒"),
              re.compile(r"只?保留前\s*" + _NUM + r"\s*秒")]
_TRIM_FIRST = [re.compile(r"\b(?:cut|trim|remove|drop|skip|delete)\s+(?:off\s+)?(?:the\s+)?first\s+" + _NUM + _SEC, re.I),
               re.compile(r"(?:剪掉|去掉|删掉|删除|裁掉|切掉|去除)(?:开头|最前面)?的?前\s*" + _NUM + r"\s*秒"),
               re.compile(r"(?:剪掉|去掉|删掉|删除|裁掉|切掉|去除)开头的?\s*" + _NUM + r"\s*秒")]
_TRIM_LAST = [re.compile(r"\b(?:cut|trim|remove|drop|skip|delete)\s+(?:off\s+)?(?:the\s+)?(?:last|final)\s+" + _NUM + _SEC, re.I),
              re.compile(r"(?:剪掉|去掉|删掉|删除|裁掉|切掉|去除)(?:最后|结尾|末尾|后)的?\s*" + _NUM + r"\s*秒")]

_PERCENT = re.compile(_NUM + r"\s*(?:%|％|percent)", re.I)
_VOLUME_FRACTION = re.compile(r"\bvolume\b\D{0,10}?\b(0?\.\d+|1\.0|1)\b(?!\s*%)", re.I)
_VOLUME_CONTEXT = re.compile(r"music|volume|bgm|soundtrack|level|音乐|音量|配乐|背景", re.I)
_LOUDER = re.compile(r"\blouder\b|\bturn (?:it |the music )?up\b|\bmore music\b|大声|调高|大一点|响一点|调大", re.I)
_QUIETER = re.compile(r"\bquieter\b|\bsofter\b|\bturn (?:it |the music )?down\b|\bless music\b|小声|调低|小一点|轻一点|调小", re.I)

_REMOVE_MUSIC = re.compile(
    r"\b(?:remove|delete|drop|no|without|mute|turn off|get rid of|kill)\b[^.]{0,20}?\b(?:music|bgm|soundtrack|song)\b"
    r"|(?:去掉|删除|删掉|不要|移除|关掉|取消|去除)\S{0,4}(?:音乐|配乐|背景乐|BGM)", re.I)
_MUSIC_WORD = re.compile(r"\b(?:music|song|soundtrack|bgm|beat|tune|melody|track)\b|音乐|配乐|背景乐|歌|曲|BGM", re.I)
_MUSIC_VERB = re.compile(
    r"\b(?:add|change|switch|swap|different|another|new|generate|put|give|use|want|need|make|try|pick|choose|compose)\b"
    r"|加|添|换|配上|配个|来一?[段首个]|生成|给|要|用|改", re.I)
_AUTO = re.compile(r"match|fits?\b|suits?\b|automatic|auto\b|mood of (?:my|the) video|自动|匹配|适合|符合", re.I)
_NEW_TAKE = re.compile(r"\b(?:different|another|new|other|change|switch|swap)\b|换", re.I)

VOLUME_STEP = 0.15
DEFAULT_VOLUME = 0.35  # what "louder"/"quieter" start from when the level is automatic


@dataclass
class ToolCall:
    name: str
    args: dict
    result: dict


@dataclass
class TurnPlan:
    language: str  # "en" or "zh"
    reply: str
    calls: list[ToolCall] = field(default_factory=list)
    new_edit: dict | None = None  # None: nothing changes
    cost: int = 0


def language_of(text: str, session_language: str | None = None) -> str:
    if _CJK.search(text):
        return "zh"
    return "en"


def plan_turn(text: str, edit: dict, uploads: dict[str, dict], music_cost: int = 1,
              rng: random.Random | None = None) -> TurnPlan:
    rng = rng or random.Random()
    lang = language_of(text)
    say = _Say(lang)
    residual = text
    ops: list[dict] = []
    lines: list[str] = []
    new = copy.deepcopy(edit)
    window = trim_window(edit, uploads)

    # Titles first: their quoted words must not be read as music wishes ("Happy Days").
    title = _find_title(text)
    if title:
        residual = residual.replace(title[0], " ")
        text_, start, duration = title[1], title[2], title[3]
        length = window[1] - window[0]
        start = min(start, max(length - 0.5, 0.0))
        duration = min(duration, max(length - start, 0.5))
        new["titles"].append({"text": text_, "start": start, "duration": duration})
        ops.append({"op": "add_title", "text": text_, "start": start, "duration": duration})
        lines.append(say.title(text_, start, duration))
    elif _REMOVE_TITLE.search(text):
        residual = _REMOVE_TITLE.sub(" ", residual)
        new["titles"] = []
        ops.append({"op": "remove_titles"})
        lines.append(say.titles_removed())

    trim = _find_trim(residual, window)
    if trim:
        residual = residual.replace(trim[0], " ")
        start, end = trim[1], trim[2]
        if end - start < 0.5:
            return TurnPlan(lang, say.trim_too_short())
        new["trim_start"], new["trim_end"] = start, end
        ops.append({"op": "trim", "start": start, "end": end})
        lines.append(say.trimmed(start, end))

    remove = _REMOVE_MUSIC.search(residual)
    wishes = None
    if not remove:
        wishes = engine_bridge.parse_music_wishes(residual) if residual.strip() else engine_bridge.MusicWishes()
    if remove or (wishes and wishes.no_music and not _MUSIC_VERB.search(residual)):
        if remove:
            residual = residual.replace(remove.group(0), " ")
        new["music"] = None
        ops.append({"op": "remove_music"})
        lines.append(say.music_removed())
        wishes = None

    volume, volume_text = _find_volume(residual, (edit.get("music") or {}).get("volume"))
    if volume is None and wishes and wishes.volume is not None and _VOLUME_CONTEXT.search(residual):
        volume, volume_text = float(wishes.volume), ""
    if volume_text:
        residual = residual.replace(volume_text, " ")

    music_call = None
    if wishes is not None:
        wants_music = bool(_MUSIC_WORD.search(residual) and _MUSIC_VERB.search(residual))
        has_wish = bool(wishes.style or wishes.mood or wishes.tempo or wishes.pace or wishes.instruments)
        if wants_music or has_wish or (volume is not None and not edit.get("music")):
            music_call = _music_change(residual, wishes, edit.get("music"), rng, lang)
            new["music"] = music_call.result["music"]
            lines.insert(0, say.music(new["music"]))
    if volume is not None:
        volume = round(min(max(volume, 0.0), 1.0), 3)
        new["music"] = dict(new["music"] or {}) if new.get("music") else None
        if new["music"] is not None:
            new["music"]["volume"] = volume
            ops.append({"op": "set_volume", "volume": volume})
            lines.append(say.volume(volume))

    if not ops and music_call is None:
        return TurnPlan(lang, say.help())
    if not edit["videos"]:
        return TurnPlan(lang, say.need_video())
    calls = []
    if music_call is not None:
        calls.append(music_call)
    if ops:
        calls.append(ToolCall("edit_multitrack", {"operations": ops}, {"status": "success", "applied": len(ops)}))
    return TurnPlan(lang, " ".join(lines), calls, new, music_cost if music_call else 0)


def _music_change(text: str, wishes, old: dict | None, rng: random.Random, lang: str) -> ToolCall:
    old = old or {}
    auto = bool(_AUTO.search(text)) and not wishes.style
    style = None if auto else (wishes.style or old.get("style"))
    mood = wishes.mood or (None if auto or wishes.style else old.get("mood"))
    tempo = wishes.tempo or (None if wishes.style or wishes.pace else old.get("tempo"))
    prompt = text.strip() or old.get("prompt")
    if not (wishes.style or wishes.mood or wishes.tempo or wishes.pace) and old.get("prompt") and not auto:
        prompt = old.get("prompt")  # "another song": same wishes, new take
    music = {
        "label": engine_bridge.style_label(style) if style else "Auto",
        "style": style, "mood": mood, "tempo": tempo,
        "seed": rng.randint(1, 2**31 - 1),
        "volume": old.get("volume"),
        "auto": style is None,
        "pace": wishes.pace,
        "prompt": prompt,
    }
    args = {"prompt": prompt, "style": style, "mood": mood, "tempo": tempo, "auto": style is None}
    result_music = {k: v for k, v in music.items() if v is not None}
    return ToolCall("generate_music", {k: v for k, v in args.items() if v is not None},
                    {"status": "success", "music": music, "summary": result_music.get("label")})


def _find_title(text: str) -> tuple[str, str, float, float] | None:
    """(matched text, title, start s, duration s) or None."""
    match = _QUOTED_TITLE.search(text) or _BARE_TITLE_EN.search(text) or _BARE_TITLE_ZH.search(text)
    if not match or not match.group(1).strip():
        return None
    title = match.group(1).strip()
    rest = text[:match.start()] + " " + text[match.end():]
    start = _first_number([_TITLE_AT_EN, _TITLE_AT_ZH], rest, 0.0)
    duration = _first_number([_TITLE_FOR_EN, _TITLE_FOR_ZH], rest, None)
    if duration is None and _CJK.search(text):
        secs = [float(m.group(1)) for m in _BARE_SECONDS_ZH.finditer(_TITLE_AT_ZH.sub(" ", rest))]
        duration = secs[0] if secs else None
    return match.group(0), title, start, duration if duration is not None else 3.0


def _first_number(patterns, text: str, default):
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return float(m.group(1))
    return default


def _find_trim(text: str, window: tuple[float, float]) -> tuple[str, float, float] | None:
    start, end = window
    m = _TRIM_RANGE.search(text)
    if m:
        return m.group(0), float(m.group(1)), float(m.group(2))
    for pattern in _TRIM_KEEP:
        m = pattern.search(text)
        if m:
            return m.group(0), start, min(end, start + float(m.group(1)))
    for pattern in _TRIM_FIRST:
        m = pattern.search(text)
        if m:
            return m.group(0), start + float(m.group(1)), end
    for pattern in _TRIM_LAST:
        m = pattern.search(text)
        if m:
            return m.group(0), start, end - float(m.group(1))
    return None


def _find_volume(text: str, current: float | None) -> tuple[float | None, str]:
    m = _PERCENT.search(text)
    if m and _VOLUME_CONTEXT.search(text):
        return float(m.group(1)) / 100.0, m.group(0)
    m = _VOLUME_FRACTION.search(text)
    if m:
        return float(m.group(1)), m.group(0)
    base = current if current is not None else DEFAULT_VOLUME
    m = _LOUDER.search(text)
    if m:
        return base + VOLUME_STEP, m.group(0)
    m = _QUIETER.search(text)
    if m:
        return base - VOLUME_STEP, m.group(0)
    return None, ""


def _secs(value: float) -> str:
    return f"{value:g}"


class _Say:
    """The agent's replies in the user's language."""

    def __init__(self, lang: str) -> None:
        self.zh = lang == "zh"

    def music(self, music: dict) -> str:
        if music.get("auto"):
            pace = {"fast": ("faster", "更快"), "slow": ("slower", "更慢")}.get(music.get("pace") or "")
            if self.zh:
                return "已添加与视频氛围相匹配的背景音乐" + (f"，节奏{pace[1]}" if pace else "") + "。"
            return "Added background music that matches the mood of your video" + (
                f", with a {pace[0]} pace" if pace else "") + "."
        bits = [music["label"]]
        if music.get("mood"):
            bits.append(music["mood"])
        if music.get("tempo"):
            bits.append(f"{music['tempo']:g} BPM")
        desc = ", ".join(bits)
        return f"已换成背景音乐：{desc}。" if self.zh else f"Set the background music to {desc}."

    def volume(self, v: float) -> str:
        pct = round(v * 100)
        return f"音乐音量已设为 {pct}%。" if self.zh else f"Music volume set to {pct}%."

    def music_removed(self) -> str:
        return "已去掉背景音乐，只保留原声。" if self.zh else "Removed the background music; only the original sound stays."

    def title(self, text: str, start: float, duration: float) -> str:
        if self.zh:
            return f"已添加标题“{text}”，从 {_secs(start)} 秒开始，持续 {_secs(duration)} 秒。"
        return f"Added the title “{text}” at {_secs(start)}s for {_secs(duration)}s."

    def titles_removed(self) -> str:
        return "已去掉标题。" if self.zh else "Removed the titles."

    def trimmed(self, start: float, end: float) -> str:
        if self.zh:
            return f"已剪辑为 {_secs(start)}–{_secs(end)} 秒（共 {_secs(round(end - start, 3))} 秒）。"
        return f"Trimmed the video to {_secs(start)}s–{_secs(end)}s ({_secs(round(end - start, 3))}s long)."

    def trim_too_short(self) -> str:
        return "这样剪辑后视频就没有内容了，请换个时长试试。" if self.zh else \
            "That trim would leave almost nothing of the video; try a different length."

    def need_video(self) -> str:
        return "请先上传一个视频，我再来编辑。" if self.zh else "Please upload a video first, then I can edit it."

    def help(self) -> str:
        if self.zh:
            return ("这个我还做不到。我可以：添加或更换背景音乐（风格、情绪、速度）、调整音乐音量（如“音乐音量 20%”）、"
                    "去掉音乐、添加标题（如 标题“城市之梦” 3秒）、剪辑时长（如“剪到10秒”“去掉前2秒”）。")
        return ("I can't do that one yet. I can add or change background music (style, mood, tempo), set the music "
                "volume (\"music at 20%\"), remove the music, add a title ('title \"Urban Dreams\" for 3s') and trim "
                "(\"trim to 10s\", \"cut the first 2 seconds\").")
