/* The caption scan form: mark the settings row of the connection chosen in the select. */
(function () {
  "use strict";

  function mark(select) {
    document.querySelectorAll("#scan-settings tr[data-connection]").forEach(function (row) {
      row.classList.toggle("sd-chosen", row.dataset.connection === select.value);
    });
  }

  function setUp() {
    var select = document.getElementById("id_platform_connection");
    if (select) {
      select.addEventListener("change", function () {
        mark(select);
      });
      mark(select);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
