"""Clip links pasted into a chat, fetched without letting a link reach inside our network.

A link is user input that makes *us* open a connection, so every hop is checked: only http(s),
no local/private/metadata addresses (every address a name resolves to, IPv4-mapped and other
IPv6 forms of IPv4 included), and the connection goes to exactly the address that was checked
(a resolver inside aiohttp filters, so there is no second lookup a rebinding DNS could answer).
Redirects are followed by hand, each hop checked again; the body streams to disk under a size
cap and a time cap. Errors are `MediaFetchError` with a line safe to show the user: never the
addresses a name resolved to, and logs carry the host only, never the path or query (tokens).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import mimetypes
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Union
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from core.events import MediaFetchError, MediaItem
from core.i18n import human_size, say

log = logging.getLogger(__name__)

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

FETCHABLE_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
MAX_LINKS = 5  # links taken from one message; more is refused rather than silently dropped
USER_AGENT = "AIWithMusicBot/1.0 (+clip fetcher; fetches one video file a user linked)"
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class LinkConfig:
    max_bytes: int = 200 * 1024 * 1024
    timeout_seconds: float = 60.0  # whole fetch, redirects included
    # Operator escape hatch for intranet deployments: addresses inside these are allowed even if private.
    allowed_networks: tuple[IPNetwork, ...] = ()


# --- finding links --------------------------------------------------------------------------

# Any scheme://..., so file:// or ftp:// is recognised (and refused) rather than sent to the agent
# as text. A link ends at whitespace, quotes, angle brackets, CJK text or full-width punctuation.
_LINK = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s<>\"'`\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*")
_TRAILING = ".,;:!?)]}'\""


def find_clip_links(text: str | None) -> list[str]:
    """Every scheme://... link in a message, in order, without trailing sentence punctuation."""
    links = []
    for match in _LINK.finditer(text or ""):
        link = _trim(match.group(0))
        if link:
            links.append(link)
    return links


def _trim(link: str) -> str:
    while link and link[-1] in _TRAILING:
        # Keep a closing bracket that belongs to the link, e.g. a wiki-style "(video)".
        if link[-1] == ")" and link.count("(") >= link.count(")"):
            break
        link = link[:-1]
    return link if "://" in link and not link.endswith("://") else ""


def without_links(text: str, links: Iterable[str]) -> str:
    """The message with its links taken out: what remains is the instruction."""
    for link in links:
        text = text.replace(link, " ")
    return " ".join(text.split())


def scheme_of(link: str) -> str:
    return link.split("://", 1)[0].lower()


@dataclass(frozen=True)
class LinkPlan:
    """What a message's links mean: clips to fetch and the instruction left, or one refusal line."""

    media: list[MediaItem]
    rest: str
    refusal: str | None = None


def links_in_message(text: str | None, config: LinkConfig, lang: str) -> LinkPlan | None:
    """None when the message has no link; otherwise the clips to fetch or a polite refusal."""
    links = find_clip_links(text)
    if not links:
        return None
    if any(scheme_of(link) not in FETCHABLE_SCHEMES for link in links):
        return LinkPlan([], "", say("link_scheme_refused", lang))
    if len(links) > MAX_LINKS:
        return LinkPlan([], "", say("link_too_many", lang, count=MAX_LINKS))
    return LinkPlan([link_media_item(link, config, lang) for link in links], without_links(text or "", links))


def link_media_item(link: str, config: LinkConfig, lang: str) -> MediaItem:
    """A lazily fetched clip for a link; its name (and so its type guess) comes from the path."""
    name = _file_name(link)
    mime = mimetypes.guess_type(name)[0] if name else None
    if mime is None:
        # No telling from the path (".../download?id=3"): the probe after fetching decides.
        mime = "video/*"
    return MediaItem(kind="url", fetch=LinkFetcher(link, config, lang), file_name=name, mime_type=mime,
                     max_fetch_bytes=config.max_bytes)


def _file_name(link: str) -> str | None:
    try:
        path = URL(link).path
    except ValueError:
        return None
    name = PurePosixPath(unquote(path)).name
    name = re.sub(r"[^\w.-]", "_", name)[-100:].lstrip(".")
    return name or None


# --- which addresses are public ---------------------------------------------------------------

