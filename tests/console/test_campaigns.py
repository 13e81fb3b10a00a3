"""Campaigns in the console: create, upload (every row or none, with row errors),
start/pause/stop, contacts and their history, call now, export, do-not-call."""

from __future__ import annotations

from tests.console.conftest import Console

GOOD = b"name,phone,amount\nAnn,4155550101,10\nBo,4155550102,20\nAnn again,415-555-0101,11\n"
BAD = b"name,phone\nAnn,4155550101\nBo,12\n"


async def test_a_campaign_from_the_console(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    bad = await client.post("/api/campaigns", json={"name": "x", "dialstring": "no-number"})
    assert bad.status_code == 422
    bad_tz = await client.post("/api/campaigns", json={"name": "x", "timezone": "Mars/Base"})
    assert bad_tz.status_code == 422
    made = await client.post(
        "/api/campaigns",
        json={
            "name": "December reminders",
            "owner": "acme",
            "cps": 2,
            "max_concurrent": 3,
            "retries": {"busy": {"count": 1, "after_s": 60}},
        },
    )
    assert made.status_code == 201, made.text
    campaign = made.json()
    cid = campaign["id"]
    assert campaign["status"] == "draft" and campaign["retries"]["busy"]["count"] == 1

    rejected = await client.post(
        f"/api/campaigns/{cid}/contacts", files={"file": ("list.csv", BAD, "text/csv")}
    )
    assert rejected.status_code == 422
    detail = rejected.json()["detail"]
    assert detail["added"] == 0 and detail["errors"][0]["row"] == 3
    assert (await client.get(f"/api/campaigns/{cid}/contacts")).json() == []  # none of it

    uploaded = await client.post(
        f"/api/campaigns/{cid}/contacts", files={"file": ("list.csv", GOOD, "text/csv")}
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["added"] == 2 and uploaded.json()["merged"] == 1
    contacts = (await client.get(f"/api/campaigns/{cid}/contacts")).json()
    assert [c["phone"] for c in contacts] == ["+14155550101", "+14155550102"]
    assert contacts[0]["fields"] == {"amount": "11"} and contacts[0]["status"] == "ready"

    assert (await client.post(f"/api/campaigns/{cid}/resume")).status_code == 409  # not paused
    started = await client.post(f"/api/campaigns/{cid}/pause")
    assert started.status_code == 409  # a draft cannot pause
    assert (await client.post(f"/api/campaigns/{cid}/start")).json()["status"] == "running"
    assert (await client.post(f"/api/campaigns/{cid}/pause")).json()["status"] == "paused"
    assert (await client.post(f"/api/campaigns/{cid}/explode")).status_code == 422

    now = await client.post(
        f"/api/campaigns/{cid}/call-now", json={"contact_ids": [contacts[1]["id"]]}
    )
    assert now.json() == {"due_now": 1}
    exported = await client.get(f"/api/campaigns/{cid}/export.csv")
    assert exported.status_code == 200 and "+14155550102" in exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    page = await client.get(f"/campaigns/{cid}")
    assert page.status_code == 200 and "December reminders" in page.text
    listing = await client.get("/campaigns")
    assert listing.status_code == 200 and "December reminders" in listing.text
    assert (await client.get("/campaigns/nope")).status_code == 404

    added = await client.post("/api/dnc", json={"number": "(415) 555-0199", "owner": "acme"})
    assert added.status_code == 201 and added.json()["phone"] == "+14155550199"
    assert (await client.post("/api/dnc", json={"number": "12"})).status_code == 422
    listed = (await client.get("/api/dnc", params={"owner": "acme"})).json()
    assert [d["phone"] for d in listed] == ["+14155550199"]
    removed = await client.request(
        "DELETE", "/api/dnc", json={"number": "4155550199", "owner": "acme"}
    )
    assert removed.status_code == 200
    assert (await client.get("/api/dnc")).json() == []
