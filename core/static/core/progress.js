/*
 * Live progress of background work on an admin page (core.admin_progress).
 *
 * Contract: an element with data-progress-url (a JSON view answering
 *   {"status", "status_label", "percent" (0-100 or null), "step", "terminal", "cancellable", "error"})
 * is polled every data-progress-interval milliseconds (default 2000) while its
 * data-progress-terminal is not "true". Inside it, elements with data-progress-field="<key>" get
 * that key's text (an empty "error" hides its element), a <progress data-progress-bar> gets the
 * percent (none: an indeterminate bar), and a [data-progress-cancel] element is hidden unless
 * "cancellable". Polling stops at a terminal answer; the element then gets
 * data-progress-terminal="true" and, with data-progress-reload, the page reloads once to show the
 * results. A failed request is tried again, more slowly.
 */
(function () {
  "use strict";

  var DEFAULT_INTERVAL = 2000;
  var BACKOFF = 5;

  function setText(panel, key, value) {
    panel.querySelectorAll('[data-progress-field="' + key + '"]').forEach(function (element) {
      element.textContent = value === null || value === undefined ? "…" : String(value);
      if (key === "error") {
        element.hidden = !value;
      }
    });
  }

  function render(panel, state) {
    ["status_label", "percent", "step", "error"].forEach(function (key) {
      setText(panel, key, state[key]);
    });
    panel.querySelectorAll(".sd-progress-status").forEach(function (element) {
      element.className = element.className.replace(/\bsd-status-\S+/g, "").trim() + " sd-status-" + state.status;
    });
    panel.querySelectorAll("progress[data-progress-bar]").forEach(function (bar) {
      if (state.percent === null || state.percent === undefined) {
        bar.removeAttribute("value");
      } else {
        bar.value = state.percent;
      }
    });
    panel.querySelectorAll("[data-progress-cancel]").forEach(function (element) {
      element.hidden = !state.cancellable;
    });
    panel.dataset.progressStatus = state.status;
  }

  function watch(panel) {
    var url = panel.dataset.progressUrl;
    var interval = parseInt(panel.dataset.progressInterval, 10) || DEFAULT_INTERVAL;

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (state) {
          render(panel, state);
          if (state.terminal) {
            panel.dataset.progressTerminal = "true";
            if (panel.hasAttribute("data-progress-reload")) {
              window.location.reload();
            }
            return;
          }
          window.setTimeout(poll, interval);
        })
        .catch(function () {
          window.setTimeout(poll, interval * BACKOFF);
        });
    }

    if (panel.dataset.progressTerminal !== "true") {
      window.setTimeout(poll, interval);
    }
  }

  function start() {
    document.querySelectorAll("[data-progress-url]").forEach(watch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
