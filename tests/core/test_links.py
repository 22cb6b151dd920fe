"""Clip links: detection, which addresses are public, and real fetches from a loopback server.

The loopback server is reachable only because the tests allow exactly 127.0.0.1/32 (the
operator escape hatch); everything else private stays refused, each redirect hop included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from pathlib import Path

import pytest
from aiohttp import web

from core.events import MediaFetchError
from core.i18n import human_size, say
from core.links import (LinkConfig, LinkFetcher, find_clip_links, is_blocked_name, is_public_address,
                        link_media_item, links_in_message, parse_networks)

LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)
CAP = 256 * 1024
BODY = os.urandom(200 * 1024)  # under the cap, several chunks


# --- which addresses are public ------------------------------------------------------------

REFUSED = [
    "127.0.0.1", "127.0.0.2", "127.255.255.254", "0.0.0.0", "0.1.2.3",
    "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "192.0.0.1", "192.0.2.5", "198.18.0.1", "198.51.100.7", "203.0.113.9",
    "::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:7f00:1", "::ffff:192.168.0.1",
    "::127.0.0.1", "::10.0.0.1",  # the old IPv4-compatible form
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1",  # NAT64 forms of private addresses
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",  # 6to4 forms of private addresses
    "2001::1", "2001:db8::1", "100::1",  # Teredo, documentation, discard
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "151.101.1.69", "100.63.255.255", "100.128.0.1",
          "172.32.0.1", "2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
          "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert is_public_address(address)


def test_allowed_networks_open_exactly_what_the_operator_listed():
    allowed = parse_networks("127.0.0.1/32, 10.20.0.0/16")
    assert is_public_address("127.0.0.1", allowed)
    assert is_public_address("::ffff:127.0.0.1", allowed)  # the same address in its IPv6 form
    assert is_public_address("10.20.3.4", allowed)
    for address in ("127.0.0.2", "10.21.0.1", "10.0.0.1", "169.254.169.254", "::1", "192.168.0.1"):
        assert not is_public_address(address, allowed), address
    assert parse_networks("") == () and parse_networks(None) == ()
    assert parse_networks("192.168.5.7") == (ipaddress.ip_network("192.168.5.7/32"),)
    with pytest.raises(ValueError):
        parse_networks("not-a-network")


@pytest.mark.parametrize("name", ["localhost", "LOCALHOST.", "api.localhost", "metadata.google.internal",
                                  "metadata", "localhost.localdomain"])
def test_local_and_metadata_names_are_refused_by_name(name):
    assert is_blocked_name(name)


def test_ordinary_names_are_left_to_the_address_check():
    assert not is_blocked_name("example.com") and not is_blocked_name("localhost-videos.example")


# --- finding links -------------------------------------------------------------------------

@pytest.mark.parametrize("text, links", [
    ("https://example.com/clip.mp4", ["https://example.com/clip.mp4"]),
    ("lo-fi please https://example.com/clip.mp4", ["https://example.com/clip.mp4"]),
    ("see http://example.com/a.mp4, and https://cdn.example/b.webm!", ["http://example.com/a.mp4",
                                                                       "https://cdn.example/b.webm"]),
    ("(https://example.com/v.mp4)", ["https://example.com/v.mp4"]),
    ("https://en.example.org/wiki/Clip_(film)", ["https://en.example.org/wiki/Clip_(film)"]),
    ("请配乐https://example.com/c.mp4，谢谢", ["https://example.com/c.mp4"]),
    ("<https://example.com/c.mp4?sig=abc&x=1>", ["https://example.com/c.mp4?sig=abc&x=1"]),
    ("file:///etc/passwd", ["file:///etc/passwd"]),
    ("get ftp://files.example/clip.mp4 now", ["ftp://files.example/clip.mp4"]),
    ("gopher://evil.example:70/_x", ["gopher://evil.example:70/_x"]),
    ("make it calm, no link here", []),
    ("example.com/clip.mp4 without a scheme", []),
    ("just https://", []),
    ("", []),
])
def test_links_are_found_in_messages(text, links):
    assert find_clip_links(text) == links


def test_a_message_with_a_link_becomes_a_clip_and_an_instruction():
    plan = links_in_message("lo-fi please https://example.com/media/holiday.mp4", LinkConfig(), "en")
    assert plan is not None and plan.refusal is None
    assert plan.rest == "lo-fi please"
    [item] = plan.media
    assert item.kind == "url" and item.file_name == "holiday.mp4" and item.looks_like_video
    assert links_in_message("no links at all", LinkConfig(), "en") is None


def test_a_link_without_a_file_name_is_probed_after_fetching_and_a_picture_link_is_not_a_clip():
    [item] = links_in_message("https://example.com/download?id=7", LinkConfig(), "en").media
    assert item.looks_like_video  # the probe after the download decides
    [picture] = links_in_message("https://example.com/cat.jpg", LinkConfig(), "en").media
    assert not picture.looks_like_video


@pytest.mark.parametrize("text", ["file:///etc/passwd", "ftp://example.com/a.mp4", "gopher://x:70/_a",
                                  "calm https://example.com/a.mp4 and file:///etc/shadow"])
def test_non_http_links_get_a_polite_refusal(text):
    plan = links_in_message(text, LinkConfig(), "en")
    assert plan.media == [] and plan.refusal == say("link_scheme_refused", "en")
    assert "http(s)" in plan.refusal
    assert links_in_message(text, LinkConfig(), "zh").refusal == say("link_scheme_refused", "zh")


def test_too_many_links_are_refused_rather_than_silently_dropped():
    text = " ".join(f"https://example.com/{n}.mp4" for n in range(6))
    assert links_in_message(text, LinkConfig(), "en").refusal == say("link_too_many", "en", count=5)


# --- real fetches on loopback --------------------------------------------------------------


class ClipServer:
    """A loopback site: a clip, redirects, oversize and stalling answers; it records each request."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.release = asyncio.Event()
        self.url = ""
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/clip.mp4", self.clip)
        app.router.add_get("/download", self.clip)
        app.router.add_get("/to", self.redirect)
        app.router.add_get("/chain/{n}", self.chain)
        app.router.add_get("/loop/{n}", self.loop)
        app.router.add_get("/big-declared", self.big_declared)
        app.router.add_get("/big-chunked", self.big_chunked)
        app.router.add_get("/stall", self.stall)
        app.router.add_get("/dribble", self.dribble)
        app.router.add_get("/page", self.page)
        app.router.add_get("/cookie", self.cookie)
        self.runner = web.AppRunner(app, handler_cancellation=True)

    @web.middleware
    async def _record(self, request, handler):
        self.requests.append(request)
        return await handler(request)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release.set()
        await self.runner.cleanup()

    async def clip(self, request):
        return web.Response(body=BODY, content_type="video/mp4")

    async def redirect(self, request):
        raise web.HTTPFound(request.query["url"])

    async def chain(self, request):
        n = int(request.match_info["n"])
        raise web.HTTPFound("/clip.mp4" if n == 0 else f"/chain/{n - 1}")

    async def loop(self, request):
        n = int(request.match_info["n"])
        raise web.HTTPMovedPermanently(f"/loop/{1 - n}")

    async def big_declared(self, request):
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = CAP * 10
        await response.prepare(request)
        await response.write(b"\0" * 1024)
        await self._hold()
        return response

    async def big_chunked(self, request):
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(CAP * 4 // 8192):
            await response.write(b"\1" * 8192)
        await response.write_eof()
        return response

    async def stall(self, request):
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        await response.prepare(request)
        await response.write(b"\0" * 100)
        await self._hold()
        return response

    async def dribble(self, request):
        # Never quiet long enough for a per-read timeout; only the whole-fetch cap ends it.
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        while not self.release.is_set():
            await response.write(b"\0")
            await asyncio.sleep(0.05)
        return response

    async def page(self, request):
        return web.Response(text="<html>a video page</html>", content_type="text/html")

    async def cookie(self, request):
        response = web.HTTPFound("/clip.mp4")
        response.set_cookie("session", "secret-cookie")
        raise response

    async def _hold(self) -> None:
        try:
            await asyncio.wait_for(self.release.wait(), 30)
        except TimeoutError:
            pass


@pytest.fixture
async def site():
    server = ClipServer()
    await server.start()
    yield server
    await server.stop()


def fetcher(link: str, *, max_bytes: int = CAP, timeout: float = 10.0, allowed=LOOPBACK_ONLY) -> LinkFetcher:
    return LinkFetcher(link, LinkConfig(max_bytes=max_bytes, timeout_seconds=timeout, allowed_networks=allowed), "en")


async def refused(fetch: LinkFetcher, dest: Path) -> str:
    with pytest.raises(MediaFetchError) as caught:
        await fetch(dest)
    assert list(dest.iterdir()) == [], "a refused fetch left a file behind"
    return str(caught.value)


async def test_a_clip_is_streamed_to_disk(site, tmp_path):
    path = await fetcher(f"{site.url}/clip.mp4")(tmp_path)
    assert path.parent == tmp_path and path.name == "clip.mp4"
    assert path.read_bytes() == BODY
    request = site.requests[-1]
    assert request.headers["User-Agent"].startswith("AIWithMusicBot/")
    assert "Cookie" not in request.headers and "Authorization" not in request.headers


async def test_a_link_without_a_name_gets_one_from_the_content_type(site, tmp_path):
    path = await fetcher(f"{site.url}/download?id=3&token=abc")(tmp_path)
    assert path.name == "download.mp4" and path.read_bytes() == BODY
    assert site.requests[-1].query["token"] == "abc"


async def test_credentials_in_a_link_and_cookies_are_never_sent(site, tmp_path):
    authority = site.url.removeprefix("http://")
    path = await fetcher(f"http://user:pa55@{authority}/cookie")(tmp_path)
    assert path.read_bytes() == BODY
    assert [r.path for r in site.requests] == ["/cookie", "/clip.mp4"]
    for request in site.requests:
        assert "Authorization" not in request.headers
        assert "Cookie" not in request.headers  # the cookie the first hop set was dropped


async def test_five_redirects_are_followed_and_a_sixth_is_refused(site, tmp_path):
    assert (await fetcher(f"{site.url}/chain/4")(tmp_path)).read_bytes() == BODY
    for path in list(tmp_path.iterdir()):
        path.unlink()
    text = await refused(fetcher(f"{site.url}/chain/6"), tmp_path)
    assert text == say("link_redirect_loop", "en")


async def test_a_redirect_loop_is_refused(site, tmp_path):
    assert await refused(fetcher(f"{site.url}/loop/0"), tmp_path) == say("link_redirect_loop", "en")
    assert len(site.requests) == 2


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/clip.mp4", "http://169.254.169.254/latest/meta-data",
                                    "http://10.0.0.1/clip.mp4", "http://[::1]:{port}/clip.mp4",
                                    "http://[::ffff:127.0.0.2]/x", "http://localhost:{port}/clip.mp4",
                                    "http://metadata.google.internal/computeMetadata/v1/"])
