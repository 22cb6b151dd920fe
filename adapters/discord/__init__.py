"""The Discord surface (discord.py 2.x): slash commands, an "Add music" message command and
mentions, turned into core events; replies through the interaction, or the channel when late."""

from adapters.discord.config import DiscordConfig
from adapters.discord.reply import Delivery, DiscordReplyPort
from adapters.discord.surface import DiscordSurface

__all__ = ["DiscordConfig", "DiscordSurface", "DiscordReplyPort", "Delivery"]
