"""The event-stream parser against hand-written byte streams and any chunk split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.nemo.sse import LineTooLong, SSEComment, SSEEvent, SSEParser, parse_all


def events(items):
    return [i for i in items if isinstance(i, SSEEvent)]


def test_adk_framing_two_events():
    out = parse_all(b'data: {"a":1}\n\ndata: {"b":2}\n\n')
    assert out == [SSEEvent('{"a":1}'), SSEEvent('{"b":2}')]


def test_crlf_cr_and_lf_line_ends_are_equivalent():
    lf = parse_all(b"event: x\ndata: one\ndata: two\n\n")
    crlf = parse_all(b"event: x\r\ndata: one\r\ndata: two\r\n\r\n")
    cr = parse_all(b"event: x\rdata: one\rdata: two\r\r")
    assert lf == crlf == cr == [SSEEvent("one\ntwo", "x")]


def test_cr_and_lf_split_across_chunks_is_one_line_end():
    parser = SSEParser()
    out = parser.feed(b"data: a\r") + parser.feed(b"\n") + parser.feed(b"\r") + parser.feed(b"\ndata: b\n\n")
    assert out == [SSEEvent("a"), SSEEvent("b")]


def test_comments_are_reported_and_do_not_dispatch():
    out = parse_all(b": heartbeat\n:ping\n\ndata: x\n\n")
    assert out == [SSEComment("heartbeat"), SSEComment("ping"), SSEEvent("x")]


def test_data_with_and_without_space_and_only_one_space_stripped():
    out = parse_all(b"data:a\n\ndata: b\n\ndata:  c\n\n")
    assert [e.data for e in events(out)] == ["a", "b", " c"]


def test_empty_data_dispatches_empty_event_but_blank_lines_alone_do_not():
    out = parse_all(b"\n\ndata:\n\ndata: \n\n\n")
    assert out == [SSEEvent(""), SSEEvent("")]


def test_multi_line_data_keeps_empty_middle_lines():
    out = parse_all(b"data: a\ndata:\ndata: b\n\n")
    assert events(out)[0].data == "a\n\nb"


def test_event_id_and_retry_fields():
    out = parse_all(b"event: heartbeat\nid: 7\nretry: 1500\ndata: x\n\nretry: soon\ndata: y\n\n")
    assert out[0] == SSEEvent("x", "heartbeat", "7", 1500)
    # id persists, event type resets, a non-numeric retry is ignored
    assert out[1] == SSEEvent("y", "message", "7", 1500)


def test_id_with_nul_is_ignored_and_unknown_fields_too():
    out = parse_all(b"id: 1\n\nid: a\x00b\nfoo: bar\ndata\n\n")
    assert out == [SSEEvent("", "message", "1")]


def test_field_without_colon_is_a_field_with_empty_value():
    out = parse_all(b"data\ndata\n\n")
    assert out == [SSEEvent("\n")]


def test_bom_is_dropped_once_even_when_split():
    parser = SSEParser()
    out = parser.feed(b"\xef") + parser.feed(b"\xbb") + parser.feed(b"\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n")
    assert out[0] == SSEEvent("x")
    # a BOM later in the stream is not a BOM: the line is an unknown field
    assert len(out) == 1


def test_unfinished_event_at_end_of_stream_is_discarded():
    assert parse_all(b"data: done\n\ndata: half") == [SSEEvent("done")]
    assert parse_all(b"data: done\n\ndata: half\n") == [SSEEvent("done")]


def test_utf8_across_chunks_and_invalid_bytes_replaced():
    raw = "data: 添加音乐 🎵\n\n".encode()
    assert parse_all(raw, list(range(1, len(raw)))) == [SSEEvent("添加音乐 🎵")]
    assert parse_all(b"data: \xff\n\n") == [SSEEvent("\ufffd")]


def test_multi_megabyte_line_in_small_chunks():
    big = b"A" * (5 * 1024 * 1024)
    raw = b'data: {"inlineData":"' + big + b'"}\n\ndata: next\n\n'
    parser = SSEParser()
    out = []
    for i in range(0, len(raw), 65536):
        out += parser.feed(raw[i:i + 65536])
    assert len(out) == 2
    assert len(out[0].data) == len(big) + len('{"inlineData":""}')
    assert out[1].data == "next"


def test_line_cap_raises():
    parser = SSEParser(max_line_bytes=1000)
    with pytest.raises(LineTooLong):
        parser.feed(b"data: " + b"x" * 2000)


STREAM_PIECES = [
    b"data: {\"a\":1}\n\n", b": heartbeat\n", b"data:\n\n", b"data: heartbeat\n\n",
    b"event: heartbeat\ndata: \n\n", b"data: one\r\ndata: two\r\n\r\n", b"data: x\rid: 9\r\r",
    b"retry: 10\n", b"\n", b"data: \xe4\xb8\xad\n\n", b"\r\n", b"field-without-colon\n",
]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(STREAM_PIECES), min_size=1, max_size=12),
    bom=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
def test_any_chunk_split_parses_identically(pieces, bom, cuts):
    raw = (b"\xef\xbb\xbf" if bom else b"") + b"".join(pieces)
    whole = parse_all(raw)
    assert parse_all(raw, [c for c in cuts if c <= len(raw)]) == whole
    # and byte by byte
    assert parse_all(raw, list(range(len(raw)))) == whole


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10))
def test_arbitrary_bytes_split_anywhere_parse_identically(raw, cuts):
    assert parse_all(raw, [c for c in cuts if c <= len(raw)]) == parse_all(raw)
