/* Workflows admin: the review page's live character counters (drafts, and the media's alt text),
   the confirmation before removing a medium, the start form's mode and template switches, and the
   progress panel that polls the workflow's progress JSON every 2 seconds.
   Loaded with `defer` (CSP: script-src 'self', no inline script). */
(function () {
  "use strict";

  // Python's str.strip() whitespace: the review service counts len(text.strip()), so the counter
  // trims exactly these (JavaScript's trim() differs: it drops U+FEFF and keeps U+001C-U+001F).
  var PY_SPACE = "\\t\\n\\u000b\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
  var EDGES = new RegExp("^[" + PY_SPACE + "]+|[" + PY_SPACE + "]+$", "g");

  // Characters as the service counts them: code points (an emoji is one, not two UTF-16 units),
  // or graphemes where the network counts those (Bluesky: a flag or an emoji family is one).
  var SEGMENTER = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

  function countCharacters(text, graphemes) {
    var trimmed = text.replace(/\r\n/g, "\n").replace(EDGES, "");
    if (graphemes && SEGMENTER) {
      return Array.from(SEGMENTER.segment(trimmed)).length;
    }
    return Array.from(trimmed).length;
  }

  // Alt text counts as captions.quality.caption_length does (the caption review screen's counter,
  // captions/static/captions/review.js): the text cleaned as caption_text_clean cleans it (line
  // breaks kept, spaces collapsed inside a line, at most one blank line in a row, ends trimmed),
  // then code points. The sets are Python's str.splitlines() boundaries and str.split() spaces.
  var LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
  var SPACES = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

  function captionTextClean(text) {
    var lines = (text || "").split(LINE_BREAK).map(function (line) {
      return line.split(SPACES).filter(function (word) { return word !== ""; }).join(" ");
    });
    return lines.join("\n").replace(/\n{3,}/g, "\n\n").replace(/^\n+|\n+$/g, "");
  }

  function countCaption(text) {
    return Array.from(captionTextClean(text)).length;
  }

  function setUpCounter(counter) {
    var editor = document.getElementById(counter.dataset.counterFor);
    var shown = counter.querySelector(".wf-count");
    if (!editor || !shown) {
      return;
    }
    var limit = counter.dataset.limit ? parseInt(counter.dataset.limit, 10) : null;
    var graphemes = counter.dataset.graphemes === "true";
    var caption = counter.dataset.count === "caption";
    function update() {
      var count = caption ? countCaption(editor.value) : countCharacters(editor.value, graphemes);
      shown.textContent = String(count);
      var over = limit !== null && count > limit;
      counter.classList.toggle("wf-over-limit", over);
      editor.classList.toggle("wf-over-limit", over);
    }
    editor.addEventListener("input", update);
    update();
  }

  function setUpStartForm(form) {
    var modes = form.querySelectorAll("input[name=mode]");
    var template = form.querySelector("select[name=template]");
    function show() {
      var chosen = form.querySelector("input[name=mode]:checked");
      var mode = chosen ? chosen.value : "manual";
      form.querySelectorAll(".wf-mode").forEach(function (part) {
        part.hidden = !part.classList.contains("wf-mode-" + mode);
      });
      var name = template ? template.value : "";
      form.querySelectorAll(".wf-template-fields").forEach(function (group) {
        group.hidden = group.dataset.template !== name;
      });
    }
    modes.forEach(function (radio) {
      radio.addEventListener("change", show);
    });
    if (template) {
      template.addEventListener("change", show);
    }
    show();
  }

  function setUpProgress(panel) {
    var url = panel.dataset.progressUrl;
    var bar = panel.querySelector(".wf-progress-bar");
    var percent = panel.querySelector(".wf-progress-percent");
    var step = panel.querySelector(".wf-progress-step");
    var timer = null;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (progress) {
          bar.value = progress.percent;
          bar.textContent = progress.percent + "%";
          percent.textContent = progress.percent + "% · " + progress.status_display;
          step.textContent = progress.step;
          if (!progress.running) {
            window.clearInterval(timer);
            if (panel.hasAttribute("data-reload-when-done")) {
              window.location.reload();
            }
          }
        })
        .catch(function () {
          step.textContent = "Progress unavailable; reload the page to try again.";
          window.clearInterval(timer);
        });
    }
    timer = window.setInterval(poll, 2000);
    poll();
  }

  // Cancelling stops the engine and every queued publication: it cannot be undone.
  function confirmCancel(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm("Cancel this workflow? Drafts still being written stop, and queued or scheduled publications are cancelled.")) {
        event.preventDefault();
      }
    });
  }

  // A button with data-confirm (Remove) asks first; dismissing submits nothing.
  function confirmButton(button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }

  // Enter in a field with data-enter-presses (the alt text's instruction) presses that button of
  // its form (Regenerate) rather than the form's first one (Save).
  function enterPresses(field) {
    field.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.shiftKey || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var button = field.form && field.form.querySelector('button[value="' + field.dataset.enterPresses + '"]');
      if (button) {
        event.preventDefault();
        button.click();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-enter-presses]").forEach(enterPresses);
    document.querySelectorAll(".wf-counter[data-counter-for]").forEach(setUpCounter);
    document.querySelectorAll("button[data-confirm]").forEach(confirmButton);
    document.querySelectorAll("form.wf-start").forEach(setUpStartForm);
    document.querySelectorAll(".wf-progress[data-progress-url]").forEach(setUpProgress);
    document.querySelectorAll("form.wf-cancel").forEach(confirmCancel);
  });
})();