_V4_BLOCKED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host on Linux
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4", "255.255.255.255/32",  # reserved, broadcast
)]
_V6_BLOCKED = [ipaddress.ip_network(n) for n in (
    "::/128", "::1/128",
    "64:ff9b:1::/48",  # local-use NAT64
    "100::/64",  # discard
    "2001::/23",  # IETF protocol assignments, Teredo included
    "2001:db8::/32", "3fff::/20",  # documentation
    "fc00::/7",  # unique local
    "fe80::/10", "fec0::/10",  # link-local, old site-local
    "ff00::/8",  # multicast
)]


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d, the old IPv4-compatible form
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IPAddress | str, allowed: Iterable[IPNetwork] = ()) -> bool:
    """True when a fetch may connect to this address (or it is inside an operator-allowed network)."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id ("fe80::1%eth0") changes nothing
    allowed = tuple(allowed)
    inner = embedded_ipv4(address) if address.version == 6 else None
    if _inside(address, allowed) or (inner is not None and _inside(inner, allowed)):
        return True
    if inner is not None:
        return is_public_address(inner)  # the IPv6 form is as public as the IPv4 address it carries
    blocked = _V4_BLOCKED if address.version == 4 else _V6_BLOCKED
    if any(address in network for network in blocked):
        return False
    # Belt and braces with the standard library's own tables.
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified or not address.is_global)


def _inside(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


# Names that mean "this machine" or "the cloud's metadata service" wherever DNS points them.
_BLOCKED_NAMES = ("localhost", "localhost.localdomain", "metadata", "metadata.google.internal",
                  "metadata.goog", "instance-data", "instance-data.ec2.internal")


def is_blocked_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in _BLOCKED_NAMES or host.endswith(".localhost")


# --- fetching -------------------------------------------------------------------------------


class LinkRefused(MediaFetchError):
    """The link is not one we fetch; str() is the user's line, without any resolved address."""


class _CheckedResolver(AbstractResolver):
    """Resolves once and hands aiohttp only checked addresses, so it connects to what we checked.

    If any address of a name is not public the whole name is refused: a name that mixes a
    public and a private address is exactly what a rebinding attack looks like.
    """

    def __init__(self, config: LinkConfig, lang: str) -> None:
        self._config = config
        self._lang = lang

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if is_blocked_name(host):
            raise LinkRefused(say("link_private", self._lang))
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except (socket.gaierror, UnicodeError):
            raise LinkRefused(say("link_no_such_host", self._lang)) from None
        results: list[ResolveResult] = []
        for fam, _type, proto, _name, sockaddr in infos:
            address = sockaddr[0]
            if not is_public_address(address, self._config.allowed_networks):
                log.warning("refused a link: a name resolved to a non-public address")  # no address, no name
                raise LinkRefused(say("link_private", self._lang))
            results.append(ResolveResult(hostname=host, host=address.split("%", 1)[0], port=sockaddr[1],
                                         family=fam, proto=proto, flags=socket.AI_NUMERICHOST))
        if not results:
            raise LinkRefused(say("link_no_such_host", self._lang))
        return results

    async def close(self) -> None:
        return None


