// The form designer (/admin/forms): a field list editing the definition held in the "advanced" JSON textarea (the
// textarea is what the form posts, so the page also works without this script), and a live preview rendered by the
// server with the same Jinja macros the task pages use.
(function () {
  'use strict';
  const config = JSON.parse(document.getElementById('designer-config').textContent);
  const textarea = document.getElementById('definition');
  const editor = document.getElementById('designer-editor');
  const list = document.getElementById('field-list');
  const preview = document.getElementById('preview');
  const problemList = document.getElementById('designer-problems');
  const opinionSelect = document.getElementById('form-opinion');
  const CHOICES = ['radio', 'select'];
  let state = null;

  function parse() {
    try { return JSON.parse(textarea.value); } catch (e) { return null; }
  }

  // --- state -> textarea, preview --------------------------------------------------------------------------------
  let timer = null;
  function changed() {
    textarea.value = JSON.stringify(state, null, 2);
    schedulePreview();
  }

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(refreshPreview, 300);
  }

  let sequence = 0;
  async function refreshPreview() {
    const mine = ++sequence;
    document.body.dataset.previewBusy = 'true';
    let draft;
    try { draft = JSON.parse(textarea.value); } catch (e) { draft = textarea.value; }
    let body = {};
    let ok = false;
    try {
      const resp = await fetch(config.previewUrl, { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': config.csrf },
        body: JSON.stringify({ definition: typeof draft === 'string' ? draft : draft }) });
      ok = resp.ok;
      body = await resp.json();
    } catch (e) {
      body = { problems: ['预览失败：' + e.message] };
    }
    if (mine !== sequence) { return; }
    showProblems(body.problems || []);
    if (ok && body.html !== undefined) { preview.innerHTML = body.html; }  // server-rendered, escaped by Jinja
    document.body.dataset.previewBusy = 'false';
    document.body.dataset.previewOk = String(ok);
  }

  function showProblems(problems) {
    problemList.innerHTML = '';
    problems.forEach((p) => {
      const li = document.createElement('li');
      li.textContent = p;
      problemList.appendChild(li);
    });
  }

  // --- small builders --------------------------------------------------------------------------------------------
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === 'className') { node.className = v; } else { node.setAttribute(k, v); }
    });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function input(label, value, onChange, opts) {
    opts = opts || {};
    const wrap = el('label', { className: opts.check ? 'check' : '' });
    let control;
    if (opts.check) {
      control = el('input', { type: 'checkbox' });
      control.checked = Boolean(value);
      wrap.appendChild(control);
      wrap.appendChild(document.createTextNode(' ' + label));
      control.addEventListener('change', () => onChange(control.checked));
    } else {
      wrap.appendChild(document.createTextNode(label));
      if (opts.options) {
        control = el('select');
        opts.options.forEach(([v, l]) => control.appendChild(el('option', { value: v }, l)));
      } else if (opts.rows) {
        control = el('textarea', { rows: String(opts.rows) });
      } else {
        control = el('input', { type: opts.type || 'text' });
      }
      control.value = value === undefined || value === null ? '' : String(value);
      wrap.appendChild(control);
      control.addEventListener('change', () => onChange(control.value));
    }
    if (opts.prop) { control.dataset.prop = opts.prop; }
    if (opts.code) { control.classList.add('code'); }
    if (opts.hint) { wrap.appendChild(el('span', { className: 'hint' }, opts.hint)); }
    return wrap;
  }

  function setOrDelete(obj, key, value) {
    if (value === '' || value === null || value === undefined || value === false ||
        (Array.isArray(value) && !value.length)) { delete obj[key]; } else { obj[key] = value; }
  }

  const intOrEmpty = (v) => (String(v).trim() === '' ? '' : (Number.isFinite(Number(v)) ? Number(v) : v));

  // "decision=return" or "decision=return|refuse", several separated by ";"
  function requiredIfText(cond) {
    return Object.entries(cond || {}).map(([k, v]) => k + '=' + (Array.isArray(v) ? v.join('|') : v)).join('; ');
  }
  function parseRequiredIf(text) {
    const out = {};
    text.split(/[;；]/).map((s) => s.trim()).filter(Boolean).forEach((part) => {
      const [k, v] = part.split('=').map((s) => (s || '').trim());
      if (!k) { return; }
      const values = (v || '').split('|').map((s) => s.trim()).filter(Boolean);
      out[k] = values.length > 1 ? values : (values[0] || '');
    });
    return out;
  }
  const optionsText = (options) => (options || []).map((o) => o.value + '=' + o.label).join('\n');
  const parseOptions = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean).map((line) => {
    const at = line.indexOf('=');
    return at < 0 ? { value: line, label: line } : { value: line.slice(0, at).trim(), label: line.slice(at + 1).trim() };
  });

  // --- the editor ------------------------------------------------------------------------------------------------
  function renderForm() {
    const bind = (id, key, kind) => {
      const control = document.getElementById(id);
      if (kind === 'check') { control.checked = Boolean(state[key]); } else { control.value = state[key] || ''; }
      control.onchange = () => { setOrDelete(state, key, kind === 'check' ? control.checked : control.value.trim()); changed(); };
    };
    bind('form-key', 'key');
    bind('form-title', 'title');
    bind('form-basis', 'basis');
    bind('form-intro', 'intro');
    ['startable', 'allow_withdraw', 'batchable'].forEach((k) => bind('form-' + k, k, 'check'));
    opinionSelect.innerHTML = '';
    opinionSelect.appendChild(el('option', { value: '' }, '（无）'));
    (state.fields || []).forEach((f) => opinionSelect.appendChild(el('option', { value: f.name || '' },
      (f.label || f.name || '') + '（' + (f.name || '') + '）')));
    opinionSelect.value = state.opinion_field || '';
    opinionSelect.onchange = () => { setOrDelete(state, 'opinion_field', opinionSelect.value); changed(); };
  }

  function renderFields() {
    list.innerHTML = '';
    (state.fields || []).forEach((f, i) => list.appendChild(fieldEditor(f, i)));
    renderForm();
  }

  function move(i, delta) {
    const j = i + delta;
    if (j < 0 || j >= state.fields.length) { return; }
    [state.fields[i], state.fields[j]] = [state.fields[j], state.fields[i]];
    renderFields(); changed();
  }

  function fieldEditor(f, i) {
    const li = el('li', { className: 'field-editor' });
    li.dataset.index = String(i);
    const head = el('div', { className: 'field-head' });
    head.appendChild(el('strong', {}, '第 ' + (i + 1) + ' 个字段 ' + (f.label || '')));
    const buttons = [['上移', 'up', () => move(i, -1)], ['下移', 'down', () => move(i, 1)],
      ['删除', 'remove', () => { state.fields.splice(i, 1); renderFields(); changed(); }]];
    buttons.forEach(([label, action, fn]) => {
      const b = el('button', { type: 'button', className: 'small' }, label);
      b.dataset.action = action;
      b.addEventListener('click', fn);
      head.appendChild(b);
    });
    li.appendChild(head);
    const body = el('div', { className: 'field-body' });
    const set = (key, rerender) => (value) => { setOrDelete(f, key, value); if (rerender) { renderFields(); } changed(); };
    body.appendChild(input('类型', f.type, set('type', true), { prop: 'type',
      options: Object.entries(config.types).map(([t, l]) => [t, l + '（' + t + '）']) }));
    body.appendChild(input('字段名（name）', f.name, (v) => { f.name = v.trim(); renderForm(); changed(); },
      { prop: 'name', code: true, hint: '小写字母开头，只含小写字母、数字和下划线' }));
    body.appendChild(input('标题（label）', f.label, (v) => { f.label = v.trim(); renderForm(); changed(); }, { prop: 'label' }));
    body.appendChild(input('说明（help）', f.help, (v) => set('help')(v.trim()), { prop: 'help' }));
    body.appendChild(input('必填', f.required, set('required'), { check: true, prop: 'required' }));
    body.appendChild(input('条件必填（required_if）', requiredIfText(f.required_if),
      (v) => set('required_if')(Object.keys(parseRequiredIf(v)).length ? parseRequiredIf(v) : ''),
      { prop: 'required_if', code: true, hint: '如 decision=return；多个取值用 | 分隔' }));
    if (CHOICES.includes(f.type)) {
      body.appendChild(input('选项（每行一个：值=显示文字）', optionsText(f.options),
        (v) => set('options')(parseOptions(v)), { prop: 'options', rows: 3, code: true }));
    }
    if (['text', 'tel', 'textarea'].includes(f.type)) {
      body.appendChild(input('格式（pattern，正则表达式）', f.pattern, (v) => set('pattern')(v.trim()),
        { prop: 'pattern', code: true }));
      body.appendChild(input('格式不符时的提示', f.pattern_message, (v) => set('pattern_message')(v.trim()),
        { prop: 'pattern_message' }));
      body.appendChild(input('最少字数（min_length）', f.min_length, (v) => set('min_length')(intOrEmpty(v)),
        { prop: 'min_length', type: 'number' }));
      body.appendChild(input('最多字数（max_length）', f.max_length, (v) => set('max_length')(intOrEmpty(v)),
        { prop: 'max_length', type: 'number' }));
    }
    if (f.type === 'checkbox') {
      body.appendChild(input('承诺或协议全文（text）', f.text, (v) => set('text')(v), { prop: 'text', rows: 3 }));
      body.appendChild(input('勾选文字（check_label）', f.check_label, (v) => set('check_label')(v.trim()),
        { prop: 'check_label' }));
    }
    if (f.type === 'file') {
      body.appendChild(input('允许的文件类型（accept，逗号分隔）', (f.accept || []).join(', '),
        (v) => set('accept')(v.split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean)),
        { prop: 'accept', code: true, hint: '如 .pdf, .docx' }));
      body.appendChild(input('单个文件上限（MB）', f.max_mb, (v) => set('max_mb')(intOrEmpty(v)),
        { prop: 'max_mb', type: 'number' }));
      body.appendChild(input('可上传多个文件', f.multiple, set('multiple'), { check: true, prop: 'multiple' }));
    }
    li.appendChild(body);
    return li;
  }

  function freshName() {
    const names = new Set((state.fields || []).map((f) => f.name));
    let n = (state.fields || []).length + 1;
    while (names.has('field_' + n)) { n += 1; }
    return 'field_' + n;
  }

  document.getElementById('add-field').addEventListener('click', () => {
    const type = document.getElementById('new-field-type').value;
    const f = { name: freshName(), label: '新字段', type };
    if (CHOICES.includes(type)) { f.options = [{ value: 'yes', label: '是' }, { value: 'no', label: '否' }]; }
    if (type === 'file') { f.accept = ['.pdf']; f.max_mb = 20; }
    state.fields = (state.fields || []).concat([f]);
    renderFields(); changed();
    const last = list.lastElementChild;
    if (last) { last.querySelector('[data-prop=label]').focus(); }
  });

  // the advanced textarea: typing there rebuilds the editor (when it is JSON) and the preview
  textarea.addEventListener('input', () => {
    const parsed = parse();
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      state = parsed;
      if (!Array.isArray(state.fields)) { state.fields = []; }
      renderFields();
    }
    schedulePreview();
  });

  state = parse();
  if (state && typeof state === 'object' && !Array.isArray(state)) {
    if (!Array.isArray(state.fields)) { state.fields = []; }
    editor.hidden = false;
    renderFields();
  } else {
    state = { fields: [] };
    document.getElementById('advanced').open = true;
  }
  document.body.dataset.designerReady = 'true';
  refreshPreview();
}());
