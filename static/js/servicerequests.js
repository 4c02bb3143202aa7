// The new-service-request form: show where the request would go while the agent fills it in.
// It asks the same routing as the "Check routing" button, as JSON. DOM nodes and textContent
// only, never innerHTML: rule and channel names are typed by admins.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("sr-form");
  const box = document.getElementById("route-preview");
  if (!form || !box || !form.dataset.previewUrl) {
    return;
  }
  const fields = ["support_topic", "severity", "customer"]
    .map((name) => form.elements.namedItem(name))
    .filter(Boolean);
  let latest = 0;

  const paragraph = (text, className) => {
    const p = document.createElement("p");
    if (className) {
      p.className = className;
    }
    p.textContent = text;
    return p;
  };

  const render = (decision) => {
    const wrapper = document.createElement("div");
    wrapper.className = decision.routable ? "route-decision" : "route-decision unroutable";
    wrapper.dataset.testid = "route-decision";
    if (decision.channel) {
      const channel = document.createElement("p");
      channel.className = "route-channel";
      const name = document.createElement("strong");
      name.textContent = decision.channel;
      channel.appendChild(name);
      channel.appendChild(document.createElement("br"));
      const kind = document.createElement("span");
      kind.className = "muted";
      kind.textContent = `${decision.channel_kind} · ${decision.channel_tier}`;
      channel.appendChild(kind);
      wrapper.appendChild(channel);
    }
    wrapper.appendChild(paragraph(decision.explanation));
    if (decision.reasons && decision.reasons.length) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = box.dataset.reasonsLabel || "Rule by rule";
      details.appendChild(summary);
      const list = document.createElement("ol");
      list.className = "route-reasons";
      decision.reasons.forEach((reason) => {
        const item = document.createElement("li");
        item.className = reason.outcome;
        const name = document.createElement("strong");
        name.textContent = reason.rule;
        item.appendChild(name);
        item.appendChild(document.createTextNode(`: ${reason.note}`));
        list.appendChild(item);
      });
      details.appendChild(list);
      wrapper.appendChild(details);
    }
    box.replaceChildren(wrapper);
  };

  const update = async () => {
    const params = new URLSearchParams();
    fields.forEach((field) => params.set(field.name, field.value));
    const request = ++latest;
    try {
      const response = await fetch(`${form.dataset.previewUrl}?${params}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const decision = await response.json();
      if (request !== latest) {
        return; // an answer to an older choice: a newer one is on its way
      }
      if (decision.complete) {
        render(decision);
      } else {
        box.replaceChildren(paragraph(decision.message, "muted"));
      }
    } catch (error) {
      // The "Check routing" button still works without this.
    }
  };

  fields.forEach((field) => field.addEventListener("change", update));
  if (fields.some((field) => field.name === "support_topic" && field.value)) {
    update();
  }
});

// The support channel form: show only the secret the chosen kind of channel uses.
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.querySelector("form select[name=kind]");
  const secrets = document.querySelectorAll("input[data-channel-kind]");
  if (!kind || !secrets.length) {
    return;
  }
  const update = () => {
    secrets.forEach((input) => {
      const field = input.closest(".field");
      if (field) {
        field.hidden = input.dataset.channelKind !== kind.value;
      }
    });
  };
  kind.addEventListener("change", update);
  update();
});
