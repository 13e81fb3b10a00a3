"""Webhooks in the console: admins add (the secret shown once), disable, delete; bad
URLs and unknown events are refused; operators cannot reach any of it."""

from __future__ import annotations

from tests.console.conftest import Console


async def test_admins_manage_webhooks_and_operators_cannot(console: Console) -> None:
    admin, _ = await console.signed_in("root")
    added = await admin.post(
        "/api/admin/webhooks",
        json={"url": "https://crm.example.com/hook", "owner": "acme", "events": ["call.ended"]},
    )
    assert added.status_code == 201, added.text
    hook = added.json()
    assert len(hook["secret"]) > 30 and hook["events"] == ["call.ended"]
    listed = (await admin.get("/api/admin/webhooks")).json()
    assert [h["url"] for h in listed] == ["https://crm.example.com/hook"]
    assert listed[0]["secret"].endswith("…") and hook["secret"] not in str(listed)
    # The worker's dispatcher sees it at once.
    assert [h.url for h in console.service.webhooks._hooks] == ["https://crm.example.com/hook"]
    for bad in (
        {"url": "ftp://crm.example.com/hook"},
        {"url": "https://user:pw@crm.example.com/hook"},
        {"url": "not a url"},
        {"url": "https://crm.example.com/hook", "events": ["call.exploded"]},
        {"url": "https://crm.example.com/hook", "owner": "a b"},
    ):
        r = await admin.post("/api/admin/webhooks", json=bad)
        assert r.status_code == 422, bad
    off = await admin.put(f"/api/admin/webhooks/{hook['id']}", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert console.service.webhooks._hooks == []  # disabled: nothing is sent to it
    page = await admin.get("/admin/webhooks")
    assert page.status_code == 200 and "crm.example.com" in page.text
    assert (await admin.get("/api/admin/webhooks/deliveries")).json() == []
    assert (await admin.post("/api/admin/webhooks/deliveries/nope/resend")).status_code == 404
    operator, _ = await console.signed_in("alice")
    assert (await operator.get("/api/admin/webhooks")).status_code == 403
    assert (
        await operator.post("/api/admin/webhooks", json={"url": "https://x.example/h"})
    ).status_code == 403
    gone = await admin.delete(f"/api/admin/webhooks/{hook['id']}")
    assert gone.status_code == 200
    assert (await admin.delete(f"/api/admin/webhooks/{hook['id']}")).status_code == 404


async def test_admins_purge_and_erase_from_the_data_page(console: Console) -> None:
    from sqlalchemy import select

    from callcontrol.store.models import AuditEntry, Call, Cdr

    async with console.service.sessions() as s:
        s.add(Call(id="e1", caller_number="+15550100"))
        await s.commit()
    admin, _ = await console.signed_in("root")
    page = await admin.get("/admin/data")
    assert page.status_code == 200 and "Erase a caller" in page.text
    purged = await admin.post("/api/admin/retention/purge")
    assert purged.status_code == 200 and purged.json()["counts"] == {}
    for bad in ("12", "+1 555", "abc1234"):
        r = await admin.post("/api/admin/erase", json={"number": bad})
        assert r.status_code == 422, bad
    erased = await admin.post("/api/admin/erase", json={"number": "+15550100"})
    assert erased.status_code == 200 and erased.json()["calls"] == 1
    async with console.service.sessions() as s:
        call = await s.get(Call, "e1")
        actions = [a.action for a in (await s.execute(select(AuditEntry))).scalars()]
        assert (await s.execute(select(Cdr))).first() is None
    assert call is not None and call.caller_number is None
    assert sorted(actions) == ["erase_number", "purge"]
    operator, _ = await console.signed_in("alice")
    assert (await operator.post("/api/admin/retention/purge")).status_code == 403
    assert (
        await operator.post("/api/admin/erase", json={"number": "+15550100"})
    ).status_code == 403
