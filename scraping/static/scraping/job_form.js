/*
 * The scraping job form: show the rows of the fields the chosen job type uses (URLs for URL
 * lists, sitemaps and feeds; sites for government documents; indexes for papers), hide the other
 * types' own fields. #sd-job-type-fields carries {job type: [its own fields]} in
 * data-type-fields. Without JavaScript every row shows, and the server refuses what does not apply.
 */
(function () {
  "use strict";

  function setUp() {
    var holder = document.getElementById("sd-job-type-fields");
    var select = document.getElementById("id_job_type");
    if (!holder || !select) {
      return;
    }
    var byType = JSON.parse(holder.dataset.typeFields);
    var ownFields = {};
    Object.keys(byType).forEach(function (type) {
      byType[type].forEach(function (name) {
        ownFields[name] = true;
      });
    });

    function show() {
      var wanted = byType[select.value] || [];
      Object.keys(ownFields).forEach(function (name) {
        var row = document.querySelector(".form-row.field-" + name);
        if (!row) {
          return;
        }
        var hasValue = Array.prototype.some.call(row.querySelectorAll("textarea, input[type=text]"), function (input) {
          return input.value.trim() !== "";
        });
        // A row with an error or a value stays, so nothing typed disappears from view.
        row.hidden = wanted.indexOf(name) === -1 && !hasValue && !row.classList.contains("errors");
      });
    }

    select.addEventListener("change", show);
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
