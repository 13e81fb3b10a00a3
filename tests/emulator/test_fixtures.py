"""The fixture API as the README documents it, used the way the service's tests will."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import numpy as np

from tests.emulator.forkserver import ForkServer
from tests.fakes.freeswitch import Audio, Extension, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient
from tests.fakes.freeswitch.media import read_wav

CLIP = Path(__file__).resolve().parents[1] / "data" / "audio" / "pipeline_question.wav"


async def test_documented_flow(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    fake_switch.extensions["1001"] = Extension.never_answers()
    assert (
        await esl_client.api("originate {originate_timeout=1}user/1001 &park()")
        == "-ERR NO_ANSWER\n"
    )

    uuid = await fake_switch.inbound_call(
        caller="+15551230000",
        destination="5000",
        variables={"callcontrol_action": "bot"},
        audio=str(CLIP),
    )
    assert fake_switch.state_matches(uuid, "parked")
    await esl_client.api(f"uuid_answer {uuid}")
    await fake_switch.wait_for_channel_state(uuid, "ACTIVE")

    # the service forks the audio: the caller's clip arrives at 16 kHz, then silence
    assert (
        await esl_client.api(f"uuid_audio_fork {uuid} start {fork_server.url()} mono 16k")
        == "+OK Success\n"
    )
    peer = await fork_server.accept()
    await asyncio.sleep(0.6)
    clip, rate = read_wav(CLIP)
    heard_by_bot = peer.audio()
    expected = Audio(clip, rate).at(16000)
    n = min(len(heard_by_bot), 8000)
    assert n >= 8000
    corr = np.corrcoef(heard_by_bot[:n].astype(float), expected[:n].astype(float))[0, 1]
    assert corr > 0.99

    # ... and answers with playAudio + uuid_broadcast; the capture is what the caller heard
    reply = Audio.tone(350, 0.3, 16000)
    message = {
        "audioContentType": "raw",
        "sampleRate": 16000,
        "audioContent": base64.b64encode(reply.pcm).decode(),
    }
    await peer.ws.send(json.dumps({"type": "playAudio", "data": message}))
    event = await fake_switch.wait_for_event("mod_audio_fork::play_audio", uuid=uuid)
    path = json.loads(event.body or "{}")["file"]
    await esl_client.api(f"uuid_broadcast {uuid} {path} aleg")
    await fake_switch.wait_for_event("PLAYBACK_STOP", uuid=uuid)
    heard = fake_switch.captured_audio(uuid)
    assert heard.pcm == reply.pcm and heard.sample_rate == 16000
    assert heard.playbacks[0].started_at <= heard.playbacks[0].stopped_at

    fake_switch.caller_says(uuid, Audio.tone(440, 0.2))
    await fake_switch.caller_dtmf(uuid, "1", interval=0)
    await fake_switch.far_end_hangup(uuid)
    done = await fake_switch.wait_for_event("CHANNEL_HANGUP_COMPLETE", uuid=uuid)
    assert done.get("variable_callcontrol_action") == "bot"
    assert int(done.get("variable_billsec") or "-1") >= 0
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert [e.name for e in fake_switch.events_for(uuid, "DTMF")] == ["DTMF"]


async def test_switch_without_pytest(tmp_path: Path) -> None:
    async with FakeFreeSwitch(password="secret", hostname="fs1", temp_dir=tmp_path) as sw:
        client = await EslTestClient.connect(sw.esl_port, password="secret")
        await client.command("event json HEARTBEAT CHANNEL_CREATE")
        uid = await sw.inbound_call()
        created = json.loads((await client.next_event()).body)
        assert created["FreeSWITCH-Hostname"] == "fs1" and created["Unique-ID"] == uid
        await client.close()
    assert not sw.tasks.errors and len(sw.tasks) == 0
