// Wires the controls that Flask-Admin's stock templates drive with inline
// handlers, which this site's Content-Security-Policy refuses to run. Our
// overrides of those templates mark the controls with data attributes instead.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-crm-prevent], [data-crm-action], [data-crm-confirm], [data-crm-add-inline], a[href='#']");
    if (!target) {
      return;
    }
    if (target.hasAttribute("data-crm-add-inline")) {
      event.preventDefault();
      window.faForm.addInlineField(target, target.getAttribute("data-crm-add-inline"));
    } else if (target.hasAttribute("data-crm-action")) {
      event.preventDefault();
      window.modelActions.execute(target.getAttribute("data-crm-action"));
    } else if (target.hasAttribute("data-crm-confirm")) {
      if (!window.faHelpers.safeConfirm(target.getAttribute("data-crm-confirm"))) {
        event.preventDefault();
      }
    } else if (target.hasAttribute("data-crm-prevent") || target.getAttribute("href") === "#") {
      event.preventDefault();
    }
  });
})();
