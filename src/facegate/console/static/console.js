// facegate console: confirmations before removing someone, photos for enrollment from the browser's camera, and
// the access log's new records as they come (Server-Sent Events). Loaded as a file: the pages'
// Content-Security-Policy allows no inline script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const img of document.querySelectorAll("td.thumbnail img")) {  // enrolled before thumbnails were kept
    if (img.complete && img.naturalWidth === 0) img.remove();
    else img.addEventListener("error", () => img.remove());
  }
  setUpCamera();
  const log = document.getElementById("log");
  if (log && log.dataset.live === "yes" && window.EventSource) follow(log);
});

// New records as the service sends them; refused (the service's live views are all taken) or cut off for good,
// the page asks again 5 s later.
function follow(log) {
  const source = new EventSource(log.dataset.events);
  source.onopen = () => { window.facegateLive = "open"; };
  source.onmessage = (message) => addRecord(log, JSON.parse(message.data));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      window.facegateLive = "waiting";
      setTimeout(() => follow(log), 5000);
    }
  };
}

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

// The browser's camera (getUserMedia: on loopback or over HTTPS only): each photo taken joins the files of the
// enrollment form, which is then sent as an upload is, each photo judged by the server as an uploaded one.
function setUpCamera() {
  const box = document.getElementById("camera");
  const input = document.getElementById("enroll-photos");
  if (!box || !input || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  box.hidden = false;
  const view = document.getElementById("camera-view");
  const take = document.getElementById("camera-take");
  const count = document.getElementById("camera-count");
  const taken = [];
  document.getElementById("camera-start").addEventListener("click", async () => {
    try {
      view.srcObject = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
    } catch (error) {
      count.textContent = "the camera cannot be used: " + error.name;
      return;
    }
    view.hidden = take.hidden = false;
  });
  take.addEventListener("click", () => {
    if (!view.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = view.videoWidth;
    canvas.height = view.videoHeight;
    canvas.getContext("2d").drawImage(view, 0, 0);
    canvas.toBlob((blob) => {
      taken.push(new File([blob], "camera-" + (taken.length + 1) + ".jpg", {type: "image/jpeg"}));
      const files = new DataTransfer();
      for (const file of taken) files.items.add(file);
      input.files = files.files;
      count.textContent = taken.length + " photo(s) taken";
    }, "image/jpeg", 0.92);
  });
}
