// Stadtkern: show form fields only when their condition holds (progressive enhancement; the
// server applies the same conditions, and without JavaScript every field stays visible).
(function () {
  "use strict";
  function current(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    if (el.type === "checkbox") { return el.checked ? "true" : "false"; }
    if (el.tagName === "FIELDSET") {
      var picked = el.querySelector("input[type=radio]:checked");
      return picked ? picked.value : "";
    }
    return el.value;
  }
  function update() {
    var blocks = document.querySelectorAll("[data-when]");
    for (var i = 0; i < blocks.length; i++) {
      var b = blocks[i];
      b.hidden = current(b.getAttribute("data-when")) !== b.getAttribute("data-when-value");
    }
  }
  document.addEventListener("change", update);
  document.addEventListener("DOMContentLoaded", update);
})();
