// The receipt page's copy buttons: shown only where the browser can copy, they put the receipt
// code or the personal link on the clipboard and say so on the button.
(function () {
  "use strict";

  function init() {
    if (!navigator.clipboard || !window.isSecureContext) { return; }
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          button.textContent = button.dataset.done;
          window.setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
