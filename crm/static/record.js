/* The contact record: the weather panel, inline "Add" buttons, company suggestions.
   Loaded as a file (the page's CSP runs no inline script). */
(function () {
  "use strict";

  function loadWeather() {
    var panel = document.getElementById("weather-panel");
    if (!panel || !panel.dataset.url) {
      return;
    }
    var body = panel.querySelector(".crm-weather-body");
    fetch(panel.dataset.url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        // The fragment is rendered and escaped by the server.
        body.innerHTML = html;
      })
      .catch(function () {
        body.textContent = panel.dataset.failed;
      });
  }

  function rowCount(list) {
    var rows = list.querySelectorAll(":scope > .inline-field-list > .inline-field");
    var kept = 0;
    rows.forEach(function (row) {
      var remove = row.querySelector(":scope > .crm-inline-controls input[type=checkbox]");
      if (!remove || !remove.checked) {
        kept += 1;
      }
    });
    return kept;
  }

  function wireInlineLists() {
    document.querySelectorAll(".crm-inline").forEach(function (list) {
      var button = list.querySelector(":scope > .crm-inline-add");
      var slots = parseInt(list.dataset.slots, 10) || 0;
      if (!button) {
        return;
      }
      var refresh = function () {
        button.hidden = slots > 0 && rowCount(list) >= slots;
      };
      button.addEventListener("click", function () {
        if (window.faForm) {
          window.faForm.addInlineField(button, button.dataset.field);
        }
        refresh();
      });
      list.addEventListener("change", refresh);
      new MutationObserver(refresh).observe(
        list.querySelector(":scope > .inline-field-list"),
        { childList: true }
      );
      refresh();
      // Browser tests (and nothing else) wait for this before pressing the button.
      button.dataset.wired = "true";
    });
  }

  function wireCompanySuggestions() {
    var options = document.getElementById("company-options");
    var input = document.querySelector("input[list=company-options]");
    if (!options || !input || !options.dataset.lookup) {
      return;
    }
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = options.dataset.lookup + "?q=" + encodeURIComponent(input.value);
        fetch(url, { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : { names: [] }; })
          .then(function (data) {
            options.replaceChildren();
            (data.names || []).forEach(function (name) {
              var option = document.createElement("option");
              option.value = name;
              options.appendChild(option);
            });
          })
          .catch(function () { options.replaceChildren(); });
      }, 200);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    loadWeather();
    wireInlineLists();
    wireCompanySuggestions();
  });
})();
