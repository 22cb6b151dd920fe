import asyncio

from core.lanes import Lanes, WorkItem


def _item(log, name, gate=None, merge_key=None, payload=None):
    async def run(item):
        log.append(("start", name, list(item.payload)))
        if gate is not None:
            await gate.wait()
        log.append(("end", name))
    return WorkItem(run=run, merge_key=merge_key, payload=list(payload or []))


async def test_one_chat_runs_in_order_and_chats_do_not_wait_for_each_other():
    lanes, log = Lanes(), []
    gate_a = asyncio.Event()
    lanes.submit("a", _item(log, "a1", gate_a))
    lanes.submit("a", _item(log, "a2"))
    lanes.submit("b", _item(log, "b1"))
    await _until(lambda: ("end", "b1") in log)
    # chat b finished while chat a's first item is still blocked
    assert ("end", "a1") not in log and ("start", "a2", []) not in log
    gate_a.set()
    assert await lanes.drain(timeout=5)
    a_events = [e for e in log if e[1].startswith("a")]
    assert a_events == [("start", "a1", []), ("end", "a1"), ("start", "a2", []), ("end", "a2")]


async def test_cancel_stops_the_running_item_and_drops_waiting_ones():
    lanes, log = Lanes(), []
    never = asyncio.Event()
    lanes.submit("a", _item(log, "long", never))
    lanes.submit("a", _item(log, "queued"))
    await _until(lambda: ("start", "long", []) in log)
    assert await lanes.cancel("a") is True
    assert await lanes.drain(timeout=5)
    assert ("end", "long") not in log
    assert not any(e[1] == "queued" for e in log)
    # the chat keeps working after a cancel
    lanes.submit("a", _item(log, "after"))
    assert await lanes.drain(timeout=5)
    assert ("end", "after") in log
    assert await lanes.cancel("a") is False


async def test_a_burst_of_clips_waiting_together_is_merged():
    lanes, log = Lanes(), []
    gate = asyncio.Event()
    lanes.submit("a", _item(log, "first", gate))
    lanes.submit("a", _item(log, "clip", merge_key="clips", payload=["c1"]))
    lanes.submit("a", _item(log, "clip", merge_key="clips", payload=["c2"]))
    lanes.submit("a", _item(log, "clip", merge_key="clips", payload=["c3"]))
    lanes.submit("a", _item(log, "text"))
    gate.set()
    assert await lanes.drain(timeout=5)
    starts = [e for e in log if e[0] == "start"]
    assert starts == [("start", "first", []), ("start", "clip", ["c1", "c2", "c3"]), ("start", "text", [])]


async def test_a_stuck_item_is_ended_by_the_time_limit_and_the_lane_goes_on():
    timed_out = []

    async def on_timeout(item):
        timed_out.append(item)

    lanes, log = Lanes(item_timeout=0.2, on_timeout=on_timeout), []
    lanes.submit("a", _item(log, "stuck", asyncio.Event()))
    lanes.submit("a", _item(log, "next"))
    assert await lanes.drain(timeout=5)
    assert len(timed_out) == 1
    assert ("end", "next") in log and ("end", "stuck") not in log


async def test_a_failing_item_does_not_kill_the_lane():
    lanes, log = Lanes(), []

    async def boom(item):
        raise RuntimeError("bad")

    lanes.submit("a", WorkItem(run=boom))
    lanes.submit("a", _item(log, "next"))
    assert await lanes.drain(timeout=5)
    assert ("end", "next") in log


async def _until(predicate, timeout=5.0):
    async def wait():
        while not predicate():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout)
