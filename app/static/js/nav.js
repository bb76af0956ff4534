// Phone layout helpers, loaded on every page: the collapsible navigation and cell labels for tables shown as cards.
(function () {
  const bar = document.querySelector('.topbar');
  const toggle = document.getElementById('nav-toggle');
  if (bar && toggle) {
    // Collapsing only with this script running: without it the menu stays open (wrapped) on a phone.
    bar.classList.add('js-nav');
    toggle.hidden = false;
    toggle.addEventListener('click', () => {
      const open = bar.classList.toggle('nav-open');
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    });
  }
  // A dropdown group closes when another opens or on a click elsewhere (desktop; on a phone they unfold in place).
  const menus = Array.from(document.querySelectorAll('.topbar details.menu'));
  menus.forEach((menu) => menu.addEventListener('toggle', () => {
    if (menu.open) { menus.forEach((other) => { if (other !== menu) { other.open = false; } }); }
  }));
  document.addEventListener('click', (event) => {
    menus.forEach((menu) => { if (menu.open && !menu.contains(event.target)) { menu.open = false; } });
  });
  // Cards need each cell's column name; templates give data-label where they can, the rest come from the header row.
  document.querySelectorAll('table.list, table.history, table.resources').forEach((table) => {
    const heads = Array.from(table.querySelectorAll('thead th')).map((th) => th.textContent.trim());
    if (!heads.length) { return; }
    table.querySelectorAll('tbody tr').forEach((tr) => {
      Array.from(tr.children).forEach((cell, i) => {
        if (cell.tagName === 'TD' && !cell.hasAttribute('data-label') && heads[i]) { cell.dataset.label = heads[i]; }
      });
    });
  });
}());
