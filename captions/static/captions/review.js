/* The caption review screen: a live character counter and keyboard shortcuts.

   The counter counts as captions.quality.caption_length does (and the network counts a media
   description): the caption cleaned as caption_text_clean cleans it (line breaks kept, spaces
   collapsed inside a line, at most one blank line in a row, ends trimmed), then Unicode code
   points, a line break counting one. The character sets below are Python's: str.splitlines()
   and str.split() with no argument (tests/browser/test_caption_review.py feeds the same strings
   to both). */
(function () {
  "use strict";

  // str.splitlines() boundaries.
  const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
  // str.split() whitespace (str.isspace()).
  const SPACES = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

  function captionTextClean(text) {
    const lines = (text || "").split(LINE_BREAK).map(function (line) {
      return line.split(SPACES).filter(function (word) { return word !== ""; }).join(" ");
    });
    return lines.join("\n").replace(/\n{3,}/g, "\n\n").replace(/^\n+|\n+$/g, "");
  }

  function captionLength(text) {
    let count = 0;
    for (const _codePoint of captionTextClean(text)) count += 1;  // eslint-disable-line no-unused-vars
    return count;
  }

  function setUpCounter(textarea) {
    const counter = document.getElementById("sd-counter");
    if (!textarea || !counter) return;
    const limit = parseInt(textarea.dataset.limit, 10);
    const update = function () {
      const length = captionLength(textarea.value);
      counter.textContent = length + " / " + limit;
      counter.classList.toggle("sd-over-limit", length > limit);
    };
    textarea.addEventListener("input", update);
    update();
  }

  function press(name) {
    const target = document.querySelector('[data-shortcut="' + name + '"]');
    if (!target) return false;
    target.click();
    return true;
  }

  function shortcutFor(event) {
    const ctrl = event.ctrlKey || event.metaKey;
    if (ctrl && !event.altKey && event.key === "Enter") {
      return event.shiftKey ? (document.querySelector('[data-shortcut="post"]') ? "post" : "approve_post") : "approve";
    }
    if (ctrl && !event.altKey && !event.shiftKey && event.code === "KeyS") return "save";
    if (event.altKey && event.shiftKey && !ctrl) {
      // event.code: with Alt held a Mac types another character, so event.key is not the letter.
      return { KeyR: "reject", KeyG: "regenerate", KeyN: "skip" }[event.code] || null;
    }
    return null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("sd-review-form");
    setUpCounter(document.querySelector("textarea.sd-review-caption"));
    if (!form) return;
    let submitting = false;
    form.addEventListener("submit", function (event) {
      if (submitting) event.preventDefault();  // one action per page: a double press posts once
      submitting = true;
    });
    document.addEventListener("keydown", function (event) {
      const name = shortcutFor(event);
      if (name && press(name)) {
        event.preventDefault();
        return;
      }
      // Enter in the instruction or reason field presses its own button, not the form's first.
      const owner = event.target && event.target.id &&
        document.querySelector('[data-enter-for="' + event.target.id + '"]');
      if (owner && event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        owner.click();
      }
    });
  });

  window.sdCaptionLength = captionLength;  // for the browser test that compares it with Python's
})();
