// Process analytics (issue 12): a heat map over the BPMN diagram rendered by diagram.js. Each user step gets an
// overlay with its figures (built as DOM nodes, styled by CSS classes: the CSP forbids inline styles) and a heat
// marker; sequence flows get a marker by how often they were taken. The figures come from data-analytics-url.
// With a #analytics-toggle button (the request page) the overlay shows only while the button is pressed.
(function () {
  const el = document.getElementById('diagram');
  if (!el || !el.dataset.analyticsUrl) { return; }
  const toggle = document.getElementById('analytics-toggle');
  const status = document.getElementById('analytics-status');
  let viewer = el.bpmnViewer || null;
  let data = null;
  let drawn = [];

  function days(value) {
    return value === null || value === undefined ? '—' : value.toFixed(1);
  }

  function line(className, text) {
    const div = document.createElement('div');
    div.className = className;
    div.textContent = text;
    return div;
  }

  function badge(step) {
    const box = document.createElement('div');
    box.className = 'heat-badge heat-' + step.heat;
    box.setAttribute('data-element', step.element_id);
    box.appendChild(line('heat-line', '办结 ' + step.passed + ' · 中位 ' + days(step.median_days) +
      ' / P90 ' + days(step.p90_days) + ' 工作日'));
    const now = line('heat-line', '在办 ' + step.open + ' · 逾期 ' + step.overdue);
    if (step.overdue > 0) { now.classList.add('heat-overdue'); }
    box.appendChild(now);
    if (step.negative_share !== null && step.negative_share !== undefined) {
      box.appendChild(line('heat-line', '退回/不同意 ' + Math.round(step.negative_share * 100) + '%'));
    }
    return box;
  }

  function clear() {
    if (!viewer) { return; }
    const overlays = viewer.get('overlays');
    const canvas = viewer.get('canvas');
    overlays.remove({ type: 'analytics' });
    drawn.forEach(([id, marker]) => canvas.removeMarker(id, marker));
    drawn = [];
    el.dataset.analytics = 'hidden';
  }

  function draw() {
    if (!viewer || !data) { return; }
    if (toggle && toggle.getAttribute('aria-pressed') !== 'true') { clear(); return; }
    clear();
    const overlays = viewer.get('overlays');
    const canvas = viewer.get('canvas');
    const registry = viewer.get('elementRegistry');
    data.steps.forEach((step) => {
      const shape = registry.get(step.element_id);
      if (!shape) { return; }
      const marker = 'heat-' + step.heat;
      canvas.addMarker(step.element_id, marker);
      drawn.push([step.element_id, marker]);
      overlays.add(step.element_id, 'analytics', { position: { bottom: -4, left: -10 }, html: badge(step) });
    });
    data.flows.forEach((flow) => {
      if (!registry.get(flow.flow_id)) { return; }
      const marker = 'flow-' + flow.level;
      canvas.addMarker(flow.flow_id, marker);
      drawn.push([flow.flow_id, marker]);
    });
    el.dataset.analytics = 'shown';
  }

  el.addEventListener('diagram-rendered', (event) => { viewer = event.detail.viewer; draw(); });
  if (toggle) {
    toggle.addEventListener('click', () => {
      toggle.setAttribute('aria-pressed', toggle.getAttribute('aria-pressed') === 'true' ? 'false' : 'true');
      draw();
    });
  }
  fetch(el.dataset.analyticsUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then((resp) => { if (!resp.ok) { throw new Error('HTTP ' + resp.status); } return resp.json(); })
    .then((json) => {
      data = json;
      if (toggle) { toggle.disabled = false; }
      draw();
    })
    .catch((err) => {
      el.dataset.analytics = 'error';
      if (status) { status.textContent = '流程统计加载失败：' + err.message; }
    });
}());
