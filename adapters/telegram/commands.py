"""The command menu Telegram shows next to the message box (setMyCommands), English and Chinese."""

from __future__ import annotations

from telegram import BotCommand

MENU: list[tuple[str, str, str]] = [
    ("music", "Add music to a video (send or reply to a clip)", "为视频配乐（发送或回复一段视频）"),
    ("export", "Render and send the video", "导出并发送视频"),
    ("status", "What is in the video now", "查看当前内容"),
    ("credits", "Your credit balance", "查看积分"),
    ("cancel", "Stop the current work", "取消当前任务"),
    ("new", "Start over with a new session", "重新开始"),
    ("help", "How to use the bot", "使用帮助"),
    ("start", "Welcome", "开始"),
]


def menu(language: str = "en") -> list[BotCommand]:
    return [BotCommand(name, zh if language == "zh" else en) for name, en, zh in MENU]
