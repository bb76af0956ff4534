// Issue 11 lists: on a phone the filter form starts folded (unless a filter is in use); on a desktop it stays open.
(function () {
  if (!window.matchMedia('(max-width: 760px)').matches) { return; }
  document.querySelectorAll('details.more-filters[data-active="0"]').forEach((box) => { box.open = false; });
}());
