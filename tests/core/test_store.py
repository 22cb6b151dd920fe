import stat
import time

from core.store import DELIVERED, RENDERING, SENDING, ChatSession, Job, Store


async def test_store_survives_reopen_and_is_owner_only(tmp_path):
    path = tmp_path / "bot.sqlite3"
    store = await Store(path).open()
    await store.save_chat_session(ChatSession("telegram:1", "5529798706024415232", "task_1", "en"))
    await store.set_credential("nemo_token", "nmv_usr_secret")
    await store.add_job(Job("j1", "telegram:1", "telegram", "1", {"chat_id": 1}, "en", RENDERING, render_id="r1"))
    await store.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store = await Store(path).open()
    session = await store.chat_session("telegram:1")
    assert session.session_id == "5529798706024415232" and session.language == "en"
    assert await store.credential("nemo_token") == "nmv_usr_secret"
    jobs = await store.open_jobs()
    assert [(j.id, j.render_id, j.delivery) for j in jobs] == [("j1", "r1", {"chat_id": 1})]
    await store.close()


async def test_delivery_is_claimed_once(tmp_path):
    store = await Store(tmp_path / "db").open()
    await store.add_job(Job("j1", "c", "console", "c", {}, "en", RENDERING))
    assert await store.claim_delivery("j1") is True
    assert await store.claim_delivery("j1") is False
    assert (await store.job("j1")).state == SENDING
    await store.update_job("j1", state=DELIVERED)
    assert await store.open_jobs() == []
    await store.close()


async def test_kept_clips_expire(tmp_path):
    store = await Store(tmp_path / "db").open()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    await store.keep_clip("c", clip, ttl_seconds=60)
    await store.keep_clip("c", tmp_path / "old.mp4", ttl_seconds=-1)
    assert [c.path for c in await store.kept_clips("c")] == [clip]
    assert await store.expire_clips(now=time.time()) == [tmp_path / "old.mp4"]
    assert await store.expire_clips(now=time.time() + 120) == [clip]
    assert await store.kept_clips("c") == []
    await store.close()