async def test_a_redirect_to_a_private_address_is_refused_before_connecting(site, tmp_path, target):
    port = site.url.rsplit(":", 1)[1]
    link = f"{site.url}/to?url={target.format(port=port)}"
    text = await refused(fetcher(link), tmp_path)
    assert text == say("link_private", "en")
    assert "169.254" not in text and "127.0.0" not in text
    assert len(site.requests) == 1  # only the redirecting hop was ever reached


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/clip.mp4", "gopher://127.0.0.1:70/_x"])
async def test_a_redirect_to_another_scheme_is_refused(site, tmp_path, target):
    text = await refused(fetcher(f"{site.url}/to?url={target}"), tmp_path)
    assert text == say("link_scheme_refused", "en")


async def test_private_addresses_stay_refused_even_with_loopback_allowed(site, tmp_path):
    port = site.url.rsplit(":", 1)[1]
    for link in (f"http://127.0.0.2:{port}/clip.mp4", "http://10.0.0.1/clip.mp4",
                 "http://169.254.169.254/latest/meta-data", f"http://[::1]:{port}/clip.mp4",
                 f"http://localhost:{port}/clip.mp4"):
        assert await refused(fetcher(link), tmp_path) == say("link_private", "en"), link
    assert site.requests == []


async def test_without_the_escape_hatch_loopback_is_refused_in_every_spelling(site, tmp_path):
    port = site.url.rsplit(":", 1)[1]
    for link in (f"{site.url}/clip.mp4", f"http://[::ffff:127.0.0.1]:{port}/clip.mp4",
                 f"http://2130706433:{port}/clip.mp4", f"http://0x7f.1:{port}/clip.mp4",
                 f"http://127.1:{port}/clip.mp4"):
        await refused(fetcher(link, allowed=()), tmp_path)
    assert site.requests == []


