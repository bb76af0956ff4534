// Issue 11 lists: on a phone the filter form starts folded (its summary says 已筛选 when a filter is in use);
// on a desktop it stays open.
(function () {
  if (!window.matchMedia('(max-width: 760px)').matches) { return; }
  document.querySelectorAll('details.more-filters').forEach((box) => { box.open = false; });
}());
