// Console pages: deadline countdowns, playback with a findings timeline, label and explain forms.
"use strict";
(function () {
  function countdowns() {
    document.querySelectorAll(".countdown[data-due]").forEach(node => {
      const due = Date.parse(node.dataset.due);
      if (isNaN(due)) return;
      const left = due - Date.now();
      const hours = Math.floor(Math.abs(left) / 3600000), minutes = Math.floor(Math.abs(left) % 3600000 / 60000);
      node.title = new Date(due).toLocaleString();
      node.dataset.left = String(Math.round(left / 1000));
      node.textContent = (left < 0 ? "-" : "") + hours + "h " + String(minutes).padStart(2, "0") + "m";
    });
  }
  countdowns();
  setInterval(countdowns, 30000);

  const page = document.getElementById("recording");
  if (!page) return;
  const id = Number(page.dataset.id), csrf = page.dataset.csrf;
  async function api(method, params) {
    const response = await fetch("/api/" + method, {
      method: "POST", credentials: "same-origin",
      headers: {"content-type": "application/json", "x-csrf-token": csrf},
      body: JSON.stringify(params)});
    const body = await response.json();
    if (!body.ok) throw new Error(body.error.message);
    return body.result;
  }
  const video = document.getElementById("player");
  const timeline = document.getElementById("timeline");
  const duration = Number(page.dataset.duration) || 0;
  async function play(at) {
    if (!video.src) {
      const media = await api("recordings.play", {recording_id: id});
      document.getElementById("viewing-copy").hidden = !media.viewing_copy;
      video.src = media.url;
    }
    if (at !== undefined) video.currentTime = at;
    await video.play();
  }
  document.getElementById("play").addEventListener("click", () => play().catch(e => alert(e.message)));
  // placed here, not in style attributes: the console's CSP allows no inline styles
  timeline.querySelectorAll(".marker").forEach(marker => {
    const at = duration ? Math.min(Math.max(Number(marker.dataset.offset) / duration, 0), 1) : 0;
    marker.style.left = (100 * at) + "%";
    marker.style.top = (0.15 + 0.9 * Number(marker.dataset.row || 0)) + "rem";
  });
  const cursor = document.createElement("div");
  cursor.className = "cursor";
  timeline.appendChild(cursor);
  video.addEventListener("timeupdate", () => {
    if (duration) cursor.style.left = (100 * video.currentTime / duration) + "%";
  });
  timeline.querySelectorAll(".marker").forEach(marker => marker.addEventListener("click", () => {
    play(Number(marker.dataset.offset)).catch(e => alert(e.message));
    const finding = document.getElementById("finding-" + marker.dataset.finding);
    if (finding) { finding.scrollIntoView({block: "center"}); const input = finding.querySelector("input"); if (input) input.focus(); }
  }));
  document.querySelectorAll("form.explain").forEach(form => form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("findings.explain", {finding_id: Number(form.dataset.finding), reason: form.reason.value});
      form.replaceWith(Object.assign(document.createElement("p"), {className: "ok", textContent: page.dataset.saved}));
    } catch (e) { alert(e.message); }
  }));
  const label = document.getElementById("label-form");
  label.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = label.elements;
    const officers = f.officers.value.split(/[,，]/).map(s => s.trim().replace("：", ":")).filter(Boolean);
    const result = document.getElementById("label-result");
    try {
      await api("labels.add", {ids: [id], case: f.case_number.value, party: f.party.value,
        party_kind: f.party_kind.value, matter: f.matter.value, location: f.location.value || null,
        officers, note: f.note.value || null, reason: f.reason.value || null});
      result.className = "ok"; result.textContent = page.dataset.saved;
    } catch (e) { result.className = "problem"; result.textContent = e.message; }
  });
})();
