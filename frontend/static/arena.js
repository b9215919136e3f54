// Progressive enhancement: drag-and-drop uploads with a progress bar (to the JSON API, with the
// session cookie and the CSRF header), phase countdowns. Every page works without it.
(function () {
  "use strict";
  const csrf = () => document.body.dataset.csrf;

  function wireDropzone(form) {
    const zone = form.querySelector(".dropzone");
    const input = form.querySelector("input[type=file]");
    const name = form.querySelector(".filename");
    if (!zone || !input) return;
    const show = () => { name.textContent = input.files.length ? input.files[0].name : ""; };
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); } });
  }

  function upload(form, { method, url, bar, error, done }) {
    form.addEventListener("submit", (e) => {
      const input = form.querySelector("input[type=file]");
      if (!input.files.length) return;
      e.preventDefault();
      const data = new FormData();
      data.append("file", input.files[0]);
      form.querySelectorAll("[data-note]").forEach((field) => { if (field.value.trim()) data.append(field.name, field.value); });
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false; bar.value = 0; error.hidden = true;
      xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = (100 * p.loaded) / p.total; };
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) { bar.value = 100; done(body); return; }
        bar.hidden = true; error.hidden = false;
        error.textContent = body.detail || ("Upload failed (" + xhr.status + ")");
      };
      xhr.onerror = () => { bar.hidden = true; error.hidden = false; error.textContent = "The upload did not reach the server; check your connection and retry."; };
      xhr.send(data);
    });
  }

  function countdowns() {
    const fmt = (ms) => {
      const s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
      return (d ? d + " d " : "") + h + " h " + m + " min";
    };
    document.querySelectorAll(".countdown").forEach((el) => {
      const now = Date.now(), start = Date.parse(el.dataset.start), end = el.dataset.end ? Date.parse(el.dataset.end) : NaN;
      el.textContent = now < start ? "· starts in " + fmt(start - now) : !isNaN(end) && now < end ? "· ends in " + fmt(end - now) : !isNaN(end) ? "· ended" : "· running";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const sub = document.getElementById("upload");
    if (sub) {
      wireDropzone(sub);
      upload(sub, { method: "POST", url: sub.dataset.api, bar: document.getElementById("progress"), error: document.getElementById("upload-error"),
        done: (body) => { window.location.href = "/s/" + body.id; } });
    }
    const ds = document.getElementById("dataset-upload");
    if (ds) {
      wireDropzone(ds);
      upload(ds, { method: "PUT", url: ds.dataset.api, bar: document.getElementById("dataset-progress"), error: document.getElementById("dataset-error"),
        done: () => { window.location.reload(); } });
    }
    countdowns();
    setInterval(countdowns, 30000);
  });
})();
