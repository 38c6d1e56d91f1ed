// Ignore a second press of a form's submit button while the first is on its way.
// (The server treats a double submission as one anyway; this only spares a reload.)
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sending === "yes") {
    event.preventDefault();
    return;
  }
  form.dataset.sending = "yes";
  window.setTimeout(function () { form.dataset.sending = ""; }, 8000);
});
