/* The caption scan form: mark the settings row of the connection chosen in the select. */
(function () {
  "use strict";
  function mark() {
    var select = document.getElementById("id_platform_connection");
    if (!select) {
      return;
    }
    document.querySelectorAll("#scan-settings tr[data-connection]").forEach(function (row) {
      row.classList.toggle("sd-chosen", row.dataset.connection === select.value);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_platform_connection");
    if (select) {
      select.addEventListener("change", mark);
      mark();
    }
  });
})();
