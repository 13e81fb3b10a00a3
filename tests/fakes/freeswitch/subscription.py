"""What one ESL listener has asked to receive (event/nixevent/noevents/filter/myevents).

A direct port of the parsing in mod_event_socket.c's parse_command and the checks in its
event_handler (v1.10.12), quirks included: once ``CUSTOM`` is seen every later word is a
subclass, a ``filter`` makes events *without* the filtered header disappear (e.g.
``filter Unique-ID x`` hides BACKGROUND_JOB), ``myevents`` lets only the session's events
(and its jobs) through. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .events import EVENT_NAMES, Event, event_type

MYEVENTS = frozenset(
    """CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA
    CHANNEL_DESTROY CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE
    CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_PROGRESS
    CHANNEL_PROGRESS_MEDIA CHANNEL_STATE CHANNEL_UNBRIDGE CHANNEL_UNPARK DETECTED_SPEECH DTMF
    NOTALK TALK""".split()
)
_FORMATS = ("plain", "json", "xml")
_ALL_NAMES = EVENT_NAMES - {"ALL"}


@dataclass
class Subscription:
    format: str = "plain"
    enabled: bool = False
    all_events: bool = False
    names: set[str] = field(default_factory=set)
    custom: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    myevents_uuid: str | None = None

    # ------------------------------------------------------------------ commands
    def event(self, line: str) -> str:
        words = line.split(" ")[1:]
        key_count = 0
        custom = False
        for count, word in enumerate(words):
            if count == 0 and word.lower() in _FORMATS:
                self.format = word.lower()
                continue
            if custom:
                self.custom.add(word)
                continue
            kind = event_type(word) if word else None
            if kind is None:
                continue
            key_count += 1
            if kind == "ALL":
                self.all_events = True
            self.names.add(kind)
            if kind == "CUSTOM":
                custom = True
        if not key_count:
            return "-ERR no keywords supplied"
        self.enabled = True
        return f"+OK event listener enabled {self.format}"

    def nixevent(self, line: str) -> str:
        words = line.split(" ")[1:]
        key_count = 0
        custom = False
        for word in words:
            if custom:
                self.custom.discard(word)
                continue
            kind = event_type(word) if word else None
            if kind is None:
                continue
            key_count += 1
            if kind == "CUSTOM":
                custom = True
            elif kind == "ALL":
                self.all_events = False
                self.names.clear()
            else:
                if self.all_events:
                    self.all_events = False
                    self.names = set(_ALL_NAMES)
                self.names.discard(kind)
        if not key_count:
            return "-ERR no keywords supplied"
        self.enabled = True
        return "+OK events nixed"

    def noevents(self) -> str:
        if not self.enabled:
            return "-ERR not listening for events"
        self.enabled = False
        self.all_events = False
        self.names.clear()
        self.custom.clear()
        return "+OK no longer listening for events"

    def filter(self, line: str) -> str:
        rest = line[7:].lstrip(" ")
        name, _, value = rest.partition(" ")
        if name.lower() == "delete" and value:
            name, _, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (k, v)
                    for k, v in self.filters
                    if not (k.lower() == name.lower() and (not value or v == value))
                ]
            return f"+OK filter deleted. [{name}][{value}]"
        if value:
            if name.lower() == "add":
                name, _, value = value.partition(" ")
            self.filters.append((name, value))
            return f"+OK filter added. [{name}]=[{value}]"
        return "-ERR invalid syntax"

    def myevents(self, session_uuid: str, line: str) -> str:
        if self.myevents_uuid is not None:
            return "-ERR aready enabled."
        self.myevents_uuid = session_uuid
        self.names |= MYEVENTS
        self.enabled = True
        if "xml" in line or "XML" in line:
            self.format = "xml"
        if "json" in line or "JSON" in line:
            self.format = "json"
        return "+OK Events Enabled"

    # ------------------------------------------------------------------ delivery
    def wants(self, event: Event) -> bool:
        if not self.enabled:
            return False
        name = event.name
        if self.all_events:
            send = True
        elif name in self.names:
            send = name != "CUSTOM" or not event.subclass or event.subclass in self.custom
        else:
            send = False
        if send and self.filters:
            send = self._filtered(event)
        if send and self.myevents_uuid is not None:
            uid = event.get("unique-id")
            if not uid or uid != self.myevents_uuid:
                send = False
            if event.get("Job-Owner-UUID") == self.myevents_uuid:
                send = True
        return send

    def _filtered(self, event: Event) -> bool:
        send = False
        for header, spec in self.filters:
            value = event.get(header)
            if value is None:
                continue
            positive = True
            comp = spec
            while comp and comp[0] in "+- ":
                if comp[0] == "+":
                    positive = True
                elif comp[0] == "-":
                    positive = False
                comp = comp[1:]
            if send and positive:
                continue
            if spec.startswith("/"):
                pattern = comp.strip("/")
                match = re.search(pattern, value) is not None
            else:
                match = value.lower() == comp.lower()
            if match:
                if positive:
                    send = True
                else:
                    return False
        return send
