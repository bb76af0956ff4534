// Render the instance's process version with bpmn-js and mark completed and active elements.
(function () {
  const el = document.getElementById('diagram');
  if (!el || !window.BpmnJS) { return; }
  const viewer = new window.BpmnJS({ container: el });
  fetch(el.dataset.xmlUrl, { credentials: 'same-origin' })
    .then((resp) => { if (!resp.ok) { throw new Error('HTTP ' + resp.status); } return resp.text(); })
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get('canvas');
      const registry = viewer.get('elementRegistry');
      JSON.parse(el.dataset.completed).forEach((id) => { if (registry.get(id)) { canvas.addMarker(id, 'done'); } });
      JSON.parse(el.dataset.active).forEach((id) => { if (registry.get(id)) { canvas.addMarker(id, 'active'); } });
      canvas.zoom('fit-viewport');
      el.dataset.rendered = 'true';
    })
    .catch((err) => {
      el.dataset.rendered = 'error';
      el.textContent = '流程图加载失败：' + err.message;
    });
}());