class LinkFetcher:
    """`MediaItem.fetch` for a link: fetch(dest_dir) -> the downloaded file inside dest_dir."""

    def __init__(self, link: str, config: LinkConfig, lang: str = "en") -> None:
        self.link = link
        self.config = config
        self.lang = lang

    async def __call__(self, dest_dir: Path) -> Path:
        part = dest_dir / f".link-{uuid.uuid4().hex}.part"
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                name = await self._fetch_to(part)
        except TimeoutError:
            log.info("a link fetch hit the %.1f s limit (host %s)", self.config.timeout_seconds, _host_of(self.link))
            part.unlink(missing_ok=True)
            raise MediaFetchError(say("link_timeout", self.lang)) from None
        except MediaFetchError:
            part.unlink(missing_ok=True)
            raise
        except (aiohttp.ClientError, OSError) as error:
            # The class name only: the text of a connection error can carry the address.
            log.info("a link fetch failed (host %s): %s", _host_of(self.link), type(error).__name__)
            part.unlink(missing_ok=True)
            raise MediaFetchError(say("link_unreachable", self.lang)) from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        final = dest_dir / name
        if final.exists():
            final = dest_dir / f"{uuid.uuid4().hex[:8]}-{name}"
        part.replace(final)
        return final

    async def _fetch_to(self, part: Path) -> str:
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.config, self.lang), use_dns_cache=False,
                                         force_close=True, limit=1)
        # Whole-fetch cap is the asyncio.timeout around us; these bound each connect and each read.
        per_step = min(self.config.timeout_seconds, 30.0)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=per_step, sock_read=per_step)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                         headers={"User-Agent": USER_AGENT}, trust_env=False,
                                         auto_decompress=False) as session:
            url = self._checked_url(self.link)
            seen = {str(url)}
            for _hop in range(MAX_REDIRECTS + 1):
                async with session.get(url, allow_redirects=False, headers={"Accept": "video/*, */*;q=0.5",
                                                                              "Accept-Encoding": "identity"}) as resp:
                    self._check_peer(resp)
                    if resp.status in _REDIRECTS and "Location" in resp.headers:
                        try:
                            target = url.join(URL(resp.headers["Location"]))
                        except ValueError:
                            raise LinkRefused(say("link_bad", self.lang)) from None
                        url = self._checked_url(str(target))
                        if str(url) in seen:
                            raise LinkRefused(say("link_redirect_loop", self.lang))
                        seen.add(str(url))
                        continue
                    if resp.status != 200:
                        raise MediaFetchError(say("link_http_error", self.lang, status=resp.status))
                    await self._stream(resp, part)
                    return _final_name(url, resp.headers.get("Content-Type"))
            raise LinkRefused(say("link_redirect_loop", self.lang))

    def _checked_url(self, link: str) -> URL:
        """Scheme, host and literal addresses checked before any connection; userinfo dropped."""
        try:
            url = URL(link)
        except ValueError:
            raise LinkRefused(say("link_bad", self.lang)) from None
        if url.scheme.lower() not in FETCHABLE_SCHEMES:
            raise LinkRefused(say("link_scheme_refused", self.lang))
        host = url.raw_host
        if not host:
            raise LinkRefused(say("link_bad", self.lang))
        if is_blocked_name(host):
            raise LinkRefused(say("link_private", self.lang))
        try:
            literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            literal = None
        # aiohttp connects to literal addresses without asking the resolver, so check them here.
        if literal is not None and not is_public_address(literal, self.config.allowed_networks):
            raise LinkRefused(say("link_private", self.lang))
        # No credentials in a link are ever sent (no auth forwarding), nor the fragment.
        return url.with_user(None).with_fragment(None)

    def _check_peer(self, resp: aiohttp.ClientResponse) -> None:
        """The address we actually reached, checked once more (the resolver already did)."""
        transport = resp.connection.transport if resp.connection is not None else None
        peer = transport.get_extra_info("peername") if transport is not None else None
        if peer and not is_public_address(peer[0], self.config.allowed_networks):
            raise LinkRefused(say("link_private", self.lang))

    async def _stream(self, resp: aiohttp.ClientResponse, part: Path) -> None:
        cap = self.config.max_bytes
        mime = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if mime in ("text/html", "application/xhtml+xml"):
            raise MediaFetchError(say("link_web_page", self.lang))
        declared = resp.content_length
        if declared is not None and declared > cap:
            raise MediaFetchError(say("link_too_big", self.lang, limit=human_size(cap)))
        received = 0
        with part.open("wb") as out:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                received += len(chunk)
                if received > cap:  # no length, or a server that lied about it
                    raise MediaFetchError(say("link_too_big", self.lang, limit=human_size(cap)))
                out.write(chunk)
        if received == 0:
            raise MediaFetchError(say("link_empty", self.lang))


def _final_name(url: URL, content_type: str | None) -> str:
    name = _file_name(str(url)) or "clip"
    if not PurePosixPath(name).suffix:
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        guessed = mimetypes.guess_extension(mime) if mime.startswith("video/") else None
        name += guessed or ".mp4"  # the probe decides what it really is
    return name


def _host_of(link: str) -> str:
    """For logs: the host alone, never the path or query that may carry a token."""
    try:
        return URL(link).host or "?"
    except ValueError:
        return "?"


def parse_networks(text: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs ("10.1.0.0/16, 192.168.5.7") as networks; a bare address is a /32 or /128."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in parts if part and part.strip())
