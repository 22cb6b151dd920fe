"""Make backend text fit a chat: the agent was written for a web editor with buttons.

It says "click Export" or "preview in the timeline"; in a chat the user types instead. This
module rewrites those GUI words into chat words and drops known noise.
"""

from __future__ import annotations

import re

# (pattern, English replacement, Chinese replacement). Order matters: longer phrases first.
_GUI_PHRASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(click|press|tap|hit)\s+(on\s+)?(the\s+)?[\"'“]?export[\"'”]?(\s+button)?", re.I), 'say "export"'),
    (re.compile(r"\b(click|press|tap|hit)\s+(on\s+)?(the\s+)?[\"'“]?download[\"'”]?(\s+button)?", re.I), 'say "export"'),
    (re.compile(r"\bpreview (it )?in the timeline\b", re.I), 'say "status" to see the timeline'),
    (re.compile(r"\b(open|check) the timeline\b", re.I), 'say "status"'),
    (re.compile(r"\bdrag (and drop )?(it |the (clip|file|video) |your (clip|file|video)s? )?(into|onto|to) the (timeline|editor)\b", re.I), "send it here"),
    (re.compile(r"\bdrag (and drop )?(your |the )?(file|video|clip)s?\b", re.I), "send the clip here"),
    (re.compile(r"\b(click|press|tap)\s+(on\s+)?(the\s+)?[\"'“]?(\w+)[\"'”]?\s+button\b", re.I), r'say "\4"'),
    (re.compile(r"\bopen (the )?(editor|workspace)\b", re.I), "keep chatting here"),
    (re.compile(r"点击\s*[「“\"]?导出[」”\"]?(按钮)?"), "发送\"导出\""),
    (re.compile(r"点击\s*[「“\"]?下载[」”\"]?(按钮)?"), "发送\"导出\""),
    (re.compile(r"在时间线(中|上)?预览"), "发送\"状态\"查看时间线"),
    (re.compile(r"打开时间线"), "发送\"状态\""),
    (re.compile(r"(将|把)?(文件|视频)?拖(拽|动)?(到|进|入)(时间线|编辑器)(中|里)?"), "直接发送到这里"),
    (re.compile(r"打开编辑器"), "继续在这里聊天"),
]

_TEMPORARY_ISSUE = re.compile(r"\s*I encountered a temporary issue[^\n]*$", re.I)


def chat_words(text: str) -> str:
    """Rewrite web-editor instructions into what a chat user can do."""
    for pattern, replacement in _GUI_PHRASES:
        text = pattern.sub(replacement, text)
    return text


def drop_noise(text: str, *, turn_did_work: bool) -> str:
    """Drop the trailing "I encountered a temporary issue" when the turn already did its work."""
    if turn_did_work:
        text = _TEMPORARY_ISSUE.sub("", text)
    return text.strip()


def for_chat(text: str, *, turn_did_work: bool) -> str:
    return chat_words(drop_noise(text, turn_did_work=turn_did_work))
