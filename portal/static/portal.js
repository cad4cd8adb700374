// The portal works without this file; it only adds comforts.
document.addEventListener("submit", function (event) {
  // A second tap on a money form while the first is on its way sends nothing more
  // (the server would act once anyway: the form carries its idempotency key).
  var form = event.target;
  if (form.dataset.once !== undefined) {
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  }
});

// Help: a conversation fetches the replies after the last message it shows every few
// seconds and appends them (without JavaScript they appear on reload).
document.addEventListener("DOMContentLoaded", function () {
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
            window.scrollTo(0, document.body.scrollHeight);
            var status = document.querySelector("[data-conversation-status]");
            if (status && data.status_label) {
              status.textContent = data.status_label;
              status.className = status.className.replace(/\b(open|waiting|closed)\b/, data.status);
            }
          }
        })
        .catch(function () { /* no signal for a moment: the next round tries again */ })
        .then(function () { busy = false; });
    }, 5000);
  });
});
