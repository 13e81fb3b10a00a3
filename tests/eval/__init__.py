"""``make eval``: answer quality and caller-side latency, as a caller experiences them.

Questions from ``data/questions/<kb>.yaml`` are spoken by espeak-ng voices, turned into
telephone audio, and asked at real time through the real media path — the worker's
direct websocket, or FreeSWITCH (the emulator) with mod_audio_fork — of one in-process
service with the real models, loaded with ``data/kb/<kb>/*.md``. See ``cli.py``.
"""
