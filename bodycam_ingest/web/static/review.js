// Review pages: explain findings, approve or reject requests (in one's own session), request
// exports, run an audit. Every call goes to the station's API with this session's CSRF token.
"use strict";
(function () {
  const root = document.getElementById("review");
  if (!root) return;
  const csrf = root.dataset.csrf;
  async function api(method, params) {
    const response = await fetch("/api/" + method, {method: "POST", credentials: "same-origin",
      headers: {"content-type": "application/json", "x-csrf-token": csrf}, body: JSON.stringify(params)});
    const body = await response.json();
    if (!body.ok) throw new Error(body.error.message);
    return body.result;
  }
  function show(id, ok, text) {
    const node = document.getElementById(id);
    if (node) { node.className = ok ? "ok" : "problem"; node.textContent = text; node.hidden = false; }
  }
  document.querySelectorAll("form.explain").forEach(form => form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("findings.explain", {finding_id: Number(form.dataset.finding), reason: form.reason.value});
      form.replaceWith(Object.assign(document.createElement("span"), {className: "ok", textContent: root.dataset.saved}));
    } catch (err) { alert(err.message); }
  }));
  const decide = document.getElementById("decide");
  if (decide) {
    const id = Number(decide.dataset.request), digest = decide.dataset.digest;
    decide.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const result = await api("requests.approve", {request_id: id, digest, reason: decide.reason.value || null});
        show("decision-result", true, root.dataset.saved + ": " + result.request.state);
        setTimeout(() => location.reload(), 300);
      } catch (err) { show("decision-result", false, err.message); }
    });
    document.getElementById("reject").addEventListener("click", async () => {
      try {
        await api("requests.reject", {request_id: id, reason: decide.reason.value});
        show("decision-result", true, root.dataset.saved);
        setTimeout(() => location.reload(), 300);
      } catch (err) { show("decision-result", false, err.message); }
    });
  }
  const exportForm = document.getElementById("export-form");
  if (exportForm) exportForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = exportForm.elements;
    const ids = f.ids.value.split(/[,\s]+/).filter(Boolean).map(Number);
    try {
      const result = await api("exports.request", {ids: ids.length ? ids : null, case: f.case.value || null,
        recipient: f.recipient.value, reason: f.reason.value});
      show("export-result", true, root.dataset.saved + " #" + result.request.id);
      exportForm.dataset.request = String(result.request.id);
    } catch (err) { show("export-result", false, err.message); }
  });
  const audit = document.getElementById("run-audit");
  if (audit) audit.addEventListener("click", async () => {
    audit.disabled = true;
    try {
      const result = await api("audit.run", {});
      const node = document.getElementById("audit-result");
      node.hidden = false;
      node.textContent = JSON.stringify(result, null, 2);
      node.className = "card " + (result.clean ? "ok" : "problem");
    } catch (err) { show("audit-result", false, err.message); }
    audit.disabled = false;
  });
})();
