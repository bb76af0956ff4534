// Render the instance's process version with bpmn-js and mark completed and active elements.
// Zoom in/out/fit buttons; a plain mouse wheel scrolls the page (only Ctrl/⌘ + wheel zooms the diagram), so
// scrolling past the diagram never pans it away.
(function () {
  const el = document.getElementById('diagram');
  if (!el || !window.BpmnJS) { return; }
  const viewer = new window.BpmnJS({ container: el });
  // Capture phase on the wrapper runs before diagram-js's wheel handler on its inner container.
  el.addEventListener('wheel', (e) => { if (!e.ctrlKey && !e.metaKey) { e.stopPropagation(); } }, { capture: true });
  fetch(el.dataset.xmlUrl, { credentials: 'same-origin' })
    .then((resp) => { if (!resp.ok) { throw new Error('HTTP ' + resp.status); } return resp.text(); })
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get('canvas');
      const registry = viewer.get('elementRegistry');
      JSON.parse(el.dataset.completed).forEach((id) => { if (registry.get(id)) { canvas.addMarker(id, 'done'); } });
      JSON.parse(el.dataset.active).forEach((id) => { if (registry.get(id)) { canvas.addMarker(id, 'active'); } });
      canvas.zoom('fit-viewport');
      document.querySelectorAll('[data-diagram-zoom]').forEach((button) => {
        button.disabled = false;
        button.addEventListener('click', () => {
          const action = button.dataset.diagramZoom;
          if (action === 'fit') {
            canvas.zoom('fit-viewport', 'auto');
          } else {
            // Own steps rather than zoomScroll.stepZoom: its 0.2 floor is above the fit scale on a phone screen.
            const factor = action === 'in' ? 1.25 : 0.8;
            const box = canvas.viewbox();
            const center = { x: box.outer.width / 2, y: box.outer.height / 2 };
            canvas.zoom(Math.min(4, Math.max(0.05, canvas.zoom() * factor)), center);
          }
        });
      });
      el.dataset.rendered = 'true';
      // other scripts (analytics.js) draw on the rendered diagram
      el.bpmnViewer = viewer;
      el.dispatchEvent(new CustomEvent('diagram-rendered', { detail: { viewer } }));
    })
    .catch((err) => {
      el.dataset.rendered = 'error';
      el.textContent = '流程图加载失败：' + err.message;
    });
}());
