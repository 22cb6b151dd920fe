"""The slash commands, the "Add music" message command and the mention handler.

Each handler is a plain function over a small `Bridge` (make a reply port, turn an attachment
into a media item, pass an event to the core), so unit tests can drive them with fakes. The
rule for interactions: answer within Discord's 3 seconds. Bad input gets an ephemeral line at
once; everything else is deferred ("thinking…") before anything slow happens, and the core's
answers then replace the placeholder and follow it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable, Protocol

import discord
from discord import app_commands

from core.events import InboundEvent, MediaItem
from core.i18n import kind_name, lang_of, say
from core.ports import ReplyPort

from adapters.discord.prefetch import is_video

log = logging.getLogger(__name__)

SURFACE = "discord"
# Commands that only pass an intent to the core: name -> description shown in Discord.
SIMPLE_COMMANDS = {
    "export": "Render the video and send it here",
    "status": "Show what is in the video now",
    "credits": "Show your credit balance",
    "cancel": "Stop the current work",
    "new": "Start over with a new session",
    "help": "How to use this bot",
}
ADD_MUSIC_MENU = "Add music"


class Bridge(Protocol):
    def port_for_interaction(self, interaction: Any) -> ReplyPort: ...

    def port_for_message(self, message: Any) -> ReplyPort: ...

    def media_item(self, attachment: Any) -> MediaItem: ...

    async def dispatch(self, event: InboundEvent) -> None: ...

    # False once the bot is stopping (SIGTERM): new requests get "try again in a minute".
    accepting: bool


def _stopping(bridge: Bridge) -> bool:
    return not getattr(bridge, "accepting", True)


def locale_of(interaction: Any) -> str | None:
    locale = getattr(interaction, "locale", None)
    return getattr(locale, "value", None) or (str(locale) if locale else None)


def interaction_event(interaction: Any, port: ReplyPort, *, command: str, text: str = "",
                      media: Iterable[MediaItem] = ()) -> InboundEvent:
    user = interaction.user
    return InboundEvent(
        surface=SURFACE,
        chat_id=str(interaction.channel_id),  # one backend session per channel, DMs included
        user_id=str(user.id),
        reply=port,
        text=text,
        media=list(media),
        is_group=interaction.guild_id is not None,
        addressed_to_bot=True,
        language=locale_of(interaction),
        user_name=getattr(user, "display_name", None) or getattr(user, "name", None),
        command=command,
    )


async def _refuse(interaction: Any, text: str) -> None:
    """An immediate, private answer: only the person who asked sees it."""
    await interaction.response.send_message(text, ephemeral=True)


async def _hand_over(bridge: Bridge, interaction: Any, **event_args: Any) -> None:
    port = bridge.port_for_interaction(interaction)
    event = interaction_event(interaction, port, **event_args)
    try:
        await bridge.dispatch(event)
    except Exception:
        log.exception("discord: the core failed on /%s", event.command)
        await port.send_text(say("generic_error", lang_of(event.language)))


async def music_command(bridge: Bridge, interaction: Any, video: Any, prompt: str | None) -> None:
    lang = lang_of(locale_of(interaction), prompt)
    if _stopping(bridge):
        await _refuse(interaction, say("restarting_try_later", lang))
        return
    if video is None or not hasattr(video, "filename"):
        await _refuse(interaction, say("need_clip", lang))
        return
    if not is_video(video):
        # The option's file filter only looks at the extension; the declared type decides here.
        await _refuse(interaction, say("not_video", lang, kind=kind_name("document", lang)))
        return
    await interaction.response.defer(thinking=True)
    item = bridge.media_item(video)  # starts the download now: the signed URL expires
    await _hand_over(bridge, interaction, command="music", text=(prompt or "").strip(), media=[item])


async def simple_command(bridge: Bridge, interaction: Any, name: str) -> None:
    if _stopping(bridge):
        # Interactions can't wait at Discord for the next start: they must be answered in 3 s.
        await _refuse(interaction, say("restarting_try_later", lang_of(locale_of(interaction))))
        return
    await interaction.response.defer(thinking=True)
    await _hand_over(bridge, interaction, command=name)


async def add_music_menu(bridge: Bridge, interaction: Any, message: Any) -> None:
    lang = lang_of(locale_of(interaction))
    if _stopping(bridge):
        await _refuse(interaction, say("restarting_try_later", lang))
        return
    videos = [a for a in getattr(message, "attachments", []) if is_video(a)]
    if not videos:
        await _refuse(interaction, say("need_clip", lang))
        return
    await interaction.response.defer(thinking=True)
    items = [bridge.media_item(a) for a in videos]
    await _hand_over(bridge, interaction, command="music", media=items)


_MENTION = re.compile(r"<@!?(\d+)>")


def strip_mentions(content: str, bot_id: int) -> str:
    text = _MENTION.sub(lambda m: "" if int(m.group(1)) == bot_id else m.group(0), content or "")
    return re.sub(r"\s{2,}", " ", text).strip()


def in_server(message: Any) -> bool:
    """A server channel (even one discord.py has not cached yet), not a DM."""
    return message.guild is not None or getattr(message.channel, "guild_id", None) is not None


def is_for_bot(message: Any, bot_id: int) -> bool:
    """A DM to the bot, or a server message that mentions it by name (not @everyone)."""
    if message.author.bot:
        return False
    if not in_server(message):
        return True
    return any(user.id == bot_id for user in message.mentions)


async def on_bot_message(bridge: Bridge, message: Any, bot_id: int) -> None:
    if not is_for_bot(message, bot_id):
        return
    text = strip_mentions(message.content, bot_id)
    port = bridge.port_for_message(message)
    if _stopping(bridge):
        # Messages are not delivered again either; a reply is the most private answer they allow.
        await port.send_text(say("restarting_try_later", lang_of(None, text)))
        return
    event = InboundEvent(
        surface=SURFACE,
        chat_id=str(message.channel.id),
        user_id=str(message.author.id),
        reply=port,
        text=text,
        media=[bridge.media_item(a) for a in message.attachments],
        is_group=in_server(message),
        addressed_to_bot=True,
        language=None,  # messages carry no locale; the core reads the text
        user_name=getattr(message.author, "display_name", None),
        message_id=str(message.id),
    )
    try:
        await bridge.dispatch(event)
    except Exception:
        log.exception("discord: the core failed on a message")
        await port.send_text(say("generic_error", lang_of(None, text)))


class _VideoOptionCommand(app_commands.Command):
    """discord.py 2.7 has no `file_types` on attachment options yet; add it to what we sync."""

    def to_dict(self, tree: app_commands.CommandTree) -> dict[str, Any]:
        data = super().to_dict(tree)
        for option in data.get("options", []):
            if option.get("type") == discord.AppCommandOptionType.attachment.value:
                option["file_types"] = ["video"]
        return data


def register_commands(tree: app_commands.CommandTree, bridge: Bridge) -> None:
    @app_commands.describe(video="A video clip (MP4, MOV, WebM, MKV or AVI)",
                           prompt="What music you want, e.g. \"calm piano\" (optional)")
    async def music(interaction: discord.Interaction, video: discord.Attachment, prompt: str | None = None) -> None:
        await music_command(bridge, interaction, video, prompt)

    tree.add_command(_VideoOptionCommand(name="music", description="Add music that fits your video",
                                         callback=music))

    for name, description in SIMPLE_COMMANDS.items():
        tree.add_command(app_commands.Command(name=name, description=description,
                                              callback=_simple_callback(bridge, name)))

    async def add_music(interaction: discord.Interaction, message: discord.Message) -> None:
        await add_music_menu(bridge, interaction, message)

    tree.add_command(app_commands.ContextMenu(name=ADD_MUSIC_MENU, callback=add_music))


def _simple_callback(bridge: Bridge, name: str):
    async def callback(interaction: discord.Interaction) -> None:
        await simple_command(bridge, interaction, name)

    return callback
