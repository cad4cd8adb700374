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
