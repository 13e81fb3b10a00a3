"""Security of the console: authentication on every route, roles, CSRF, origins,
sessions, escaping, headers and the public probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from callcontrol.console.app import PUBLIC_PATHS, create_app
from callcontrol.store.models import Call, Turn, utcnow
from callcontrol.store.repos import OperatorRepo
from tests.console.conftest import (
    PASSWORD,
    Console,
    add_user,
    console_settings,
    running_service,
    serve,
    sign_in,
)

_PARAM = re.compile(r"{(\w+)(:\w+)?}")


def _concrete(path: str) -> str:
    return _PARAM.sub("x1", path)


def _routes(console: Console) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(method, path) of every HTTP route, websocket paths, and mounts — from the app."""
    app = create_app(console.service)
    http: list[tuple[str, str]] = []
    sockets: list[str] = []
    mounts: list[str] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path
        assert isinstance(path, str)
        if isinstance(route, APIRoute):
            for method in sorted((context.methods or set()) - {"HEAD"}):
                http.append((method, path))
        elif isinstance(route, APIWebSocketRoute | WebSocketRoute):
            sockets.append(path)
        elif isinstance(route, Mount):
            mounts.append(path)
        else:  # pragma: no cover - a new kind of route must be classified here
            raise AssertionError(f"unclassified route {route!r}")
    return http, sockets, mounts


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS


async def test_every_route_refuses_anonymous_requests(console: Console) -> None:
    http, sockets, mounts = _routes(console)
    assert len(http) > 30 and "/ws/live" in sockets and "/ws/talk" in sockets
    assert mounts == ["/static"]
    checked = 0
    client = console.client()
    for method, path in http:
        if _is_public(path):
            continue
        url = _concrete(path)
        response = await client.request(method, url, json={} if method != "GET" else None)
        checked += 1
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login?next="), (method, path)
            assert method == "GET" and not path.startswith("/api/"), (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)
    assert checked > 30
    ws_base = console.url.replace("http://", "ws://")
    for path in sockets:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_base + path):
                pass
        assert refused.value.response.status_code == 403, path


async def test_public_routes_are_only_the_probes_and_sign_in(console: Console) -> None:
    http, _, _ = _routes(console)
    public = {path for _, path in http if _is_public(path)}
    assert public == {"/health", "/ready", "/metrics", "/login"}
    client = console.client()
    assert (await client.get("/health")).status_code == 200
    ready = await client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "callcontrol_hitl_queue_length" in metrics.text
    assert "callcontrol_calls_active" in metrics.text
    css = await client.get("/static/app.css")
    assert css.status_code == 200


async def test_operator_cannot_reach_admin_routes(console: Console) -> None:
    http, _, _ = _routes(console)
    admin_routes = [(m, p) for m, p in http if p.startswith(("/admin", "/api/admin"))]
    assert len(admin_routes) >= 7
    operator, _ = await console.signed_in("alice")
    admin, _ = await console.signed_in("root")
    for method, path in admin_routes:
        url = _concrete(path)
        body = {} if method != "GET" else None
        response = await operator.request(method, url, json=body)
        assert response.status_code == 403, (method, path, response.status_code)
    assert (await admin.get("/admin/users")).status_code == 200
    assert (await admin.get("/api/admin/users")).status_code == 200
    # what an operator tried did not happen
    users = {u["username"] for u in (await admin.get("/api/admin/users")).json()}
    assert users == {"root", "alice"}


