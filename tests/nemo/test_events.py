"""Decoding /run_sse frames into turn events (nemo-api.md §9.3-§9.6)."""

from __future__ import annotations

import json

import pytest

from core.nemo.events import (
    AgentError, Heartbeat, StreamError, Text, TextDelta, ToolCall, ToolResult, TurnDecoder, TurnEnded,
)
from core.nemo.sse import parse_all


def decode(raw: bytes) -> tuple[list, TurnDecoder]:
    decoder = TurnDecoder()
    out = []
    for item in parse_all(raw):
        out += decoder.decode(item)
    return out, decoder


def frame(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


ADK_SAMPLE = (
    frame({"content": {"parts": [{"functionCall": {"id": "af-1", "args": {"city": "new york"},
                                                    "name": "get_weather"}}], "role": "model"},
           "invocationId": "e-1", "author": "a", "actions": {"stateDelta": {}, "artifactDelta": {},
                                                              "requestedAuthConfigs": {}},
           "longRunningToolIds": [], "id": "ptcjaZBa", "timestamp": 1743712255.3})
    + frame({"content": {"parts": [{"functionResponse": {"id": "af-1", "name": "get_weather",
                                                        "response": {"status": "success"}}}], "role": "user"},
             "invocationId": "e-1", "author": "a", "id": "5aocxjaq"})
    + frame({"content": {"parts": [{"text": "OK. It is sunny.\n"}], "role": "model"}, "invocationId": "e-1",
             "author": "a", "id": "rAnWGSiV"})
)


def test_adk_sample_decodes_to_tool_call_result_and_text():
    out, decoder = decode(ADK_SAMPLE)
    assert out == [ToolCall("get_weather", {"city": "new york"}),
                   ToolResult("get_weather", {"status": "success"}),
                   Text("OK. It is sunny.\n")]
    assert decoder.finish("done") == TurnEnded("done", "OK. It is sunny.\n", None)


@pytest.mark.parametrize("raw", [
    b": heartbeat\n\n",
    b":\n",
    b"data: \n\n",
    b"data:\n\n",
    b"data: heartbeat\n\n",
    b"event: heartbeat\ndata: \n\n",
    b"event: heartbeat\ndata: {}\n\n",
    b'data: {"type":"heartbeat"}\n\n',
    b'data: {"type": "ping"}\n\n',
])
def test_every_heartbeat_form(raw):
    out, decoder = decode(raw)
    assert out == [Heartbeat()]
    assert decoder.text == ""


def test_thought_parts_are_hidden():
    out, decoder = decode(frame({"content": {"parts": [
        {"text": "let me think about tempo", "thought": True, "thoughtSignature": "AAA="},
        {"text": "Added lo-fi music."}]}}))
    assert out == [Text("Added lo-fi music.")]
    assert "think" not in decoder.text


def test_partial_deltas_then_aggregate_replaces_them():
    raw = (frame({"partial": True, "content": {"parts": [{"text": "Add"}]}})
           + frame({"partial": True, "content": {"parts": [{"text": "ed music"}]}}))
    out, decoder = decode(raw)
    assert out == [TextDelta("Add"), TextDelta("ed music")]
    assert decoder.text == "Added music"  # a cut stream keeps what arrived
    out2 = decoder.decode(parse_all(frame({"content": {"parts": [{"text": "Added music."}]}}))[0])
    assert out2 == [Text("Added music.")]
    assert decoder.text == "Added music."


def test_several_text_events_join_with_newlines():
    raw = frame({"content": {"parts": [{"text": "One."}]}}) + frame({"content": {"parts": [{"text": "Two."}]}})
    _, decoder = decode(raw)
    assert decoder.text == "One.\nTwo."


def test_in_stream_error_frame_valid_json():
    out, decoder = decode(frame({"error": "Model overloaded"}))
    assert out == [StreamError("Model overloaded")]
    assert decoder.finish("done").error == "Model overloaded"


def test_in_stream_error_frame_broken_json_from_old_adk():
    out, _ = decode(b'data: {"error": "bad value "x" in draft"}\n\n')
    assert out == [StreamError('bad value "x" in draft')]


def test_unparsable_frame_without_error_is_ignored():
    out, _ = decode(b"data: not json at all\n\n")
    assert out == []


def test_agent_error_event_with_and_without_content():
    out, decoder = decode(frame({"errorCode": "SAFETY", "errorMessage": "blocked", "author": "a"}))
    assert out == [AgentError("SAFETY", "blocked")]
    assert decoder.finish("done").error == "blocked"
    out, _ = decode(frame({"errorCode": "MALFORMED_FUNCTION_CALL"}))
    assert out == [AgentError("MALFORMED_FUNCTION_CALL", None)]


def test_snake_case_pre_1_0_events():
    out, _ = decode(frame({"content": {"parts": [{"function_call": {"name": "edit_multitrack", "args": {"x": 1}}},
                                                 {"function_response": {"name": "edit_multitrack",
                                                                        "response": {"ok": True}}}]},
                           "error_code": "E", "error_message": "m"}))
    assert out == [ToolCall("edit_multitrack", {"x": 1}), ToolResult("edit_multitrack", {"ok": True}),
                   AgentError("E", "m")]


def test_legacy_type_frames():
    raw = (frame({"type": "text", "content": "Hello"})
           + frame({"type": "tool_call", "name": "generate_music", "args": {"style": "lofi"}})
           + frame({"type": "tool_result", "name": "generate_music", "result": {"ok": True}})
           + frame({"type": "heartbeat"})
           + frame({"type": "error", "message": "boom"}))
    out, decoder = decode(raw)
    assert out == [Text("Hello"), ToolCall("generate_music", {"style": "lofi"}),
                   ToolResult("generate_music", {"ok": True}), Heartbeat(), StreamError("boom")]
    assert decoder.text == "Hello"


def test_artifact_delta_split_event_without_content_is_quiet():
    out, _ = decode(frame({"actions": {"artifactDelta": {"f.png": 1}}, "invocationId": "e", "id": "x"}))
    assert out == []


def test_non_object_json_is_ignored():
    out, _ = decode(b"data: [1,2]\n\ndata: 42\n\n")
    assert out == []
