// modelship dashboard: confirmation and POST for the action buttons, and live updates
// (Server-Sent Events carrying server-rendered fragments, swapped in by element id).
// No framework, no build step, nothing fetched from elsewhere.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="modelship-csrf"]').content;

  // ---- actions: button -> dialog#confirm -> POST /api/action -> #action-result --------
  let pending = null;

  function describe(action, target) {
    const what = target.dataset.kind + " " + target.dataset.namespace + "/" + target.dataset.name;
    return action + " " + what + "?";
  }

  async function perform(action, target, message) {
    const result = document.getElementById("action-result");
    result.textContent = action + ": sending...";
    result.className = "pending";
    try {
      const response = await fetch("/api/action", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Modelship-CSRF": csrf },
        body: JSON.stringify({
          kind: target.dataset.kind,
          namespace: target.dataset.namespace,
          name: target.dataset.name,
          action: action,
          message: message,
        }),
      });
      let text;
      try {
        text = (await response.json()).text;
      } catch (err) {
        text = response.status + " " + response.statusText;
      }
      result.textContent = text;
      result.className = response.ok ? "ok" : "failed";
      result.dataset.status = String(response.status);
    } catch (err) {
      result.textContent = "error: " + err;
      result.className = "failed";
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const target = button.closest("[data-kind]");
    const dialog = document.getElementById("confirm");
    pending = { action: button.dataset.action, target: target };
    document.getElementById("confirm-text").textContent = describe(pending.action, target);
    const withMessage = target.dataset.kind === "ModelPromotion";
    document.getElementById("confirm-message-label").hidden = !withMessage;
    document.getElementById("confirm-message").value = "";
    dialog.returnValue = "";
    dialog.showModal();
  });

  const dialog = document.getElementById("confirm");
  dialog.addEventListener("close", function () {
    const chosen = pending;
    pending = null;
    if (dialog.returnValue === "yes" && chosen) {
      perform(chosen.action, chosen.target, document.getElementById("confirm-message").value);
    }
  });

  // ---- namespace filter ----------------------------------------------------------------
  const select = document.getElementById("namespace");
  if (select) {
    select.addEventListener("change", function () {
      const ns = select.value;
      window.location.href = ns ? "/?namespace=" + encodeURIComponent(ns) : "/";
    });
  }

  // ---- live updates ----------------------------------------------------------------------
  const live = document.getElementById("live");
  const page = window.location.pathname + window.location.search;
  const source = new EventSource("/events?page=" + encodeURIComponent(page));
  source.addEventListener("hello", function () {
    live.textContent = "live";
    live.className = "live on";
  });
  source.onerror = function () {
    live.textContent = "reconnecting";
    live.className = "live off";
  };
  source.onmessage = function (event) {
    const data = JSON.parse(event.data);
    if (data.gone) {
      live.textContent = "deleted";
      live.className = "live off";
      return;
    }
    const fragments = data.fragments || {};
    for (const id of Object.keys(fragments)) {
      const element = document.getElementById(id);
      if (element && element.innerHTML !== fragments[id]) element.innerHTML = fragments[id];
    }
    document.body.dataset.updated = String(data.at || "");
  };
})();
