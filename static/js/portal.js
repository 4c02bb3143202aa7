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

// Import progress: poll the status until the import finishes, then reload to show the result.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("import-progress");
  if (!box || box.dataset.finished === "true") {
    return;
  }
  const bar = box.querySelector("progress");
  const label = box.querySelector("[data-field=status_label]");
  const counts = box.querySelector(".muted");
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const state = await response.json();
        bar.value = state.percent;
        label.textContent = state.status_label;
        counts.textContent = counts.textContent.replace(/^\d+/, String(state.processed_rows));
        if (state.finished) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A network blip: try again at the next tick.
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 1000);
});

// The "More" menu closes when the user clicks elsewhere or presses Escape.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.nav-more[open]").forEach((menu) => {
    if (!menu.contains(event.target)) {
      menu.removeAttribute("open");
    }
  });
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.querySelectorAll("details.nav-more[open]").forEach((menu) => menu.removeAttribute("open"));
  }
});

// Wide tables and long code scroll inside their own box. While a box scrolls, it is a named
// region in the tab order, so a keyboard user can reach it and scroll it with the arrow keys.
const SCROLL_BOXES = ".table-wrap, pre.payload, pre.excerpt, pre.code-sample";

const scrollRegionName = (box) => {
  const caption = box.querySelector("caption");
  const heading = box.closest("section, .card")?.querySelector("h2, h3") || document.querySelector("main h1");
  return (caption || heading)?.textContent.trim() || document.title;
};

const markScrollRegions = () => {
  document.querySelectorAll(SCROLL_BOXES).forEach((box) => {
    const scrolls = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
    if (scrolls && !box.hasAttribute("tabindex")) {
      box.dataset.scrollRegion = "true";
      box.tabIndex = 0;
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", scrollRegionName(box));
    } else if (!scrolls && box.dataset.scrollRegion) {
      delete box.dataset.scrollRegion;
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
  });
};
document.addEventListener("DOMContentLoaded", markScrollRegions);
window.addEventListener("resize", () => window.requestAnimationFrame(markScrollRegions));
