// The process modeler: bpmn-js with a properties panel for what our engine reads (spiffworkflow:property entries,
// gateway conditions, scripts, timer expressions), validation shown on the diagram, and deployment.
(function () {
  'use strict';
  const config = JSON.parse(document.getElementById('modeler-config').textContent);
  const SPIFF = {
    name: 'SpiffWorkflow', uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core', prefix: 'spiffworkflow',
    xml: { tagAlias: 'lowerCase' }, associations: [],
    types: [
      { name: 'Properties', superClass: ['Element'],
        properties: [{ name: 'properties', type: 'Property', isMany: true }] },
      { name: 'Property', superClass: ['Element'],
        properties: [{ name: 'name', type: 'String', isAttr: true }, { name: 'value', type: 'String', isAttr: true }] },
    ],
  };
  // the pickers' choices (forms with titles, roles and departments with Chinese names) from /admin/modeler/options.json;
  // until it answers (or if it fails) the plain lists rendered into the page are used
  let pickers = {
    forms: config.formKeys.map((key) => ({ key, title: '' })),
    roles: config.roles.map((value) => ({ value, label: value })),
    departments: config.departments.map(([value, label]) => ({ value, label })),
  };
  function loadPickers() {
    if (!config.optionsUrl) { return Promise.resolve(); }
    return fetch(config.optionsUrl, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        if (!body) { return; }
        pickers = body;
        document.body.dataset.pickersReady = 'true';
        const selected = modeler.get('selection').get();
        if (selected.length === 1 && !panel.contains(document.activeElement)) { renderPanel(selected[0]); }
      })
      .catch(() => {});
  }
  // a form created in the designer (another tab) shows up when this tab is focused again
  window.addEventListener('focus', () => { loadPickers(); });
  const DEPARTMENT_EXPRESSIONS = [
    ['applicant_department', '申请部门'],
    ['provider_department', '数据提供部门（按资源逐个办理）'],
  ];
  // bpmn-js's own texts (palette, context pad, replace menu, search) in Chinese: modeler_zh.js, loaded before this file
  const zh = window.modelerZh;
  const modeler = new window.BpmnJS({ container: '#canvas', moddleExtensions: { spiffworkflow: SPIFF },
    additionalModules: zh ? [zh.module] : [] });
  if (zh) { zh.watchPopups(document.getElementById('canvas')); }
  window.processModeler = modeler; // for the browser tests and the console

  // bpmn-js draws the align/distribute icons (context pad and menu) as SVG with style="..." attributes, which our CSP
  // (style-src 'self', no 'unsafe-inline') refuses. Providers of the lowest priority run last and rewrite them as SVG
  // presentation attributes (fill, stroke, ...), which CSP allows.
  const styleToAttributes = (html) => html.replace(/style="([^"]*)"/g, (_m, css) => css.split(';')
    .map((decl) => decl.split(':').map((part) => part.trim()))
    .filter(([name, value]) => /^[a-z-]+$/.test(name || '') && value)
    .map(([name, value]) => name + '="' + value.replace(/"/g, '') + '"').join(' '));
  const withoutInlineStyles = (key) => (entries) => {
    Object.values(entries).forEach((entry) => { if (entry[key]) { entry[key] = styleToAttributes(entry[key]); } });
    return entries;
  };
  modeler.get('popupMenu').registerProvider('align-elements', 1, {
    getPopupMenuEntries: () => withoutInlineStyles('imageHtml'),
  });
  modeler.get('contextPad').registerProvider(1, {
    getContextPadEntries: () => withoutInlineStyles('html'),
    getMultiElementContextPadEntries: () => withoutInlineStyles('html'),
  });
  const panel = document.getElementById('properties');
  const statusBox = document.getElementById('modeler-status');
  const problemList = document.getElementById('problems');
  let fileName = 'process.bpmn';
  let problemOverlays = [];

  function status(message, kind) {
    statusBox.hidden = !message;
    statusBox.className = 'flash flash-' + (kind || 'info');
    statusBox.textContent = message || '';
  }

  // unsaved changes: the command stack moved since the diagram was opened or last deployed
  let savedAt = 0;
  const stackIndex = () => modeler.get('commandStack')._stackIdx;
  const unsaved = () => stackIndex() !== savedAt;
  modeler.on('commandStack.changed', () => { document.body.dataset.unsaved = String(unsaved()); });
  window.addEventListener('beforeunload', (event) => {
    if (unsaved()) { event.preventDefault(); event.returnValue = '流程图有未部署的修改，确定离开吗？'; }
  });

  async function open(xml) {
    try {
      await modeler.importXML(xml);
      savedAt = stackIndex();
      document.body.dataset.unsaved = 'false';
      modeler.get('canvas').zoom('fit-viewport');
      document.body.dataset.modelerReady = 'true';
      renderPanel(null);
    } catch (err) {
      status('无法打开该文件：' + err.message, 'error');
    }
  }

  loadPickers();
  fetch(config.xmlUrl, { credentials: 'same-origin' })
    .then((r) => { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.text(); })
    .then(open)
    .catch((err) => status('加载流程图失败：' + err.message, 'error'));

  // --- properties panel -------------------------------------------------------------------------------------------
  const modeling = () => modeler.get('modeling');
  const moddle = () => modeler.get('moddle');

  function field(label, value, onChange, opts) {
    opts = opts || {};
    const wrap = document.createElement('label');
    wrap.textContent = label;
    let input;
    if (opts.options) {
      input = document.createElement('select');
      [''].concat(opts.options).forEach((o) => {
        const option = document.createElement('option');
        option.value = Array.isArray(o) ? o[0] : o;
        option.textContent = Array.isArray(o) ? o[0] + ' ' + o[1] : (o || '（未设置）');
        input.appendChild(option);
      });
      input.value = value || '';
    } else if (opts.multiline) {
      input = document.createElement('textarea');
      input.rows = opts.rows || 3;
      input.value = value || '';
    } else {
      input = document.createElement('input');
      input.value = value || '';
    }
    if (opts.code) { input.classList.add('code'); }
    if (opts.readOnly) { input.readOnly = true; }
    input.name = opts.name || '';
    input.addEventListener('change', () => onChange(input.value));
    wrap.appendChild(input);
    panel.appendChild(wrap);
    if (opts.hint) {
      const hint = document.createElement('p');
      hint.className = 'hint';
      hint.textContent = opts.hint;
      panel.appendChild(hint);
    }
    return input;
  }

  function spiffProps(bo) {
    const ext = bo.extensionElements;
    const props = ext && (ext.values || []).find((v) => v.$type === 'spiffworkflow:Properties');
    const out = {};
    ((props && props.properties) || []).forEach((p) => { out[p.name] = p.value; });
    return out;
  }

  function setSpiffProp(element, name, value) {
    const bo = element.businessObject;
    const ext = bo.extensionElements || moddle().create('bpmn:ExtensionElements', { values: [] });
    let props = (ext.values || []).find((v) => v.$type === 'spiffworkflow:Properties');
    if (!props) {
      props = moddle().create('spiffworkflow:Properties', { properties: [] });
      ext.values = (ext.values || []).concat([props]);
    }
    const existing = (props.properties || []).find((p) => p.name === name);
    if (existing && value) { existing.value = value; }
    else if (existing) { props.properties = props.properties.filter((p) => p !== existing); }
    else if (value) { props.properties = (props.properties || []).concat([moddle().create('spiffworkflow:Property', { name, value })]); }
    modeling().updateProperties(element, { extensionElements: ext });
  }

  function expression(body) { return body ? moddle().create('bpmn:FormalExpression', { body }) : undefined; }

  function renderPanel(element) {
    panel.innerHTML = '';
    const root = modeler.get('canvas').getRootElement();
    element = element || root;
    const bo = element && element.businessObject;
    if (!bo) { return; }
    const title = document.createElement('h3');
    title.textContent = (bo.$type || '').replace('bpmn:', '') + (bo.id ? ' · ' + bo.id : '');
    panel.appendChild(title);
    const processBo = bo.$type === 'bpmn:Participant' ? bo.processRef : (bo.$type === 'bpmn:Process' ? bo : null);
    if (bo.$type === 'bpmn:Collaboration') {
      const participant = (bo.participants || [])[0];
      if (participant) { return renderPanel(modeler.get('elementRegistry').get(participant.id)); }
    }
    if (element !== root || bo.$type === 'bpmn:Process') {
      field('名称', bo.name, (v) => modeling().updateLabel(element, v), { name: 'name' });
    }
    if (processBo) {
      field('流程标识（process id）', processBo.id, (v) => { processBo.id = v; }, { name: 'process_id', code: true,
        hint: '部署时按此标识区分流程；改动后部署为新流程' });
    }
    if (bo.$type === 'bpmn:UserTask') {
      renderUserTask(element, spiffProps(bo));
    }
    if (bo.$type === 'bpmn:SequenceFlow' && bo.sourceRef && /Gateway$/.test(bo.sourceRef.$type)) {
      const isDefault = bo.sourceRef.default === bo;
      field('条件表达式（Python）', bo.conditionExpression && bo.conditionExpression.body,
        (v) => modeling().updateProperties(element, { conditionExpression: expression(v.trim()) }),
        { name: 'condition', multiline: true, code: true,
          hint: isDefault ? '这是网关的默认路径（无条件）' : "例如 provider_opinion['decision'] == 'approve'" });
    }
    if (bo.$type === 'bpmn:ScriptTask') {
      field('脚本（Python）', bo.script, (v) => modeling().updateProperties(element, { script: v }),
        { name: 'script', multiline: true, rows: 8, code: true,
          hint: '可用函数：now_iso()、add_working_days(开始时间, N)、notify(事件, 消息, to_open=环节, cc=部门)' });
    }
    const timer = (bo.eventDefinitions || []).find((d) => d.$type === 'bpmn:TimerEventDefinition');
    if (timer) {
      const current = timer.timeDate && timer.timeDate.body;
      const input = field('定时器时间（timeDate，Python 表达式）', current, (v) => {
        timer.timeDate = expression(v.trim());
        timer.timeDuration = undefined; timer.timeCycle = undefined;
        modeling().updateProperties(element, { eventDefinitions: bo.eventDefinitions });
      }, { name: 'timer', multiline: true, code: true, hint: '返回 ISO 8601 时间字符串（+08:00）' });
      const helper = document.createElement('div');
      helper.className = 'timer-helper';
      helper.innerHTML = '<label>工作日期限助手：从变量 <input name="helper_var" value="forwarded_at" class="code"> 起 ' +
        '<input name="helper_days" type="number" min="1" value="5" class="days"> 个工作日 ' +
        '<button type="button">生成</button></label>';
      helper.querySelector('button').addEventListener('click', () => {
        const variable = helper.querySelector('[name=helper_var]').value.trim() || 'forwarded_at';
        const days = parseInt(helper.querySelector('[name=helper_days]').value, 10) || 5;
        input.value = 'add_working_days(' + variable + ', ' + days + ')';
        input.dispatchEvent(new Event('change'));
      });
      panel.appendChild(helper);
    }
  }

  // a user task: the form from the forms stored in the database (with a link to the designer), candidate roles
  // ticked by their Chinese names, the department chosen from the common expressions or the departments by name
  function renderUserTask(element, props) {
    const formOptions = pickers.forms.map((f) => [f.key, f.title || '']);
    if (props.formKey && !pickers.forms.some((f) => f.key === props.formKey)) {
      formOptions.push([props.formKey, '（不存在）']);
    }
    const formSelect = field('表单（formKey）', props.formKey, (v) => {
      setSpiffProp(element, 'formKey', v.trim());
      designerLink();
    }, { name: 'formKey', options: formOptions });
    const links = document.createElement('p');
    links.className = 'hint picker-links';
    const open = document.createElement('a');
    open.target = '_blank'; open.rel = 'noopener'; open.id = 'open-form-designer';
    const create = document.createElement('a');
    create.href = config.newFormUrl; create.target = '_blank'; create.rel = 'noopener'; create.textContent = '新建表单';
    create.id = 'new-form-designer';
    const refresh = document.createElement('button');
    refresh.type = 'button'; refresh.className = 'small'; refresh.textContent = '刷新表单列表';
    refresh.addEventListener('click', () => { loadPickers(); });
    function designerLink() {
      const key = formSelect.value;
      open.hidden = !key;
      open.href = key ? config.formUrl.replace('FORM_KEY', encodeURIComponent(key)) : '#';
      open.textContent = '在表单设计器中打开';
    }
    designerLink();
    links.append(open, ' · ', create, ' · ', refresh);
    panel.appendChild(links);

    // candidate roles: ticks with the roles' names; the value stays the comma-separated codes the engine reads
    const chosen = (props.candidateRoles || '').split(',').map((r) => r.trim()).filter(Boolean);
    const roleBox = document.createElement('fieldset');
    roleBox.className = 'picker';
    roleBox.id = 'role-picker';
    const legend = document.createElement('legend');
    legend.textContent = '候选角色（candidateRoles）';
    roleBox.appendChild(legend);
    const known = pickers.roles.map((r) => r.value);
    pickers.roles.concat(chosen.filter((r) => !known.includes(r)).map((r) => ({ value: r, label: r + '（不存在）' })))
      .forEach((role) => {
        const label = document.createElement('label');
        label.className = 'check';
        const box = document.createElement('input');
        box.type = 'checkbox'; box.name = 'candidateRole'; box.value = role.value;
        box.checked = chosen.includes(role.value);
        box.addEventListener('change', () => {
          const ticked = Array.from(roleBox.querySelectorAll('input[name=candidateRole]:checked')).map((b) => b.value);
          setSpiffProp(element, 'candidateRoles', ticked.join(','));
        });
        label.append(box, ' ' + role.label);
        roleBox.appendChild(label);
      });
    panel.appendChild(roleBox);

    // department: a common expression or a department by name; the expression itself stays editable
    const literal = (props.department || '').match(/^'([^']*)'$/);
    const current = literal ? "'" + literal[1] + "'" : (props.department || '');
    const departmentChoices = DEPARTMENT_EXPRESSIONS.concat(
      pickers.departments.map((d) => ["'" + d.value + "'", d.label]));
    const custom = current && !departmentChoices.some(([v]) => v === current);
    if (custom) { departmentChoices.push([current, '（自定义表达式）']); }
    let expressionInput = null;
    const departmentSelect = field('办理部门（department）', current, (v) => {
      setSpiffProp(element, 'department', v.trim());
      if (expressionInput) { expressionInput.value = v; }
    }, { name: 'departmentPick', options: departmentChoices });
    departmentSelect.id = 'department-picker';
    expressionInput = field('办理部门表达式', props.department, (v) => {
      setSpiffProp(element, 'department', v.trim());
    }, { name: 'department', code: true,
      hint: "也可写 Python 表达式，如 applicant_department、provider_department 或 'nic'" });
    field('结果变量（resultVariable）', props.resultVariable, (v) => setSpiffProp(element, 'resultVariable', v.trim()),
      { name: 'resultVariable', code: true, hint: '表单结果保存到的流程变量，供网关条件使用' });
  }

  modeler.on('selection.changed', (e) => renderPanel(e.newSelection[0] || null));
  modeler.on('element.changed', (e) => {
    const selected = modeler.get('selection').get();
    if (selected.length === 1 && selected[0] === e.element && !panel.contains(document.activeElement)) {
      renderPanel(e.element);
    }
  });

  // --- validation problems on the diagram ------------------------------------------------------------------------
  function clearProblems() {
    const canvas = modeler.get('canvas');
    const overlays = modeler.get('overlays');
    problemOverlays.forEach(([id, overlayId]) => { canvas.removeMarker(id, 'has-problem'); overlays.remove(overlayId); });
    problemOverlays = [];
    problemList.innerHTML = '';
  }

  function showProblems(problems) {
    clearProblems();
    const registry = modeler.get('elementRegistry');
    const canvas = modeler.get('canvas');
    const overlays = modeler.get('overlays');
    problems.forEach((p) => {
      const li = document.createElement('li');
      li.textContent = (p.element_id || '流程') + '：' + p.reason;
      const element = p.element_id && registry.get(p.element_id);
      if (element) {
        canvas.addMarker(p.element_id, 'has-problem');
        const html = document.createElement('div');
        html.className = 'problem-overlay';
        html.textContent = p.reason;
        problemOverlays.push([p.element_id, overlays.add(p.element_id, { position: { bottom: -4, left: 0 }, html })]);
        li.addEventListener('click', () => modeler.get('selection').select(element));
      }
      problemList.appendChild(li);
    });
  }

  async function post(url) {
    const { xml } = await modeler.saveXML({ format: true });
    const resp = await fetch(url, { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': config.csrf },
      body: JSON.stringify({ xml, file_name: fileName }) });
    let body = {};
    try { body = await resp.json(); } catch (e) { body = { error: 'HTTP ' + resp.status }; }
    return { ok: resp.ok, body };
  }

  document.getElementById('validate').addEventListener('click', async () => {
    const { ok, body } = await post(config.validateUrl);
    if (ok) { clearProblems(); status('校验通过，可以部署', 'success'); }
    else { showProblems(body.problems || []); status(body.error || ('发现 ' + (body.problems || []).length + ' 个问题'), 'error'); }
  });

  document.getElementById('deploy').addEventListener('click', async () => {
    const { ok, body } = await post(config.deployUrl);
    if (ok) {
      savedAt = stackIndex();
      document.body.dataset.unsaved = 'false';
      clearProblems();
      status(body.created ? '已部署为 ' + body.process_key + ' 第 ' + body.version + ' 版' : '流程没有变化，未生成新版本',
        'success');
      const link = document.createElement('a');
      link.href = body.versions_url; link.textContent = ' 查看版本'; link.id = 'versions-link';
      statusBox.appendChild(link);
    } else {
      showProblems(body.problems || []);
      status(body.error || ('部署失败：发现 ' + (body.problems || []).length + ' 个问题，未保存'), 'error');
    }
  });

  document.getElementById('download').addEventListener('click', async () => {
    const { xml } = await modeler.saveXML({ format: true });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([xml], { type: 'application/xml' }));
    a.download = fileName;
    a.click();
    savedAt = stackIndex();  // the changes are kept in the downloaded file
    document.body.dataset.unsaved = 'false';
    URL.revokeObjectURL(a.href);
  });

  document.getElementById('open-file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (!file) { return; }
    fileName = file.name;
    file.text().then((xml) => { clearProblems(); status('', null); return open(xml); });
  });
}());
