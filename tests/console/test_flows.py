"""Scripted flows in the console: a broken flow says every problem; admins save one; a
campaign names it; operators read but do not change flows."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from tests.console.conftest import Console

EXAMPLE = Path(str(resources.files("callcontrol.flows") / "examples")) / "payment_reminder.yaml"
BROKEN = """
name: broken
start: ask
nodes:
  ask: {type: ask, prompt: "Pay?", expect: yes_no, branches: {"yes": done, maybe: done}}
  done: {type: hangup}
"""


async def test_flows_checked_saved_and_named_by_a_campaign(console: Console) -> None:
    root, _ = await console.signed_in("root")
    alice, _ = await console.signed_in("alice")
    checked = await alice.post("/api/flows/check", json={"document": BROKEN})
    assert checked.status_code == 422
    assert checked.json()["detail"]["problems"] == [
        "nodes.ask.branches.maybe: not an answer of yes_no (no, yes)",
        "nodes.ask: nothing follows no (add branches or next)",
    ]
    text = EXAMPLE.read_text()
    ok = await alice.post("/api/flows/check", json={"document": text, "fields": ["name", "amount"]})
    assert ok.status_code == 200 and ok.json()["name"] == "payment-reminder"
    assert "nodes.greet.text: no field 'loan_id' in the contacts" in ok.json()["warnings"]
    # Operators read flows; admins change them.
    assert (await alice.post("/api/flows", json={"document": text})).status_code == 403
    saved = await root.post("/api/flows", json={"document": text, "owner": "acme"})
    assert saved.status_code == 201, saved.text
    flow = saved.json()
    assert flow["name"] == "payment-reminder" and flow["languages"] == ["en", "es"]
    assert (await root.post("/api/flows", json={"document": "name: [x"})).status_code == 422
    listed = (await alice.get("/api/flows")).json()
    assert [(f["name"], f["owner"], f["nodes"]) for f in listed] == [
        ("payment-reminder", "acme", 10)
    ]
    assert (await alice.get(f"/api/flows/{flow['id']}")).text == text
    page = await alice.get("/flows")
    assert page.status_code == 200 and "payment-reminder" in page.text

    made = await alice.post(
        "/api/campaigns", json={"name": "reminders", "owner": "acme", "flow": "payment-reminder"}
    )
    assert made.status_code == 201 and made.json()["flow_id"] == flow["id"]
    other = await alice.post(
        "/api/campaigns", json={"name": "x", "owner": "globex", "flow": "payment-reminder"}
    )
    assert other.status_code == 422  # acme's flow is not globex's

    assert (await alice.delete(f"/api/flows/{flow['id']}")).status_code == 403
    assert (await root.delete(f"/api/flows/{flow['id']}")).status_code == 200
    assert (await root.get(f"/api/flows/{flow['id']}")).status_code == 404
