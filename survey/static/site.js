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

// Weighting page: show only the chosen method's controls (without script, all show, each
// labelled with the method it belongs to), and switch target sets as soon as one is chosen.
document.addEventListener("DOMContentLoaded", function () {
  var method = document.getElementById("method");
  if (method) {
    var showMethodControls = function () {
      document.querySelectorAll("[data-method]").forEach(function (control) {
        control.hidden = control.dataset.method !== method.value;
      });
    };
    method.addEventListener("change", showMethodControls);
    showMethodControls();
  }
  var switcher = document.getElementById("target-set-switch");
  if (switcher) {
    switcher.querySelector("button").hidden = true;
    switcher.querySelector("select").addEventListener("change", function () { switcher.submit(); });
  }
});
