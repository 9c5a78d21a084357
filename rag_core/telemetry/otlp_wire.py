"""OTLP's protobuf bytes of the export process's span records, written directly (in the child).

The SDK's way from a span to the bytes it sends builds a ``ReadableSpan`` (its attribute map
checks every value again), then a protobuf message per span, per attribute and per value, and
serialises the tree: about 50 us of Python a span of a question's shape, on the same two cores
as the answers. Most spans the service makes are plain: attribute keys that are strings, values
that are strings, booleans, 64-bit integers, floats or lists of those, events of the same kind,
no links. For those this module writes the protobuf wire format itself (about 9 us a span).
Any other span (a link, a value of another type, a string longer than
``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT``, more attributes or events than the ``OTEL_SPAN_*``
limits allow) takes the SDK's own path for that span, so its limits, checks and counts of what
was dropped stay the SDK's. Protobuf allows a message's fields in any order and the entries of a
repeated field one after another, so a batch is the resource's and scope's fields (encoded once
by the SDK) followed by the spans' entries.

``tests/unit/test_otlp_wire.py`` decodes what this writes and compares it, field for field, with
what the SDK's encoder makes of the same records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

_DOUBLE = struct.Struct("<d").pack
_FIXED64 = struct.Struct("<Q").pack
_FLAGS = struct.Struct("<I").pack
_INT64 = range(-(1 << 63), 1 << 63)
HAS_IS_REMOTE, IS_REMOTE = 0x100, 0x200  # SpanFlags: the parent's remoteness is known; remote


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [varint(n) for n in range(1024)]


def _uint(n: int) -> bytes:
    return _SMALL[n] if n < 1024 else varint(n)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: ``tag`` (field number and wire type 2), length, payload."""
    return tag + _uint(len(payload)) + payload


class NotPlain(Exception):
    """A span this module leaves to the SDK's encoder."""


class SpanWriter:
    """Plain spans' bytes under one set of ``OTEL_SPAN_*`` limits."""

    def __init__(self, limits: Any) -> None:
        self.max_attributes = limits.max_span_attributes
        self.max_event_attributes = limits.max_event_attributes
        self.max_events = limits.max_events
        self.max_length = limits.max_span_attribute_length
        self.keys: dict[str, bytes] = {}  # a key's encoded field, written once

    def value(self, value: Any) -> bytes:
        """An ``AnyValue``'s payload."""
        kind = value.__class__
        if kind is str:
            if self.max_length is not None and len(value) > self.max_length:
                raise NotPlain("a string over the length limit")
            return _field(b"\x0a", value.encode())
        if kind is bool:
            return b"\x10\x01" if value else b"\x10\x00"
        if kind is int:
            if value not in _INT64:
                raise NotPlain("an integer beyond 64 bits")
            return b"\x18" + varint(value & 0xFFFF_FFFF_FFFF_FFFF)
        if kind is float:
            return b"\x21" + _DOUBLE(value)
        if kind is tuple or kind is list:
            return _field(b"\x2a", b"".join(_field(b"\x0a", self.value(item)) for item in value))
        raise NotPlain(f"a value of type {kind.__name__}")

    def attributes(self, tag: bytes, values: Mapping[str, Any] | None, most: int | None) -> bytes:
        """Each attribute as a ``KeyValue`` entry of the field ``tag``."""
        if not values:
            return b""
        if most is not None and len(values) > most:
            raise NotPlain("more attributes than the limit")
        keys, parts = self.keys, []
        for key, value in values.items():
            head = keys.get(key)
            if head is None:
                if key.__class__ is not str or not key:
                    raise NotPlain("a key that is not a non-empty string")
                head = keys[key] = _field(b"\x0a", key.encode())
            parts.append(_field(tag, head + _field(b"\x12", self.value(value))))
        return b"".join(parts)

    def span(self, record: tuple[Any, ...]) -> bytes:
        """A plain span's ``Span`` message (``NotPlain`` when it is not one)."""
        (_, name, trace_id, span_id, _, state, parent, kind, attributes, events, links, code,
         description, start, end) = record
        if links or (events and len(events) > self.max_events):
            raise NotPlain("links, or more events than the limit")
        parts = [b"\x0a\x10" + trace_id.to_bytes(16, "big"),
                 b"\x12\x08" + span_id.to_bytes(8, "big")]
        if state:
            parts.append(_field(b"\x1a", ",".join(f"{k}={v}" for k, v in state).encode()))
        if parent is not None:
            parts.append(b"\x22\x08" + parent[1].to_bytes(8, "big"))
        if name:
            parts.append(_field(b"\x2a", name.encode()))
        parts.append(b"\x30" + _uint(kind + 1))  # the SDK's SpanKind counts from 0, OTLP from 1
        parts.append(b"\x39" + _FIXED64(start))
        if end:
            parts.append(b"\x41" + _FIXED64(end))
        parts.append(self.attributes(b"\x4a", attributes, self.max_attributes))
        for what, values, when in events or ():
            parts.append(_field(b"\x5a", b"".join((
                b"\x09" + _FIXED64(when) if when else b"",
                _field(b"\x12", what.encode()) if what else b"",
                self.attributes(b"\x1a", values, self.max_event_attributes)))))
        status = b"\x18" + _uint(code) if code else b""
        if code == 2 and description:  # the SDK keeps a description only on an error
            status = _field(b"\x12", description.encode()) + status
        parts.append(_field(b"\x7a", status))
        remote = parent is not None and parent[2]
        parts.append(b"\x85\x01" + _FLAGS(HAS_IS_REMOTE | (IS_REMOTE if remote else 0)))
        return b"".join(parts)


class Batches:
    """Spans' bytes gathered by origin (resource and scope), and the request that sends them.

    ``sdk_span_bytes(record)`` is the SDK's encoding of one record, for a span that is not
    plain; ``origin_bytes`` the SDK's ``ResourceSpans`` and ``ScopeSpans`` of an origin, each
    without its spans."""

    def __init__(self, sdk_span_bytes: Callable[[tuple[Any, ...]], bytes]) -> None:
        self.sdk_span_bytes = sdk_span_bytes
        self.writers: dict[int, SpanWriter] = {}
        self.origins: dict[int, tuple[bytes, bytes]] = {}
        self.spans: dict[int, list[bytes]] = {}
        self.count = 0

    def origin(self, key: int, origin_bytes: tuple[bytes, bytes], limits: Any) -> None:
        self.origins[key] = origin_bytes
        self.writers[key] = SpanWriter(limits)

    def encode(self, records: list[tuple[Any, ...]]) -> list[tuple[int, bytes]]:
        """Each record's origin and ``Span`` bytes (raises what the SDK's encoder raises for a
        record neither can encode)."""
        encoded = []
        for record in records:
            key = record[0]
            try:
                data = self.writers[key].span(record)
            except (NotPlain, UnicodeEncodeError, OverflowError):
                data = self.sdk_span_bytes(record)
            encoded.append((key, data))
        return encoded

    def add(self, encoded: list[tuple[int, bytes]]) -> None:
        for key, data in encoded:
            self.spans.setdefault(key, []).append(data)
        self.count += len(encoded)

    def request(self) -> bytes:
        """The ``ExportTraceServiceRequest`` of what was added since the last request."""
        parts = []
        for key, spans in self.spans.items():
            resource_spans, scope_spans = self.origins[key]
            scope = scope_spans + b"".join(_field(b"\x12", span) for span in spans)
            parts.append(_field(b"\x0a", resource_spans + _field(b"\x12", scope)))
        self.spans, self.count = {}, 0
        return b"".join(parts)
