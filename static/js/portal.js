// Behaviour for the portal's pages. No inline script anywhere: the CSP forbids it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The language switcher submits as soon as a language is picked.
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // Forms that change something hard to undo ask first.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  // Copy buttons (the API token shown once).
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (source && navigator.clipboard) {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = button.dataset.copied || "✓";
      }
    });
  });
});
