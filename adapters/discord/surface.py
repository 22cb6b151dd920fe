"""The Discord surface: a discord.py client, its command tree, and the bridge to the core.

    surface = DiscordSurface(settings, core)        # core implements EventHandler.handle(event)
    await surface.start()                           # login, sync commands, connect the gateway
    ...
    port = surface.reply_port_for(chat_id, delivery)  # after a restart, from delivery_target(port)
    await surface.stop_receiving()                  # SIGTERM: new requests are turned away, sending goes on
    await surface.stop()

Intents: guilds, guild messages and direct messages, none privileged. Slash commands and the
"Add music" menu need no intent at all; mentions of the bot and DMs carry their content and
attachments without the Message Content intent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import discord
from discord import app_commands

from core.events import EventHandler, InboundEvent, MediaItem
from core.i18n import lang_of, say

from adapters.discord import commands
from adapters.discord.config import DiscordConfig
from adapters.discord.prefetch import Prefetcher
from adapters.discord.reply import Delivery, DiscordReplyPort
from adapters.discord.rest import RestTarget, redirect_gateway

log = logging.getLogger(__name__)


def bot_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True  # MESSAGE_CREATE for mentions (content arrives because we're mentioned)
    intents.dm_messages = True
    return intents


def guild_upload_limit(guild: Any) -> int:
    """What the bot may attach in a channel: the guild's boost level decides, DMs get the default."""
    limit = getattr(guild, "filesize_limit", None)
    return int(limit) if limit else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES


class _Client(discord.Client):
    def __init__(self, surface: "DiscordSurface") -> None:
        super().__init__(intents=bot_intents())
        self._surface = surface

    async def setup_hook(self) -> None:
        await self._surface.sync_commands()

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None:
            await commands.on_bot_message(self._surface, message, self.user.id)


class DiscordSurface:
    name = "discord"

    def __init__(self, settings: Any, handler: EventHandler | None = None, *, config: DiscordConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config or DiscordConfig.from_settings(settings)
        self.handler: EventHandler | None = None
        self._bound = asyncio.Event()
        self._logged_in = asyncio.Event()
        if handler is not None:
            self.bind(handler)
        self._clock = clock
        self.client = _Client(self)
        self.tree = app_commands.CommandTree(self.client)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        commands.register_commands(self.tree, self)
        self.prefetcher = Prefetcher(self.config.staging_dir, keep_for=self.config.staging_keep_for,
                                     max_prefetch_bytes=self.config.max_prefetch_bytes)
        self._rest = RestTarget(self.config.api_url)
        self._runner: asyncio.Task | None = None
        self.accepting = True  # False after stop_receiving(): commands.py turns new requests away

    def bind(self, handler: EventHandler) -> None:
        """Set the core later: the core wants its surfaces first (to resume jobs), the surface its core.
        Requests that arrive before this wait for it."""
        self.handler = handler
        self._bound.set()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (which syncs the commands), then keep the gateway connection in the background."""
        self._rest.apply()
        try:
            await self.prefetcher.start()
            await self.client.login(self.config.token)
            if self.config.api_url:
                await redirect_gateway(self.client)
            self._logged_in.set()
        except BaseException:
            await self.stop()
            raise
        self._runner = asyncio.create_task(self._run(), name="discord-gateway")

    async def wait_ready(self, timeout: float | None = 60.0) -> None:
        await asyncio.wait_for(self.client.wait_until_ready(), timeout)

    async def stop_receiving(self) -> None:
        """Take no new work, but stay connected: running work still delivers during the stop grace,
        and new slash commands, menu uses and mentions get "I'm restarting, try again in a minute"
        (an interaction cannot wait for the next start: Discord wants an answer within 3 s)."""
        self.accepting = False
        log.info("discord: new requests are turned away; sending goes on")

    async def stop(self) -> None:
        self.accepting = False
        await self.client.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        await self.prefetcher.close()
        self._rest.release()

    async def _run(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except discord.PrivilegedIntentsRequired:
            log.error("discord refused the connection: an intent is not enabled for this application")
        except discord.LoginFailure:
            log.error("discord refused the bot token")
        except Exception as error:
            log.error("discord gateway stopped: %s", type(error).__name__)

    async def sync_commands(self) -> None:
        if not self.config.sync_commands:
            return
        if self.config.guild_ids:
            for guild_id in self.config.guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("discord: %d commands synced to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("discord: %d commands synced globally (may take a while to show)", len(synced))

    # --- the bridge the command handlers use ---------------------------------------------------

    def port_for_interaction(self, interaction: discord.Interaction) -> DiscordReplyPort:
        channel_limit = guild_upload_limit(interaction.guild)
        delivery = Delivery(
            channel_id=int(interaction.channel_id or 0),
            filesize_limit=int(interaction.filesize_limit),  # the real limit, never a constant
            channel_filesize_limit=min(channel_limit, int(interaction.filesize_limit)),
            application_id=interaction.application_id,
            token=interaction.token,
            # Measured from receipt: the token's 15 minutes started a moment earlier, inside the margin.
            expires_at=self._clock() + self.config.token_lifetime,
            user_id=interaction.user.id,
            language=commands.locale_of(interaction),
        )
        return self._port(delivery, interaction)

    def port_for_message(self, message: discord.Message) -> DiscordReplyPort:
        limit = guild_upload_limit(message.guild)
        delivery = Delivery(
            channel_id=message.channel.id,
            filesize_limit=limit,
            channel_filesize_limit=limit,
            user_id=message.author.id,
            reply_to_message_id=message.id if commands.in_server(message) else None,
        )
        return self._port(delivery)

    def media_item(self, attachment: discord.Attachment) -> MediaItem:
        return self.prefetcher.media_item(attachment)

    async def dispatch(self, event: InboundEvent) -> None:
        await self._bound.wait()
        assert self.handler is not None
        await self.handler.handle(event)

    # --- restarts ------------------------------------------------------------------------------

    def reply_port_for(self, chat_id: str, delivery: dict) -> DiscordReplyPort:
        data = dict(delivery)
        data.setdefault("channel_id", int(chat_id))
        data.setdefault("filesize_limit", discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES)
        data.setdefault("channel_filesize_limit", discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES)
        return self._port(Delivery.from_dict(data))

    def _port(self, delivery: Delivery, interaction: discord.Interaction | None = None) -> DiscordReplyPort:
        return DiscordReplyPort(self.client, delivery, interaction=interaction,
                                token_margin=self.config.token_margin,
                                progress_interval=self.config.progress_interval, clock=self._clock,
                                ready=self._logged_in.wait, retry=self.config.retry_policy)

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("discord command failed: %s", type(getattr(error, "original", error)).__name__)
        text = say("generic_error", lang_of(commands.locale_of(interaction)))
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass
