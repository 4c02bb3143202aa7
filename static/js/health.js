// The service-health dashboard: re-read the status every 30 seconds and redraw the table rows.
// DOM nodes and textContent only, never innerHTML: service names come from Microsoft.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("health-table");
  if (!table) {
    return;
  }
  const body = table.querySelector("tbody");
  const updated = document.getElementById("health-updated");
  const INTERVAL_MS = 30000;

  const cell = (content, className) => {
    const td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    if (content instanceof Node) {
      td.appendChild(content);
    } else {
      td.textContent = String(content);
    }
    return td;
  };

  const badge = (row) => {
    const span = document.createElement("span");
    span.className = row.level ? `badge ${row.level}` : "badge";
    span.textContent = row.status_label;
    return span;
  };

  const incidentsLink = (row) => {
    if (!row.active_incidents) {
      return "0";
    }
    const link = document.createElement("a");
    link.href = row.incidents_url;
    link.title = table.dataset.labelIncidents || "";
    link.textContent = String(row.active_incidents);
    return link;
  };

  const render = (services) => {
    const rows = services.map((row) => {
      const tr = document.createElement("tr");
      tr.append(
        cell(row.name),
        cell(badge(row)),
        cell(row.affected_customers),
        cell(incidentsLink(row)),
      );
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell(table.dataset.labelEmpty || "", "empty");
      td.colSpan = 4;
      tr.appendChild(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  };

  const refresh = async () => {
    try {
      const response = await fetch(table.dataset.statusUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const state = await response.json();
        render(state.services);
        if (updated) {
          updated.dateTime = state.generated_at;
          updated.textContent = state.generated_at_display;
        }
      }
    } catch (error) {
      // A network blip: the next tick tries again.
    }
  };

  window.setInterval(refresh, INTERVAL_MS);
});
