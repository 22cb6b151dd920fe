"""One Telegram message -> what the core needs to know about it (a draft of an InboundEvent).

Groups: the bot answers only when addressed — a command for it (`/music`, `/music@ThisBot`), a
reply to one of its messages, or an @mention (entity `mention` of its username, or a
`text_mention` of its user). Everything else in a group is chatter: the adapter drops it and the
handler is never called (so events always carry addressed_to_bot=True).

`/music` (or `/upload`, or an @mention in a group) sent as a reply to someone's clip takes that
clip as its media; a reply to the bot's own video does not (that is a follow-up, not a new clip).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Bot, Message, MessageEntity
from telegram.constants import ChatType

from adapters.telegram.config import TelegramConfig
from adapters.telegram.media import media_of
from core.events import MediaItem
from core.router import COMMANDS

# Commands that take a clip: with no clip of their own, they use the replied-to message's.
_CLIP_COMMANDS = {"music", "upload"}


@dataclass
class Draft:
    chat_id: int
    user_id: int
    message_id: int
    is_group: bool
    addressed: bool
    text: str = ""
    command: str | None = None
    media: list[MediaItem] = field(default_factory=list)
    language: str | None = None
    user_name: str | None = None
    thread_id: int | None = None
    album_id: str | None = None


def read_message(message: Message, bot: Bot, config: TelegramConfig) -> Draft | None:
    """The draft for a message, or None when it is nothing the bot can use (a service message)."""
    user = message.from_user
    if user is None or user.is_bot:
        return None  # service messages and other bots (including our own echoes)
    chat = message.chat
    is_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    raw = _clean(message.text if message.text is not None else (message.caption or ""))
    entities = message.entities if message.text is not None else message.caption_entities
    username = (bot.username or "").lower()

    mentioned = _mentions_bot(raw, entities, username, bot.id)
    command, rest, command_for_us = _command(raw, entities, username)
    replied = message.reply_to_message
    reply_to_bot = bool(replied and replied.from_user and replied.from_user.id == bot.id)

    if command is not None and not command_for_us:
        return None  # `/cmd@OtherBot`: not ours, in any chat
    addressed = (not is_group) or command is not None or reply_to_bot or mentioned

    text = rest if command is not None else raw
    if mentioned:
        text = _strip_mention(text, username)
    known = command if command in COMMANDS else None
    if command is not None and known is None:
        text = raw.strip()  # an unknown command: the router answers with help

    media = media_of(message, bot, config)
    if not media and replied is not None and not reply_to_bot:
        if known in _CLIP_COMMANDS or (is_group and mentioned and command is None):
            media = media_of(replied, bot, config)

    return Draft(
        chat_id=chat.id,
        user_id=user.id,
        message_id=message.message_id,
        is_group=is_group,
        addressed=addressed,
        text=text.strip(),
        command=known,
        media=media,
        language=user.language_code,
        user_name=user.full_name or user.username,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        album_id=message.media_group_id,
    )


def _clean(text: str) -> str:
    """Lone UTF-16 surrogates (a JSON "\\ud800" escape decodes to one) become U+FFFD.

    They can't be encoded, so entity slicing and every later encode would fail; one unit each
    either way, so entity offsets still line up.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _mentions_bot(text: str, entities, username: str, bot_id: int) -> bool:
    for entity in entities or ():
        if entity.type == MessageEntity.MENTION and username:
            if _entity_text(text, entity).lstrip("@").lower() == username:
                return True
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
    return False


def _command(text: str, entities, username: str) -> tuple[str | None, str, bool]:
    """(command name, the text after it, whether it is for this bot) for a leading bot command."""
    for entity in entities or ():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            word = _entity_text(text, entity)
            name, _, target = word[1:].partition("@")
            return name.lower(), _after(text, entity).strip(), (not target or target.lower() == username)
    return None, text, True


def _entity_text(text: str, entity: MessageEntity) -> str:
    # Entity offsets count UTF-16 code units, not Python characters.
    encoded = text.encode("utf-16-le")
    return encoded[entity.offset * 2:(entity.offset + entity.length) * 2].decode("utf-16-le")


def _after(text: str, entity: MessageEntity) -> str:
    encoded = text.encode("utf-16-le")
    return encoded[(entity.offset + entity.length) * 2:].decode("utf-16-le")


def _strip_mention(text: str, username: str) -> str:
    if not username:
        return text
    lowered = text.lower()
    needle = "@" + username
    index = lowered.find(needle)
    while index != -1:
        text = text[:index] + text[index + len(needle):]
        lowered = text.lower()
        index = lowered.find(needle)
    return " ".join(text.split()) if "\n" not in text else text.strip()