async def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(site, tmp_path, monkeypatch):
    # DNS is the edge of the machine: this stands in for a name server under the attacker's control.
    loop = asyncio.get_running_loop()
    lookups: list[str] = []
    answers = {"clips.example": ["127.0.0.1"], "mixed.example": ["127.0.0.1", "10.0.0.1"]}

    async def getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    port = site.url.rsplit(":", 1)[1]
    path = await fetcher(f"http://clips.example:{port}/clip.mp4")(tmp_path)
    assert path.read_bytes() == BODY
    assert lookups == ["clips.example"]
    assert site.requests[-1].headers["Host"] == f"clips.example:{port}"  # the name, at the checked address
    path.unlink()
    # One allowed and one private answer is what rebinding looks like: the name is refused whole.
    assert await refused(fetcher(f"http://mixed.example:{port}/clip.mp4"), tmp_path) == say("link_private", "en")
    assert len(site.requests) == 1


@pytest.mark.parametrize("link", ["file:///etc/passwd", "ftp://127.0.0.1/clip.mp4", "gopher://127.0.0.1:70/_x",
                                  "javascript://alert(1)"])
async def test_non_http_schemes_are_refused_without_any_connection(site, tmp_path, link):
    assert await refused(fetcher(link), tmp_path) == say("link_scheme_refused", "en")
    assert site.requests == []


