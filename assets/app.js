// Latchkey's progressive enhancements. Every form works without this file.
(function () {
  "use strict";

  // Show-password toggles are hidden until this script can drive them.
  function enableToggles(root) {
    root.querySelectorAll(".toggle-password[hidden]").forEach(function (btn) {
      var input = document.getElementById(btn.getAttribute("aria-controls"));
      if (!input) return;
      btn.hidden = false;
      btn.addEventListener("click", function () {
        var show = input.type === "password";
        input.type = show ? "text" : "password";
        btn.setAttribute("aria-pressed", show ? "true" : "false");
        btn.textContent = show ? "Hide" : "Show";
      });
    });
  }

  // Inline checks swap only the message under a field: keep the field's
  // aria-invalid in step with its message, as the server does on submit.
  function syncInvalid(root) {
    root.querySelectorAll("input[id]").forEach(function (input) {
      var box = document.getElementById(input.id + "-feedback");
      if (!box) return;
      var msg = box.matches(".field-error") ? box : box.querySelector(".field-error");
      if (msg && msg.textContent.trim() !== "") input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
  }

  // After a failed submit, put focus on the first invalid field (htmx also
  // honours the autofocus attribute the server sets; this covers swaps
  // where the field already had focus).
  function focusFirstInvalid(root) {
    var field = root.querySelector('[aria-invalid="true"]');
    if (field && document.activeElement !== field) field.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    enableToggles(document);
  });

  document.addEventListener("htmx:after:swap", function (e) {
    var target = e.target instanceof Element ? e.target : document;
    var form = target.closest ? target.closest("form") || target : target;
    enableToggles(form);
    syncInvalid(document);
    var ctx = e.detail && e.detail.ctx;
    var status = ctx && ctx.response && ctx.response.status;
    if (status === 422) focusFirstInvalid(form);
  });

  // Before leaving a page, password inputs go back to hidden text so the
  // browser does not store a shown password in its form cache.
  window.addEventListener("pagehide", function () {
    document.querySelectorAll(".toggle-password").forEach(function (btn) {
      var input = document.getElementById(btn.getAttribute("aria-controls"));
      if (input) input.type = "password";
    });
  });
})();
