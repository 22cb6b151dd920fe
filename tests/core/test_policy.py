"""AccessPolicy on its own, with a clock the test moves: who may use the bot, how fast, how much."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.runtime import core_config_from
from bots.settings import Settings
from core.events import InboundEvent
from core.metrics import REFUSALS
from core.policy import AccessPolicy, PolicyConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(user: str = "42", chat: str | None = None, surface: str = "telegram", group: bool = False) -> InboundEvent:
    return InboundEvent(surface=surface, chat_id=chat or user, user_id=user, reply=None,  # type: ignore[arg-type]
                        is_group=group)


def refused(reason: str) -> float:
    return REFUSALS.labels(reason=reason)._value.get()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_open_policy_lets_everyone_in_without_caps(clock):
    policy = AccessPolicy(PolicyConfig(), clock)
    slots = [policy.admit(event(str(n)), "en", counts=True, heavy=True) for n in range(50)]
    assert all(a.allowed and a.slot is not None for a in slots)
    assert policy.jobs_in_flight() == 50


def test_bare_ids_match_any_surface_qualified_ids_only_theirs(clock):
    policy = AccessPolicy(PolicyConfig(allowed_users=frozenset({"42", "telegram:7", " discord:9 "})), clock)
    assert policy.is_allowed(event("42", surface="telegram"))
    assert policy.is_allowed(event("42", surface="discord"))
    assert policy.is_allowed(event("7", surface="telegram"))
    assert not policy.is_allowed(event("7", surface="discord"))
    assert policy.is_allowed(event("9", surface="discord"))
    assert not policy.is_allowed(event("9", surface="telegram"))
    assert not policy.is_allowed(event("43"))


def test_an_allowed_group_lets_its_members_in_there_and_only_there(clock):
    policy = AccessPolicy(PolicyConfig(allowed_chats=frozenset({"telegram:-100500"}),
                                       allowed_users=frozenset({"telegram:42"})), clock)
    assert policy.is_allowed(event("77", chat="-100500", group=True))  # a member of the allowed group
    assert not policy.is_allowed(event("77"))  # the same member in a private chat
    assert not policy.is_allowed(event("77", chat="-100600", group=True))  # in another group
    assert policy.is_allowed(event("42", chat="-100600", group=True))  # an allowed user, anywhere
    # A negative chat id is an id, not a surface name.
    assert AccessPolicy(PolicyConfig(allowed_chats=frozenset({"-100500"})), clock).is_allowed(
        event("77", chat="-100500", group=True))


def test_a_stranger_hears_one_polite_line_per_chat_then_silence(clock):
    policy = AccessPolicy(PolicyConfig(allowed_users=frozenset({"telegram:42"}), stranger_quiet_seconds=600), clock)
    before = refused("not_allowed")
    first = policy.admit(event("666", chat="-1", group=True), "en", counts=True, heavy=True)
    assert not first.allowed and first.reason == "not_allowed"
    assert first.text and "private" in first.text and "42" not in first.text and "\n" not in first.text
    again = [policy.admit(event("666", chat="-1", group=True), "en", counts=False, heavy=False) for _ in range(5)]
    assert all(not a.allowed and a.text is None for a in again)  # no spam in the group
    assert policy.admit(event("666"), "en", counts=True, heavy=False).text  # their own private chat: told once
    clock.now += 601
    assert policy.admit(event("666", chat="-1", group=True), "en", counts=True, heavy=False).text
    assert refused("not_allowed") - before == 8  # silent refusals are counted too
    assert policy.jobs_in_flight() == 0


def test_the_stranger_line_names_the_contact_and_speaks_chinese(clock):
    policy = AccessPolicy(PolicyConfig(allowed_users=frozenset({"1"}), contact="@alice"), clock)
    assert "@alice" in policy.admit(event("2"), "en", counts=True, heavy=False).text
    zh = policy.admit(event("3"), "zh", counts=True, heavy=False).text
    assert "@alice" in zh and "管理员" not in zh and "社区" in zh


def test_rate_limit_refuses_with_the_wait_and_frees_up_as_the_window_slides(clock):
    policy = AccessPolicy(PolicyConfig(rate_per_minute=3), clock)
    for step in range(3):
        assert policy.admit(event(), "en", counts=True, heavy=False).allowed
        clock.now += 10
    before = refused("rate")
    # Messages at t=0, 10, 20; now t=30: the oldest leaves the window at t=60.
    over = policy.admit(event(), "en", counts=True, heavy=False)
    assert not over.allowed and over.reason == "rate" and "30 s" in over.text
    assert policy.admit(event(), "en", counts=True, heavy=False).text is None  # told once, not per message
    assert policy.admit(event(), "en", counts=False, heavy=False).allowed  # /help, /cancel: never limited
    assert policy.admit(event("43"), "en", counts=True, heavy=False).allowed  # another user: own window
    clock.now += 29
    assert not policy.admit(event(), "en", counts=True, heavy=False).allowed
    clock.now += 1.5  # t=60.5: the first message left the window; refused ones never counted
    assert policy.admit(event(), "en", counts=True, heavy=False).allowed
    assert not policy.admit(event(), "en", counts=True, heavy=False).allowed
    zh = policy.admit(event(), "zh", counts=True, heavy=False)
    assert zh.text is None or "秒" in zh.text
    assert refused("rate") - before == 5


def test_per_user_jobs_are_capped_and_a_slot_frees_however_it_is_released(clock):
    policy = AccessPolicy(PolicyConfig(max_jobs_per_user=2), clock)
    first = policy.admit(event(), "en", counts=True, heavy=True)
    second = policy.admit(event(), "en", counts=True, heavy=True)
    before = refused("user_jobs")
    third = policy.admit(event(), "en", counts=True, heavy=True)
    assert not third.allowed and third.reason == "user_jobs" and "2 videos" in third.text
    assert refused("user_jobs") - before == 1
    assert policy.admit(event(), "en", counts=True, heavy=False).allowed  # a follow-up turn is no heavy work
    assert policy.admit(event("43"), "en", counts=True, heavy=True).allowed  # other users are not affected
    first.slot.release()
    first.slot.release()  # twice is harmless
    assert policy.jobs_in_flight("telegram:42") == 1
    fourth = policy.admit(event(), "en", counts=True, heavy=True)
    assert fourth.allowed and fourth.slot is not None
    assert [s.chat_key for s in policy.held_for_chat("telegram:42")] == ["telegram:42", "telegram:42"]
    second.slot.release()
    fourth.slot.release()
    assert policy.jobs_in_flight("telegram:42") == 0


def test_the_global_cap_counts_everyone_and_says_the_bot_is_busy(clock):
    policy = AccessPolicy(PolicyConfig(max_jobs_per_user=2, max_jobs=3), clock)
    held = [policy.admit(event(u), "en", counts=True, heavy=True).slot for u in ("1", "1", "2")]
    busy = policy.admit(event("3"), "en", counts=True, heavy=True)
    assert not busy.allowed and busy.reason == "busy" and "few minutes" in busy.text
    assert policy.admit(event("1"), "en", counts=True, heavy=True).reason == "user_jobs"  # their own cap first
    held[2].release()
    assert policy.admit(event("3"), "en", counts=True, heavy=True).allowed


def test_a_refused_heavy_message_does_not_use_up_the_rate(clock):
    policy = AccessPolicy(PolicyConfig(rate_per_minute=2, max_jobs_per_user=1), clock)
    slot = policy.admit(event(), "en", counts=True, heavy=True).slot
    for _ in range(3):
        assert policy.admit(event(), "en", counts=True, heavy=True).reason == "user_jobs"
    slot.release()
    assert policy.admit(event(), "en", counts=True, heavy=True).allowed  # second of two per minute


def test_the_console_is_the_operator_and_skips_every_rule(clock):
    policy = AccessPolicy(PolicyConfig(allowed_users=frozenset({"1"}), rate_per_minute=1, max_jobs_per_user=1,
                                       max_jobs=1), clock)
    console = [policy.admit(event("me", surface="console"), "en", counts=True, heavy=True) for _ in range(3)]
    assert all(a.allowed for a in console)


def test_settings_become_the_core_config(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AIWM_ALLOWED_USERS", "42, telegram:7,,")
    monkeypatch.setenv("AIWM_ALLOWED_CHATS", "telegram:-100500")
    monkeypatch.setenv("AIWM_RATE_PER_MINUTE", "0")
    monkeypatch.setenv("AIWM_MAX_CLIP_MB", "1.5")
    monkeypatch.setenv("AIWM_MAX_CLIP_SECONDS", "90")
    monkeypatch.setenv("AIWM_ADMIN_CONTACT", "@alice")
    config = core_config_from(Settings(_env_file=None, aiwm_data_dir=tmp_path))
    assert config.data_dir == tmp_path
    assert config.policy.allowed_users == frozenset({"42", "telegram:7"})
    assert config.policy.allowed_chats == frozenset({"telegram:-100500"})
    assert config.policy.rate_per_minute is None  # 0 = no limit
    assert (config.policy.max_jobs_per_user, config.policy.max_jobs) == (2, 8)  # the defaults
    assert config.policy.contact == "@alice"
    assert config.clip_limits.max_bytes == 1572864 and config.clip_limits.max_seconds == 90
    open_config = core_config_from(Settings(_env_file=None, aiwm_data_dir=tmp_path, aiwm_allowed_users=[],
                                            aiwm_allowed_chats=[]))
    assert not open_config.policy.restricted
