"""The console during a PostgreSQL outage: operators keep the live views and the call
controls; what needs the database says so with a 503 (every request was a 500 with a
traceback, even the in-memory live-calls view)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from callcontrol.store.db import create_engine, migrate
from tests.console.conftest import add_user, console_settings, running_service, serve, sign_in
from tests.tools.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres


async def test_the_console_keeps_working_while_the_database_is_down(
    tmp_path: Path, postgres_url: str
) -> None:
    direct = create_engine(postgres_url)
    await migrate(direct)
    await direct.dispose()
    hostport = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = hostport.split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied = postgres_url.replace(hostport, f"127.0.0.1:{proxy.port}")
    try:
        settings = console_settings(tmp_path, proxied)
        async with running_service(settings) as service:
            await add_user(service, "alice")
            await service.live.put("calls", "c1", {"id": "c1", "state": "bot"})
            async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
                csrf = await sign_in(client, "alice")
                client.headers["X-CSRF-Token"] = csrf
                assert (await client.get("/api/history")).status_code == 200
                await proxy.cut()  # PostgreSQL unreachable from callcontrol

                me = await client.get("/api/me")
                assert me.status_code == 200 and me.json()["username"] == "alice"
                active = await client.get("/api/calls/active")
                assert active.status_code == 200 and [c["id"] for c in active.json()] == ["c1"]
                live = await client.get("/calls")
                assert live.status_code == 200
                cookie = f"cc_session={client.cookies['cc_session']}"
                ws_url = url.replace("http://", "ws://") + "/ws/live?topics=calls"
                async with connect(ws_url, additional_headers={"Cookie": cookie}) as ws:
                    snapshot = json.loads(await ws.recv())
                    assert snapshot["type"] == "snapshot" and snapshot["calls"][0]["id"] == "c1"

                history = await client.get("/api/history")
                assert history.status_code == 503
                assert "database is unavailable" in history.json()["detail"]
                page = await client.get("/history", headers={"Accept": "text/html"})
                assert page.status_code == 503 and "Traceback" not in page.text
                # Someone not signed in before the outage cannot be checked: 503, not 500.
                async with httpx.AsyncClient(base_url=url) as stranger:
                    form = await stranger.get("/login")
                    token = re.search(r'name="login_token" value="([^"]*)"', form.text)
                    assert token
                    tried = await stranger.post(
                        "/login",
                        data={"username": "alice", "password": "x", "login_token": token[1]},
                    )
                    assert tried.status_code == 503

                await proxy.restore()
                back = await client.get("/api/history")
                assert back.status_code == 200
    finally:
        await proxy.stop()
