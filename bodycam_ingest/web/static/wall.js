// Dock wall: one tile per docked camera, updated live by server-sent events. No party names.
"use strict";
(function () {
  const wall = document.getElementById("wall");
  const text = JSON.parse(wall.dataset.text);
  function size(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = bytes, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v.toFixed(0)) + " " + units[i];
  }
  function el(tag, cls, content) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined) node.textContent = content;
    return node;
  }
  function tile(t) {
    const node = el("section", "tile " + t.state);
    node.dataset.dock = t.dock;
    node.appendChild(el("div", "meta", text.device + ": " + t.device.join(", ") + " · #" + t.dock));
    node.appendChild(el("div", "officer", text.officer + ": " + (t.officer.join(", ") || "-")));
    node.appendChild(el("div", "state", text[t.state] + (t.reason ? " (" + t.reason + ")" : "")));
    const bar = el("progress");
    bar.max = Math.max(t.bytes_total, 1); bar.value = t.bytes_done;
    node.appendChild(bar);
    let line = text.files + " " + t.files_done + "/" + t.files_total + " · " + size(t.bytes_done) + " / " + size(t.bytes_total);
    if (t.state === "do_not_undock") {
      line += " · " + text.speed + " " + size(t.bytes_per_s) + "/s";
      if (t.seconds_left !== null) line += " · " + text.time_left + " " + Math.ceil(t.seconds_left) + " s";
    }
    node.appendChild(el("div", "meta progress-text", line));
    if (t.clock_warning) node.appendChild(el("div", "clock", text.clock_warning + " — " + t.clock_warning));
    return node;
  }
  function refusedTile(r) {
    const node = el("section", "tile refused");
    node.appendChild(el("div", "meta", text.device + ": " + r.device));
    node.appendChild(el("div", "state", text.refused));
    node.appendChild(el("div", "meta", r.reason || ""));
    return node;
  }
  function render(state) {
    wall.replaceChildren();
    state.tiles.forEach(t => wall.appendChild(tile(t)));
    (state.refused || []).forEach(r => wall.appendChild(refusedTile(r)));
    if (!wall.children.length) wall.appendChild(el("p", "empty", text.no_docks));
    wall.dataset.updated = String(Date.now());
  }
  const source = new EventSource("/wall/events");
  source.onmessage = (event) => render(JSON.parse(event.data));
})();
