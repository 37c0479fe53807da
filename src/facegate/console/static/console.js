// facegate console: confirmations before removing someone, and the access log's new records as they come
// (Server-Sent Events). Loaded as a file: the pages' Content-Security-Policy allows no inline script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  const log = document.getElementById("log");
  if (log && log.dataset.live === "yes" && window.EventSource) {
    const source = new EventSource(log.dataset.events);
    source.onopen = () => { window.facegateLive = "open"; };
    source.onmessage = (message) => addRecord(log, JSON.parse(message.data));
  }
});

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);  // text, never HTML
  return td;
}

function addRecord(table, record) {
  const row = document.createElement("tr");
  row.className = "record new decision-" + String(record.decision).replace(/[^a-z-]/g, "");
  const distance = typeof record.distance === "number" ? record.distance.toFixed(3) : "";
  const face = document.createElement("td");
  face.className = "face";
  if (record.face_url) {
    const img = document.createElement("img");
    img.src = record.face_url;
    img.alt = "face";
    img.width = img.height = 48;
    face.appendChild(img);
  }
  row.appendChild(face);
  const cells = [record.time, record.door, record.command, record.decision, record.identity, record.claim, distance];
  cells.forEach((value, index) => {
    const td = cell(value);
    if (index === 3) td.className = "decision";
    if (index === 4) td.className = "person";
    row.appendChild(td);
  });
  table.tBodies[0].prepend(row);
  const total = document.getElementById("total");
  if (total) {
    const count = parseInt(total.textContent.replace(/[^0-9]/g, ""), 10) + 1;
    total.textContent = "(" + count + " record" + (count === 1 ? "" : "s") + ")";
  }
}