async def test_an_oversize_content_length_is_refused_up_front(site, tmp_path):
    text = await refused(fetcher(f"{site.url}/big-declared"), tmp_path)
    assert text == say("link_too_big", "en", limit=human_size(CAP))  # no read: the server never sent the rest


async def test_an_oversize_body_without_a_length_stops_at_the_cap(site, tmp_path):
    too_big = say("link_too_big", "en", limit=human_size(CAP))
    assert await refused(fetcher(f"{site.url}/big-chunked"), tmp_path) == too_big
    assert await refused(fetcher(f"{site.url}/to?url=/big-chunked"), tmp_path) == too_big


async def test_a_stalled_server_hits_the_time_cap(site, tmp_path):
    assert await refused(fetcher(f"{site.url}/stall", timeout=0.5), tmp_path) == say("link_timeout", "en")


async def test_a_server_that_never_stops_dribbling_hits_the_whole_fetch_cap(site, tmp_path):
    text = await refused(fetcher(f"{site.url}/dribble", timeout=0.5, max_bytes=10 * 1024 * 1024), tmp_path)
    assert text == say("link_timeout", "en")


async def test_web_pages_and_errors_get_plain_reasons(site, tmp_path):
    assert await refused(fetcher(f"{site.url}/page"), tmp_path) == say("link_web_page", "en")
    assert await refused(fetcher(f"{site.url}/missing.mp4"), tmp_path) == say("link_http_error", "en", status=404)


async def test_a_media_item_for_a_link_fetches_through_the_same_checks(site, tmp_path):
    config = LinkConfig(max_bytes=CAP, timeout_seconds=10, allowed_networks=LOOPBACK_ONLY)
    item = link_media_item(f"{site.url}/clip.mp4", config, "zh")
    assert (await item.fetch(tmp_path)).read_bytes() == BODY
    bad = link_media_item("http://169.254.169.254/latest/meta-data", config, "zh")
    with pytest.raises(MediaFetchError, match=re.escape(say("link_private", "zh"))):
        await bad.fetch(tmp_path / "other")


# --- settings ------------------------------------------------------------------------------

def test_link_settings_reach_the_core_config(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from bots.runtime import core_config_from
    from bots.settings import Settings

    defaults = core_config_from(Settings(_env_file=None, aiwm_data_dir=tmp_path)).links
    assert defaults == LinkConfig(max_bytes=200 * 1024 * 1024, timeout_seconds=60.0, allowed_networks=())
    monkeypatch.setenv("AIWM_LINK_MAX_MB", "1.5")
    monkeypatch.setenv("AIWM_LINK_TIMEOUT", "7")
    monkeypatch.setenv("AIWM_LINK_ALLOWED_NETWORKS", " 127.0.0.1/32, 10.20.0.0/16 ,")
    links = core_config_from(Settings(_env_file=None, aiwm_data_dir=tmp_path)).links
    assert links.max_bytes == int(1.5 * 1024 * 1024) and links.timeout_seconds == 7.0
    assert links.allowed_networks == (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.20.0.0/16"))
    monkeypatch.setenv("AIWM_LINK_ALLOWED_NETWORKS", "10.0.0.0/8,intranet")
    with pytest.raises(ValidationError):
        Settings(_env_file=None, aiwm_data_dir=tmp_path)
