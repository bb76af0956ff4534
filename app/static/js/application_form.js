// 申请表: ticking a field of a resource selects the resource; unticking the resource clears its fields
// (the server counts a resource with ticked fields as chosen, so a cleared row must not keep field ticks).
(function () {
  document.querySelectorAll('table.resources').forEach((table) => {
    table.addEventListener('change', (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || box.type !== 'checkbox') { return; }
      const row = box.closest('tr');
      if (!row) { return; }
      const rowBox = row.querySelector('input[id^="res_"]');
      const fieldBoxes = row.querySelectorAll('input[name^="fields_"]');
      if (box === rowBox) {
        if (!box.checked) { fieldBoxes.forEach((f) => { f.checked = false; }); }
      } else if (box.checked && rowBox && !rowBox.disabled) {
        rowBox.checked = true;
      }
    });
  });
}());
