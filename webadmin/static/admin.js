// pulsa admin: small conveniences on top of pages that work without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Ask before a dangerous action (the server checks everything anyway).
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // One click, one submit: the idempotency key already makes a second submit harmless,
  // this only saves the person a confusing second page.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // Live calls: count the time left down between refreshes.
  var timers = document.querySelectorAll("[data-seconds-left]");
  if (timers.length) {
    var started = Date.now();
    window.setInterval(function () {
      var passed = Math.floor((Date.now() - started) / 1000);
      timers.forEach(function (cell) {
        var left = Math.max(0, parseInt(cell.getAttribute("data-seconds-left"), 10) - passed);
        cell.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      });
    }, 1000);
    window.setTimeout(function () { window.location.reload(); }, 30000);
  }
  // A conversation: fetch the messages after the last one shown, every few seconds, and
  // append them (without JavaScript the page shows them on reload).
  document.querySelectorAll("[data-poll-url]").forEach(function (box) {
    var busy = false;
    window.setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      var url = box.getAttribute("data-poll-url") + "?after=" + box.getAttribute("data-last-id");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && String(data.last) !== box.getAttribute("data-last-id")) {
            box.insertAdjacentHTML("beforeend", data.html);
            box.setAttribute("data-last-id", data.last);
            box.scrollTop = box.scrollHeight;
            var status = document.querySelector("[data-conversation-status]");
            if (status && data.status_label) {
              status.textContent = data.status_label;
              status.className = status.className.replace(/\b(open|waiting|closed)\b/, data.status);
            }
          }
        })
        .catch(function () { /* offline for a moment: the next round tries again */ })
        .then(function () { busy = false; });
    }, 5000);
    box.scrollTop = box.scrollHeight;
  });
  // A broadcast: follow its delivery until nothing waits any more (without JavaScript a
  // reload shows the same figures).
  document.querySelectorAll("[data-progress-url]").forEach(function (box) {
    if (box.hasAttribute("data-progress-done")) { return; }
    var timer = window.setInterval(function () {
      if (document.hidden) { return; }
      fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          ["recipients", "sent", "pending", "failed"].forEach(function (name) {
            var cell = box.querySelector("[data-progress=" + name + "]");
            if (cell) { cell.textContent = data[name]; }
          });
          var bar = box.querySelector("progress[data-progress=percent]");
          if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
          if (data.done) {
            window.clearInterval(timer);
            var note = box.querySelector("[data-progress=note]");
            if (note && box.getAttribute("data-done-text")) { note.textContent = box.getAttribute("data-done-text"); }
          }
        })
        .catch(function () { /* offline for a moment: the next round tries again */ });
    }, 3000);
  });
  // Printable views open the print dialog by themselves.
  if (document.body.classList.contains("printing")) { window.print(); }
});
