// 批量审批 in the inbox: "select all" ticks every batchable row; without JavaScript each row is ticked by hand.
(function () {
  "use strict";
  var all = document.getElementById("batch-all");
  if (!all) return;
  var picks = Array.prototype.slice.call(document.querySelectorAll("input.batch-pick"));
  function sync() {
    var ticked = picks.filter(function (p) { return p.checked; }).length;
    all.checked = ticked > 0 && ticked === picks.length;
    all.indeterminate = ticked > 0 && ticked < picks.length;
  }
  all.hidden = false;
  all.addEventListener("change", function () {
    picks.forEach(function (p) { p.checked = all.checked; });
    sync();
  });
  picks.forEach(function (p) { p.addEventListener("change", sync); });
  sync();
})();
