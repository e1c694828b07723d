// Polls the theme refresh job and moves the progress bar; returns to the dashboard when done.
(function () {
  "use strict";
  var box = document.getElementById("refresh");
  if (!box) { return; }
  var bar = document.getElementById("refresh-bar");
  var step = document.getElementById("refresh-step");
  function poll() {
    fetch(box.dataset.status, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
      bar.value = s.progress;
      step.textContent = s.step + " (" + Math.round(s.progress * 100) + " %)";
      if (s.status === "finished") { window.location = box.dataset.done; }
      else if (s.status === "failed" || s.status === "stopped" || s.status === "canceled") {
        step.textContent = box.dataset.failed;
      }
      else { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
