"""Make faster-whisper's Silero v6 ONNX model run many calls in one batch. Pure bytes.

The bundled ``silero_vad_v6.onnx`` takes ``input[seq_len, 576]`` (64 samples of context +
512 new samples per row) and LSTM state ``h, c [1, 1, 128]``: its rows are *time steps of
one stream* (a Transpose ``[0, 2, 1]`` feeds them to the LSTM as the sequence axis).
Turning that Transpose into ``[2, 0, 1]`` makes the rows the LSTM's *batch* axis with one
time step, and declaring ``h, c, hn, cn`` as ``[1, batch, 128]`` lets each row carry its
own state: one ``session.run`` then advances ``batch`` independent calls by one chunk.

This is done on the protobuf wire format directly (ModelProto → graph → node / input /
output), so the ``onnx`` package is not needed; everything else stays byte-identical.
:func:`batch_over_streams` raises ``ValueError`` if the graph is not the expected one;
callers also check the result numerically against the original model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

# (field number, wire type, payload): int for varints, raw bytes for the other types.
Field: TypeAlias = tuple[int, int, int | bytes]

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# onnx.proto field numbers
_MODEL_GRAPH: Final = 7
_GRAPH_NODE, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 11, 12
_NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 2, 4, 5
_ATTR_NAME, _ATTR_INTS = 1, 8
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR, _TENSOR_SHAPE, _SHAPE_DIM = 1, 2, 1
_DIM_VALUE, _DIM_PARAM = 1, 2

_LSTM_INPUT_TRANSPOSE: Final = b"/Transpose_output_0"
_STATE_NAMES: Final = (b"h", b"c", b"hn", b"cn")


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse_fields(buf: bytes) -> list[Field]:
    """Split one protobuf message into its fields (not recursive)."""
    fields: list[Field] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        payload: int | bytes
        if wire == _VARINT:
            payload, pos = _read_varint(buf, pos)
        elif wire == _I64:
            payload, pos = buf[pos : pos + 8], pos + 8
        elif wire == _I32:
            payload, pos = buf[pos : pos + 4], pos + 4
        elif wire == _LEN:
            size, pos = _read_varint(buf, pos)
            payload, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf field")
        fields.append((number, wire, payload))
    return fields


def serialize_fields(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, payload in fields:
        out += _varint(number << 3 | wire)
        if isinstance(payload, int):
            out += _varint(payload)
        elif wire == _LEN:
            out += _varint(len(payload)) + payload
        else:
            out += payload
    return bytes(out)


def _edit(buf: bytes, number: int, fn: Callable[[bytes], bytes]) -> bytes:
    """Apply ``fn`` to every length-delimited field ``number`` of the message ``buf``."""
    fields = parse_fields(buf)
    out: list[Field] = []
    for num, wire, payload in fields:
        if num == number and wire == _LEN and isinstance(payload, bytes):
            payload = fn(payload)
        out.append((num, wire, payload))
    return serialize_fields(out)


def _strings(buf: bytes, number: int) -> list[bytes]:
    return [p for n, w, p in parse_fields(buf) if n == number and isinstance(p, bytes)]


def _ints(buf: bytes, number: int) -> list[int]:
    values: list[int] = []
    for n, _wire, payload in parse_fields(buf):
        if n != number:
            continue
        if isinstance(payload, int):
            values.append(payload)
        else:  # packed
            pos = 0
            while pos < len(payload):
                value, pos = _read_varint(payload, pos)
                values.append(value)
    return values


class _Patch:
    def __init__(self) -> None:
        self.transposes = 0
        self.states: set[bytes] = set()

    def node(self, node: bytes) -> bytes:
        if _strings(node, _NODE_OP_TYPE) != [b"Transpose"]:
            return node
        if _strings(node, _NODE_OUTPUT) != [_LSTM_INPUT_TRANSPOSE]:
            return node
        return _edit(node, _NODE_ATTRIBUTE, self._perm)

    def _perm(self, attr: bytes) -> bytes:
        if _strings(attr, _ATTR_NAME) != [b"perm"]:
            return attr
        if _ints(attr, _ATTR_INTS) != [0, 2, 1]:
            raise ValueError("the LSTM input Transpose is not perm [0, 2, 1]")
        self.transposes += 1
        fields = [f for f in parse_fields(attr) if f[0] != _ATTR_INTS]
        fields += [(_ATTR_INTS, _VARINT, v) for v in (2, 0, 1)]
        return serialize_fields(fields)

    def value_info(self, info: bytes) -> bytes:
        names = _strings(info, _VALUE_NAME)
        if len(names) != 1 or names[0] not in _STATE_NAMES:
            return info
        self.states.add(names[0])
        return _edit(
            info,
            _VALUE_TYPE,
            lambda t: _edit(t, _TYPE_TENSOR, lambda tt: _edit(tt, _TENSOR_SHAPE, self._batch_dim)),
        )

    @staticmethod
    def _batch_dim(shape: bytes) -> bytes:
        fields = parse_fields(shape)
        dims = [i for i, f in enumerate(fields) if f[0] == _SHAPE_DIM]
        if len(dims) != 3:
            raise ValueError("LSTM state is not 3-dimensional")
        number, wire, _payload = fields[dims[1]]
        fields[dims[1]] = (number, wire, serialize_fields([(_DIM_PARAM, _LEN, b"batch")]))
        return serialize_fields(fields)

    def graph(self, graph: bytes) -> bytes:
        graph = _edit(graph, _GRAPH_NODE, self.node)
        graph = _edit(graph, _GRAPH_INPUT, self.value_info)
        return _edit(graph, _GRAPH_OUTPUT, self.value_info)


def batch_over_streams(model: bytes) -> bytes:
    """Return the Silero v6 model rewritten so that rows are independent streams."""
    patch = _Patch()
    out = _edit(model, _MODEL_GRAPH, patch.graph)
    if patch.transposes != 1 or patch.states != set(_STATE_NAMES):
        raise ValueError(
            "not the expected Silero v6 graph "
            f"(transposes patched: {patch.transposes}, states: {sorted(patch.states)})"
        )
    return out
