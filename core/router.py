"""The intent router: decides what a message asks for before anything talks to the backend.

Commands (`/export`, `/music@MyBot`...) and a few plain-language intents in English and Chinese
are handled by the core itself; everything else is a turn for the backend's editing agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Intent(str, Enum):
    START = "start"
    HELP = "help"
    MUSIC = "music"  # a clip to add music to (the one-shot flow), with optional instructions
    EXPORT = "export"
    STATUS = "status"
    CREDITS = "credits"
    CANCEL = "cancel"
    NEW = "new"
    UPLOAD = "upload"  # a clip to add to the session without the one-shot flow
    TURN = "turn"  # free text for the backend's agent
    IGNORE = "ignore"  # nothing for us (empty text, group chatter)


@dataclass(frozen=True)
class Routed:
    intent: Intent
    text: str  # the instruction that remains (command arguments, caption...)


COMMANDS = {
    "start": Intent.START,
    "help": Intent.HELP,
    "music": Intent.MUSIC,
    "export": Intent.EXPORT,
    "status": Intent.STATUS,
    "credits": Intent.CREDITS,
    "cancel": Intent.CANCEL,
    "stop": Intent.CANCEL,
    "new": Intent.NEW,
    "reset": Intent.NEW,
    "upload": Intent.UPLOAD,
}

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z_]+)(?:@\w+)?(?:\s+(?P<rest>.*))?$", re.DOTALL)

# Whole-message intents. Each pattern must match the whole (trimmed, lower-cased) message, so
# "export" routes to export while "make the export brighter" still goes to the agent.
_PHRASES: list[tuple[Intent, re.Pattern[str]]] = [
    (Intent.EXPORT, re.compile(
        r"^(please\s+)?(export|render|download|finish|done|send( it| me)?( the)?( final)?( video)?|"
        r"send (me )?the video|give me the video|export (it|the video|now|please)|"
        r"导出|导出视频|下载|下载视频|完成|发给我|把视频发给我|发送视频)[\s!.。！]*(please)?$"
    )),
    (Intent.CREDITS, re.compile(
        r"^(my\s+)?(credits?|balance|how many credits( do i have)?|积分|余额|我的积分|剩余积分|还有多少积分)[\s?？!.。]*$"
    )),
    (Intent.STATUS, re.compile(
        r"^(status|state|show( me)?( the)? tracks|what'?s in (it|the video|my video)|timeline|"
        r"状态|查看状态|进度|时间线|查看轨道)[\s?？!.。]*$"
    )),
    (Intent.CANCEL, re.compile(r"^(cancel|stop|abort|取消|停止|停)[\s!.。！]*$")),
    (Intent.NEW, re.compile(r"^(new|start over|reset|new (session|project|video)|重新开始|新项目|重置)[\s!.。！]*$")),
    (Intent.HELP, re.compile(r"^(help|\?|what can you do\??|帮助|怎么用|你能做什么[？?]?)[\s!.。！]*$")),
    (Intent.UPLOAD, re.compile(r"^(upload|上传)[\s!.。！]*$")),
]


def route(text: str | None, *, has_media: bool, command: str | None = None) -> Routed:
    """Classify one message. `command` is a command the platform already parsed (Discord)."""
    text = (text or "").strip()
    if command:
        intent = COMMANDS.get(command.lower().lstrip("/"), Intent.TURN)
        return Routed(intent, text)
    match = _COMMAND.match(text)
    if match:
        name = match.group("name").lower()
        rest = (match.group("rest") or "").strip()
        intent = COMMANDS.get(name)
        if intent is None:
            # An unknown command is not for the agent: answer with help rather than guess.
            return Routed(Intent.HELP, rest)
        if intent is Intent.UPLOAD and has_media:
            return Routed(Intent.UPLOAD, rest)
        return Routed(intent, rest)
    if has_media:
        # A clip with or without a caption: the caption is the instruction.
        return Routed(Intent.MUSIC, text)
    if not text:
        return Routed(Intent.IGNORE, "")
    lowered = text.lower()
    for intent, pattern in _PHRASES:
        if pattern.match(lowered):
            return Routed(intent, "")
    return Routed(Intent.TURN, text)
