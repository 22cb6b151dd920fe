"""The Telegram surface: a python-telegram-bot Application that turns messages into core events.

    surface = TelegramSurface.from_settings(settings)      # or TelegramSurface(config, core)
    core = Core(..., surfaces={"telegram": surface})       # the core wants its surfaces first
    surface.bind(core)                                      # the EventHandler
    await core.start(); await surface.start()               # polling, or webhook if TELEGRAM_WEBHOOK_URL
    ...
    port = surface.reply_port_for(chat_id, delivery)   # resume a delivery after a restart
    await surface.stop_receiving()                     # SIGTERM: no new updates, sending goes on
    await surface.stop()

Updates are processed concurrently and every event is handed to the core in its own task, so one
chat's long render never delays another chat (the core queues work per chat).
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.request import HTTPXRequest
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from adapters.telegram.albums import AlbumCollector
from adapters.telegram.commands import menu
from adapters.telegram.config import TelegramConfig
from adapters.telegram.flood import RetryingRateLimiter, StatusAwareRequest
from adapters.telegram.inbound import Draft, read_message
from adapters.telegram.reply import TelegramReplyPort
from adapters.telegram.updates import TolerantBot
from adapters.telegram.webhook import WebhookServer
from core.events import EventHandler, InboundEvent
from core.i18n import lang_of, say

log = logging.getLogger(__name__)

SURFACE = "telegram"


def build_application(config: TelegramConfig) -> Application:
    """A PTB Application wired for this bot: its Bot API server, limits, timeouts, flood control."""
    # httpx logs every request URL at INFO, and Telegram URLs carry the bot token.
    for name in ("httpx", "httpcore"):
        if logging.getLogger(name).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
    # Every call but getUpdates: 5xx answers become a retryable ServerError (see flood.py).
    request = StatusAwareRequest(connection_pool_size=64, connect_timeout=15, read_timeout=30, write_timeout=30,
                                 media_write_timeout=config.media_timeout)
    # getUpdates parses each update on its own, so one PTB can't read never stalls polling (updates.py).
    bot = TolerantBot(
        token=config.token,
        base_url=config.api_url,
        base_file_url=config.file_url,
        local_mode=config.local_mode,
        # Flood limits, and retries of 429 bursts, 5xx and dropped connections (flood.py).
        rate_limiter=RetryingRateLimiter(config.retry_policy),
        request=request,
        get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=config.poll_timeout + 10),
    )
    builder = ApplicationBuilder().bot(bot).concurrent_updates(True)
    if config.uses_webhook:
        builder = builder.updater(None)  # updates come from our WebhookServer
    return builder.build()


class TelegramSurface:
    name = SURFACE

    def __init__(self, config: TelegramConfig, handler: EventHandler | None = None) -> None:
        self.config = config
        self.handler = handler  # may be bound later with bind(), before start()
        self.application = build_application(config)
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self.application.add_error_handler(self._on_error)
        self._albums = AlbumCollector(self._deliver, wait=config.album_wait, max_wait=config.album_max_wait)
        self._tasks: set[asyncio.Task] = set()
        self._webhook: WebhookServer | None = None
        self._running = False
        self._receiving = False  # taking updates; False once stop_receiving() ran
        self._ready = asyncio.Event()  # set when the bot is connected; resumed ports wait for it

    @classmethod
    def from_settings(cls, settings: object, handler: EventHandler | None = None,
                      **overrides: object) -> "TelegramSurface":
        return cls(TelegramConfig.from_settings(settings, **overrides), handler)

    def bind(self, handler: EventHandler) -> None:
        """Set the core after construction (the core itself wants its surfaces when it is built)."""
        self.handler = handler

    @property
    def bot(self):
        return self.application.bot

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (None when polling)."""
        return self._webhook.port if self._webhook is not None else None

    async def start(self) -> None:
        if self.handler is None:
            raise RuntimeError("bind() an event handler before starting the Telegram surface")
        app = self.application
        await app.initialize()  # getMe: learns the bot's id and username
        await self._register_commands()
        await app.start()
        if self.config.uses_webhook:
            secret = self.config.with_webhook_secret()
            self._webhook = WebhookServer(app, url=self.config.webhook_url or "", listen=self.config.webhook_listen,
                                          port=self.config.webhook_port, secret=secret)
            await self._webhook.start()
            await app.bot.set_webhook(self.config.webhook_url or "", secret_token=secret,
                                      allowed_updates=[Update.MESSAGE])
        else:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=self.config.poll_timeout,
                                            allowed_updates=[Update.MESSAGE])
        self._running = True
        self._receiving = True
        self._ready.set()
        log.info("telegram bot @%s is up (%s)", app.bot.username,
                 "webhook" if self.config.uses_webhook else "polling")

    async def stop_receiving(self, settle: float = 5.0) -> None:
        """Take no new updates, but keep sending: running work still answers during the stop grace.

        Polling: the updater stops and confirms what it fetched, so later messages stay at Telegram
        and come again after the restart. Webhook: the server closes, so Telegram keeps retrying
        them. Every update already taken reaches the core, albums still gathering included; then
        up to `settle` seconds go to the core accepting them (it queues them, so a drain sees them).
        """
        if not self._receiving:
            return
        self._receiving = False
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if self._webhook is not None:
            await self._webhook.stop()  # waits for posts in flight: they are in the update queue
        if app.running:
            await app.update_queue.join()  # every update taken has been through _on_message
        await self._albums.flush()
        if self._tasks and settle > 0:
            await asyncio.wait(set(self._tasks), timeout=settle)
        log.info("telegram: no new updates taken; sending goes on")

    async def stop(self) -> None:
        app = self.application
        if self._running:
            await self.stop_receiving(settle=0)
            self._running = False
            self._ready.clear()
            await app.stop()
        await self._settle_tasks()
        await app.shutdown()

    def reply_port_for(self, chat_id: str, delivery: dict) -> TelegramReplyPort:
        """Rebuild a chat's reply port from what `delivery_target()` once returned."""
        return TelegramReplyPort(
            self.application.bot,
            int(delivery.get("chat_id", chat_id)),
            self.config,
            is_group=bool(delivery.get("is_group", False)),
            reply_to=delivery.get("reply_to"),
            thread_id=delivery.get("thread_id"),
            ready=self._ready,
        )

    # --- updates -----------------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        draft = read_message(message, self.application.bot, self.config)
        if draft is None:
            return
        if draft.album_id is not None:
            self._albums.add(draft)  # addressing is decided on the whole album
            if not self._receiving:
                await self._albums.flush()  # stopping: nothing more of it will come
            return
        await self._deliver(draft)

    async def _deliver(self, draft: Draft) -> None:
        if not draft.addressed:
            return  # group chatter: not for us
        if not draft.text and not draft.media and draft.command is None:
            draft.command = "help"  # a bare mention, a location, a contact...: say what we do
        event = self._event(draft)
        task = asyncio.create_task(self._handle(event), name=f"telegram-event-{draft.chat_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _event(self, draft: Draft) -> InboundEvent:
        port = TelegramReplyPort(
            self.application.bot, draft.chat_id, self.config, is_group=draft.is_group,
            reply_to=draft.message_id if draft.is_group else None, thread_id=draft.thread_id,
        )
        return InboundEvent(
            surface=SURFACE,
            chat_id=str(draft.chat_id),
            user_id=str(draft.user_id),
            reply=port,
            text=draft.text,
            media=draft.media,
            is_group=draft.is_group,
            addressed_to_bot=True,
            language=draft.language,
            user_name=draft.user_name,
            message_id=str(draft.message_id),
            command=draft.command,
        )

    async def _handle(self, event: InboundEvent) -> None:
        try:
            assert self.handler is not None
            await self.handler.handle(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The core answers its own errors; this is the last line, so the chat is never left silent.
            log.exception("telegram event handler failed")
            try:
                await event.reply.send_text(say("generic_error", lang_of(event.language, event.text)))
            except TelegramError as error:
                log.warning("telegram could not report an error: %s", type(error).__name__)

    async def _settle_tasks(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.config.stop_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _register_commands(self) -> None:
        bot = self.application.bot
        try:
            await bot.set_my_commands(menu("en"))
            await bot.set_my_commands(menu("zh"), language_code="zh")
        except TelegramError as error:
            log.warning("telegram setMyCommands failed: %s", type(error).__name__)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None and chat.type == "private" and update.effective_user is not None:
            # A private message we failed to read: say so rather than stay silent.
            try:
                lang = lang_of(update.effective_user.language_code)
                await self.application.bot.send_message(chat.id, say("generic_error", lang))
            except TelegramError:
                pass
        # Network errors can quote a request URL, and those carry the token.
        text = str(error).replace(self.config.token, "***")
        log.warning("telegram error: %s: %s", type(error).__name__, text)
