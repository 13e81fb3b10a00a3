"""The protobuf-level rewrite that lets one Silero run serve many calls."""

from __future__ import annotations

import pytest

from callcontrol.media import onnx_patch as op
from callcontrol.media.silero import silero_model_path


def test_fields_roundtrip() -> None:
    fields: list[op.Field] = [
        (1, 0, 150),
        (2, 2, b"hello"),
        (3, 1, b"\x00" * 8),
        (4, 5, b"\x01\x02\x03\x04"),
        (8, 0, 2**64 - 1),  # a negative int64 as protobuf writes it
    ]
    data = op.serialize_fields(fields)
    assert op.parse_fields(data) == fields
    assert op.serialize_fields(op.parse_fields(data)) == data


@pytest.mark.parametrize("data", [b"\x08", b"\x12\x05abc", b"\x0b", b"\x08" + b"\xff" * 11])
def test_truncated_or_unsupported_input_raises(data: bytes) -> None:
    with pytest.raises(ValueError):
        op.parse_fields(data)


def test_packed_ints_are_read() -> None:
    attr = op.serialize_fields([(1, 2, b"perm"), (8, 2, bytes([0, 2, 1]))])
    assert op._ints(attr, 8) == [0, 2, 1]


def test_the_real_model_is_patched_and_nothing_else_changes() -> None:
    raw = silero_model_path().read_bytes()
    assert op.serialize_fields(op.parse_fields(raw)) == raw  # the codec is lossless
    patched = op.batch_over_streams(raw)
    assert patched != raw
    assert abs(len(patched) - len(raw)) < 100
    # the weights (initializers) are untouched byte for byte
    graph = next(p for n, _w, p in op.parse_fields(raw) if n == 7)
    new_graph = next(p for n, _w, p in op.parse_fields(patched) if n == 7)
    assert isinstance(graph, bytes) and isinstance(new_graph, bytes)
    inits = [p for n, _w, p in op.parse_fields(graph) if n == 5]
    new_inits = [p for n, _w, p in op.parse_fields(new_graph) if n == 5]
    assert inits == new_inits and len(inits) > 10
    with pytest.raises(ValueError, match="perm"):
        op.batch_over_streams(patched)  # already rewritten: refuses to guess


def test_other_graphs_are_refused() -> None:
    model = op.serialize_fields([(7, 2, op.serialize_fields([(1, 2, b"")]))])
    with pytest.raises(ValueError, match="not the expected Silero"):
        op.batch_over_streams(model)
