// Admin: users (add, role, password reset, remove) and console-changeable settings.
"use strict";
(() => {
  const { el, clear, api, detail, toast, fmtTime } = CC;

  const usersBody = document.getElementById("users");
  if (usersBody) {
    const users = new Map(CC.pageData().users.map((u) => [u.id, u]));
    const me = document.body.dataset.userId;
    const render = () => {
      clear(usersBody);
      for (const u of [...users.values()].sort((a, b) => a.username.localeCompare(b.username))) {
        const role = el("select", { "aria-label": "Role of " + u.username },
          el("option", { value: "operator", selected: u.role === "operator" }, "operator"),
          el("option", { value: "admin", selected: u.role === "admin" }, "admin"));
        role.addEventListener("change", async () => {
          const r = await api("PUT", "/api/admin/users/" + encodeURIComponent(u.id), { role: role.value });
          if (r.ok) { users.set(u.id, r.data); toast("Role changed", "good"); } else { toast(detail(r), "bad"); role.value = u.role; }
        });
        const reset = async () => {
          const pw = prompt(`New password for ${u.username} (8 characters or more)`);
          if (!pw) return;
          const r = await api("PUT", "/api/admin/users/" + encodeURIComponent(u.id), { password: pw });
          toast(r.ok ? "Password changed; their sessions were signed out" : detail(r), r.ok ? "good" : "bad");
        };
        const remove = async () => {
          if (!confirm(`Remove ${u.username}?`)) return;
          const r = await api("DELETE", "/api/admin/users/" + encodeURIComponent(u.id));
          if (r.ok) { users.delete(u.id); render(); } else toast(detail(r), "bad");
        };
        usersBody.append(el("tr", { dataset: { id: u.id } },
          el("td", {}, u.username),
          el("td", {}, role),
          el("td", {}, el("span", { class: "status-dot " + u.status }), u.status),
          el("td", {}, u.extension || "—"),
          el("td", { class: "small" }, fmtTime(u.last_seen_at)),
          el("td", {}, el("div", { class: "actions" },
            el("button", { type: "button", class: "small secondary", onclick: reset }, "Reset password"),
            u.id === me ? null : el("button", { type: "button", class: "small danger", onclick: remove }, "Remove")))));
      }
    };
    document.getElementById("add-user").addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        username: document.getElementById("new-username").value.trim(),
        password: document.getElementById("new-password").value,
        role: document.getElementById("new-role").value,
        extension: document.getElementById("new-extension").value.trim() || null,
      };
      const r = await api("POST", "/api/admin/users", body);
      if (r.ok) { users.set(r.data.id, r.data); render(); event.target.reset(); toast(`Added ${r.data.username}`, "good"); }
      else toast(detail(r), "bad");
    });
    render();
  }

  const settings = document.getElementById("settings-form");
  if (settings) {
    const field = (box) => box.querySelector("input:not(.reset), textarea, select");
    const owner = settings.dataset.owner || null;
    const pick = document.getElementById("owner-pick");
    const go = () => {
      const wanted = pick.value.trim();
      location.href = "/admin/settings" + (wanted ? "?owner=" + encodeURIComponent(wanted) : "");
    };
    document.getElementById("owner-go").addEventListener("click", go);
    pick.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); go(); } });
    const initial = new Map();
    for (const box of settings.querySelectorAll(".setting")) {
      initial.set(box.dataset.key, field(box).value);
    }
    settings.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = {};
      const reset = [];
      for (const box of settings.querySelectorAll(".setting")) {
        const key = box.dataset.key;
        const input = field(box);
        if (box.querySelector("input.reset").checked) { reset.push(key); continue; }
        if (input.value === initial.get(key)) continue;
        const kind = box.dataset.kind;
        values[key] = kind === "number" ? Number(input.value) : kind === "bool" ? input.value === "true" : input.value;
      }
      const r = await api("PUT", "/api/admin/settings", { values, reset, owner });
      if (r.ok) { toast("Settings saved", "good"); setTimeout(() => location.reload(), 600); }
      else toast(detail(r), "bad");
    });
  }
})();
