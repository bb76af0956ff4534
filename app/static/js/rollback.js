// 退回 / 撤回申请 / 收回 (issue 11): ask before a form with data-confirm goes back in the process.
(function () {
  "use strict";
  document.querySelectorAll("form.rollback-form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
})();
