"""An asyncio FreeSWITCH 1.10.12 + mod_audio_fork emulator for tests (see README.md).

It speaks the real wire protocols (ESL inbound/outbound, the audio-fork websocket) and
imports nothing from ``callcontrol``: it is an independent oracle.
"""

from .channel import Channel, Codec
from .events import Event
from .media import Audio
from .playback import CallAudio, PlaybackRecord
from .scenarios import Extension
from .switch import FakeFreeSwitch, SwitchConfig

__all__ = [
    "Audio",
    "CallAudio",
    "Channel",
    "Codec",
    "Event",
    "Extension",
    "FakeFreeSwitch",
    "PlaybackRecord",
    "SwitchConfig",
]