async def test_admin_user_management(console: Console) -> None:
    admin, _ = await console.signed_in("root")
    created = await admin.post("/api/admin/users", json={"username": "bob", "password": PASSWORD})
    assert created.status_code == 201, created.text
    bob_id = created.json()["id"]
    dup = await admin.post("/api/admin/users", json={"username": "bob", "password": "longenough1"})
    assert dup.status_code == 409
    weak = await admin.post("/api/admin/users", json={"username": "eve", "password": "short"})
    assert weak.status_code == 422
    bad_name = await admin.post(
        "/api/admin/users", json={"username": "<b>x</b>", "password": "longenough1"}
    )
    assert bad_name.status_code == 422
    bob, _ = await console.signed_in("bob")
    assert (await bob.get("/api/me")).status_code == 200
    promoted = await admin.put(f"/api/admin/users/{bob_id}", json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    # a role change ends the user's sessions
    assert (await bob.get("/api/me")).status_code == 401
    me = (await admin.get("/api/me")).json()
    assert (await admin.delete(f"/api/admin/users/{me['id']}")).status_code == 409
    assert (await admin.delete(f"/api/admin/users/{bob_id}")).status_code == 200
    assert (await admin.delete(f"/api/admin/users/{bob_id}")).status_code == 404


async def test_csrf_is_enforced(console: Console) -> None:
    client, csrf = await console.signed_in("alice")
    del client.headers["X-CSRF-Token"]
    missing = await client.put("/api/me/status", json={"status": "available"})
    assert missing.status_code == 403
    wrong = await client.put(
        "/api/me/status", json={"status": "available"}, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403
    me = (await client.get("/api/me")).json()
    assert me["status"] == "offline"  # nothing changed
    # a form post needs the token field
    no_field = await client.post("/profile", data={"extension": "2000"})
    assert no_field.status_code == 403
    assert (await client.get("/api/me")).json()["extension"] == "1001"
    ok_form = await client.post("/profile", data={"extension": "2000", "csrf_token": csrf})
    assert ok_form.status_code == 303
    assert (await client.get("/api/me")).json()["extension"] == "2000"
    # the token of another session does not work
    other, other_csrf = await console.signed_in("alice")
    assert other_csrf != csrf
    crossed = await client.put(
        "/api/me/status", json={"status": "away"}, headers={"X-CSRF-Token": other_csrf}
    )
    assert crossed.status_code == 403
    ok = await client.put(
        "/api/me/status", json={"status": "available"}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200 and ok.json()["status"] == "available"
    # a foreign origin is refused even with the right token
    foreign = await client.put(
        "/api/me/status",
        json={"status": "away"},
        headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    logout = await client.post("/logout")
    assert logout.status_code == 403  # needs the form token too


async def test_websocket_refuses_foreign_origin_and_unknown_topics(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    cookie = f"cc_session={client.cookies['cc_session']}"
    ws = console.url.replace("http://", "ws://")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            ws + "/ws/live?topics=calls",
            additional_headers={"Cookie": cookie},
            origin="http://evil.example",  # type: ignore[arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with connect(ws + "/ws/live?topics=secrets", additional_headers={"Cookie": cookie}):
            pass
    async with connect(ws + "/ws/live?topics=calls", additional_headers={"Cookie": cookie}) as c:
        assert '"snapshot"' in await c.recv()


async def test_sign_in_failures_logout_and_rate_limit(tmp_path: Path, sqlite_url: str) -> None:
    settings = console_settings(
        tmp_path, sqlite_url, console={"login_max_failures": 3, "login_window_s": 60}
    )
    async with running_service(settings) as service:
        await add_user(service, "alice")
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            # no form token: refused even with the right password
            response = await client.post("/login", data={"username": "alice", "password": PASSWORD})
            assert response.status_code == 403
            for _ in range(3):
                form = await client.get("/login")
                token = re.search(r'name="login_token" value="([^"]*)"', form.text)
                assert token
                bad = await client.post(
                    "/login",
                    data={"username": "alice", "password": "wrong", "login_token": token[1]},
                )
                assert bad.status_code == 401
                assert "Wrong username or password" in bad.text
            form = await client.get("/login")
            token = re.search(r'name="login_token" value="([^"]*)"', form.text)
            assert token
            limited = await client.post(
                "/login", data={"username": "alice", "password": PASSWORD, "login_token": token[1]}
            )
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            # a fresh worker (the limit is per worker): sign in, then out
            csrf = await sign_in(client, "alice")
            old_cookie = client.cookies["cc_session"]
            out = await client.post("/logout", data={"csrf_token": csrf})
            assert out.status_code == 303
            client.cookies.set("cc_session", old_cookie)
            after = await client.get("/api/me")
            assert after.status_code == 401  # the session row is gone
            op = await OperatorRepo(service.sessions).by_username("alice")
            assert op is not None and op.status == "offline"


async def test_redirect_after_sign_in_stays_local(console: Console) -> None:
    client = console.client()
    page = await client.get("/hitl?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fhitl%3Fx%3D1"
    form = await client.get("/login", params={"next": "//evil.example/x"})
    token = re.search(r'name="login_token" value="([^"]*)"', form.text)
    assert token and 'value="/"' in form.text
    response = await client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "login_token": token[1],
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/"


async def test_password_change_ends_other_sessions(console: Console) -> None:
    first, csrf = await console.signed_in("alice")
    second, _ = await console.signed_in("alice")
    changed = await first.post(
        "/profile/password",
        data={
            "current": PASSWORD,
            "new": "a brand new one",
            "confirm": "a brand new one",
            "csrf_token": csrf,
        },
    )
    assert changed.status_code == 303
    assert (await first.get("/api/me")).status_code == 200
    assert (await second.get("/api/me")).status_code == 401
    wrong = await first.post(
        "/profile/password",
        data={
            "current": "nope",
            "new": "whatever123",
            "confirm": "whatever123",
            "csrf_token": csrf,
        },
    )
    assert wrong.status_code == 422


async def test_html_in_a_transcript_is_not_markup(console: Console) -> None:
    evil = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    async with console.service.sessions() as s:
        s.add(Call(id="call-x", caller_number="1000", state="hangup"))
        s.add(Turn(call_id="call-x", seq=1, speaker="caller", text=evil, started_at=utcnow()))
        await s.commit()
    client, _ = await console.signed_in("alice")
    page = await client.get("/calls/call-x")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "\\u003cscript\\u003ealert" in page.text  # the JSON island, escaped
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_html_in_a_kb_entry_is_not_markup(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    created = await client.post(
        "/api/kb/docs",
        json={"owner": "9198", "title": "<b>bold</b>", "text": "<script>x()</script> hours"},
    )
    assert created.status_code == 201, created.text
    doc = created.json()
    page = await client.get(f"/kb/docs/{doc['id']}")
    assert page.status_code == 200
    assert "<b>bold</b>" not in page.text and "&lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "<script>x()" not in page.text and "&lt;script&gt;x()" in page.text
    listing = await client.get("/kb", params={"owner": "9198"})
    assert "<b>bold</b>" not in listing.text


async def test_malformed_json_is_refused_and_changes_nothing(console: Console) -> None:
    client, _ = await console.signed_in("root")
    for method, url in [
        ("PUT", "/api/me/status"),
        ("POST", "/api/admin/users"),
        ("POST", "/api/kb/docs"),
        ("PUT", "/api/admin/settings"),
        ("POST", "/api/hitl/x1/answer"),
    ]:
        response = await client.request(
            method, url, content=b'{"status": "avail', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (url, response.status_code)
    wrong_type = await client.put("/api/me/status", json={"status": ["available"]})
    assert wrong_type.status_code == 422
    unknown = await client.put("/api/me/status", json={"status": "sleeping"})
    assert unknown.status_code == 422
    assert (await client.get("/api/me")).json()["status"] == "offline"
    assert len((await client.get("/api/admin/users")).json()) == 2
    assert (await client.get("/api/kb/owners")).json() == []


async def test_metrics_can_require_auth(tmp_path: Path, sqlite_url: str) -> None:
    settings = console_settings(
        tmp_path, sqlite_url, console={"metrics_public": False, "metrics_token": "scrape-me-123"}
    )
    async with running_service(settings) as service:
        await add_user(service, "alice")
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            bearer = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-123"})
            assert bearer.status_code == 200
            await sign_in(client, "alice")
            assert (await client.get("/metrics")).status_code == 200


async def test_secret_key_is_generated_once_with_private_permissions(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = console_settings(tmp_path, sqlite_url, console={"secret_key": None})
    async with running_service(settings) as service:
        create_app(service)
        secret = settings.data_dir / "console-secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        first = secret.read_text()
        create_app(service)
        assert secret.read_text() == first and len(first.strip()) >= 32


@pytest.mark.parametrize(
    "phrase",
    ["Hello\x00there", "", "   ", "x" * 401, "Hi\u0007", "...", "Hi\ud800"],
    ids=["nul", "empty", "blank", "too-long", "bell", "no-words", "lone-surrogate"],
)
async def test_a_phrase_the_bot_cannot_say_is_refused(console: Console, phrase: str) -> None:
    """A greeting with NUL was accepted and from then on every call ended at once."""
    client, _ = await console.signed_in("root")
    before = {s["key"]: s["value"] for s in (await client.get("/api/admin/settings")).json()}
    body = json.dumps({"values": {"pipeline.greeting": phrase}}, ensure_ascii=True)
    response = await client.put(
        "/api/admin/settings", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    after = {s["key"]: s["value"] for s in (await client.get("/api/admin/settings")).json()}
    assert after == before


async def test_a_good_phrase_is_saved_trimmed(console: Console) -> None:
    client, _ = await console.signed_in("root")
    response = await client.put(
        "/api/admin/settings", json={"values": {"pipeline.greeting": "  Welcome to Acme!  "}}
    )
    assert response.status_code == 200, response.text
    values = {s["key"]: s["value"] for s in response.json()}
    assert values["pipeline.greeting"] == "Welcome to Acme!"


async def _failed_sign_in(client: httpx.AsyncClient, username: str, forwarded: str) -> int:
    headers = {"X-Forwarded-For": forwarded}
    form = await client.get("/login", headers=headers)
    token = re.search(r'name="login_token" value="([^"]*)"', form.text)
    assert token
    response = await client.post(
        "/login",
        data={"username": username, "password": "wrong", "login_token": token[1]},
        headers=headers,
    )
    return response.status_code


async def test_a_forwarded_address_does_not_reset_the_limit(
    tmp_path: Path, sqlite_url: str
) -> None:
    """uvicorn's default believes X-Forwarded-For from 127.0.0.1: a new made-up
    address per guess was unlimited guessing."""
    settings = console_settings(
        tmp_path, sqlite_url, console={"login_max_failures": 2, "login_window_s": 60}
    )
    async with running_service(settings) as service:
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            codes = [await _failed_sign_in(client, f"user{i}", f"198.51.100.{i}") for i in range(9)]
    # per address: 4 × login_max_failures failures, then refused
    assert codes[:8] == [401] * 8 and codes[8] == 429


async def test_one_account_is_limited_across_addresses(tmp_path: Path, sqlite_url: str) -> None:
    settings = console_settings(
        tmp_path,
        sqlite_url,
        console={"login_max_failures": 2, "login_window_s": 60, "trusted_proxies": ["127.0.0.1"]},
    )
    async with running_service(settings) as service:
        await add_user(service, "alice")
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            # behind a trusted proxy the forwarded addresses are real, and all differ
            codes = [await _failed_sign_in(client, "alice", f"198.51.100.{i}") for i in range(9)]
    assert codes[:8] == [401] * 8 and codes[8] == 429


async def test_oversized_and_streamed_bodies_are_refused(console: Console) -> None:
    """Four concurrent sign-in bodies of 200 × 1 MB fields cost 770 MB of memory."""
    client = console.client()
    big = {f"f{i}": "x" * 10_000 for i in range(5)}
    response = await client.post("/login", data=big)
    assert response.status_code == 413

    many = await client.post("/login", data={f"f{i}": "x" for i in range(40)})
    assert many.status_code == 400  # more form fields than any form of ours has
    signed, _ = await console.signed_in("root")

    async def stream() -> Any:  # no Content-Length: counted as it arrives
        yield b'{"status": "'
        for _ in range(100):
            yield b"a" * 1024
        yield b'"}'

    streamed = await signed.put(
        "/api/me/status", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    too_big = await signed.put("/api/me/status", json={"status": "x" * 100_000})
    assert too_big.status_code == 413


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/kb/docs", {"owner": "acme", "title": "t", "text": "a\u0000b"}),
        ("PUT", "/api/me/status", {"status": "avail\u0000able"}),
        ("GET", "/api/history?q=%00", None),
    ],
    ids=["kb-doc", "status", "query"],
)
async def test_nul_is_refused_with_a_clear_422(
    console: Console, method: str, url: str, body: Any
) -> None:
    client, _ = await console.signed_in("root")
    response = await client.request(method, url, json=body)
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    assert (await client.get("/api/kb/owners")).json() == []


async def test_a_lone_surrogate_gets_a_422_not_a_500(console: Console) -> None:
    client, _ = await console.signed_in("root")
    response = await client.put(
        "/api/me/status",
        content=b'{"status": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "status"]


async def test_media_endpoints_refuse_without_credentials(tmp_path: Path, sqlite_url: str) -> None:
    """The worker's fork port, as an attacker on the network reaches it: /direct without
    a token, with a forged one or as another owner, and /fork for a call it did not start."""
    import websockets
    from websockets.asyncio.client import connect as ws_connect

    from callcontrol.media.direct_auth import DirectAuth

    settings = console_settings(
        tmp_path, sqlite_url, fork={"port": 0, "host": "127.0.0.1"}, pipeline={"enabled": True}
    )
    async with running_service(settings) as service:
        base = f"ws://127.0.0.1:{service.fork_server.port}"

        async def refused(path: str, first: str, **kw: Any) -> tuple[int | None, str | None]:
            async with ws_connect(base + path, **kw) as ws:
                await ws.send(first)
                with contextlib.suppress(websockets.ConnectionClosed):
                    async with asyncio.timeout(5):
                        while True:
                            await ws.recv()
                return ws.close_code, ws.close_reason

        assert await refused("/direct", json.dumps({"owner": "acme"})) == (
            1008,
            "a valid token is required",
        )
        forged = DirectAuth("not-the-secret", settings.fork).mint("acme")
        assert (await refused("/direct", json.dumps({"owner": "acme", "token": forged})))[0] == 1008
        minted = service.direct_auth.mint("globex")
        assert await refused("/direct", json.dumps({"owner": "acme", "token": minted})) == (
            1008,
            "this token may not use that owner",
        )
        fork = await refused(
            "/fork/c0ffee00-0000-4000-8000-000000000000",
            json.dumps({"callId": "c0ffee00-0000-4000-8000-000000000000", "token": "guess"}),
            subprotocols=[websockets.Subprotocol("audio.drachtio.org")],
        )
        assert fork == (1008, "unknown call")
