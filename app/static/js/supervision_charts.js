// The supervisors' charts (Apache ECharts, canvas renderer): data from /supervision/charts.json.
// Tooltips are drawn on the canvas (renderMode 'richText'): ECharts' HTML tooltips carry inline style attributes,
// which the Content-Security-Policy (style-src 'self') refuses.
(function () {
  const root = document.getElementById('charts');
  if (!root || !window.echarts) { return; }
  const charts = [];
  const tooltip = { trigger: 'axis', renderMode: 'richText' };
  const legend = { type: 'scroll', top: 0 };
  const grid = { left: 48, right: 16, top: 40, bottom: 56, containLabel: true };

  function draw(id, option) {
    const el = document.getElementById(id);
    if (!el) { return; }
    const chart = window.echarts.init(el, null, { renderer: 'canvas' });
    chart.setOption(Object.assign({ animation: false, tooltip: tooltip, legend: legend, grid: grid }, option));
    charts.push(chart);
  }

  function empty(id, words) {
    const el = document.getElementById(id);
    if (el) { el.classList.add('chart-empty'); el.textContent = words; }
  }

  function openByDepartment(rows) {
    if (!rows.length) { empty('chart-open', '当前没有在办任务。'); return; }
    draw('chart-open', {
      xAxis: { type: 'category', data: rows.map((r) => r.department), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        { name: '在办', type: 'bar', data: rows.map((r) => r.open) },
        { name: '即将到期', type: 'bar', data: rows.map((r) => r.due_soon) },
        { name: '已逾期', type: 'bar', data: rows.map((r) => r.overdue), itemStyle: { color: '#c0392b' } },
      ],
    });
  }

  function weekly(data) {
    if (!data.series.length) { empty('chart-weekly', '近 12 周没有到期的任务。'); return; }
    const series = [];
    data.series.forEach((s) => {
      series.push({ name: s.department + ' 到期', type: 'bar', stack: 'due', data: s.due });
      series.push({ name: s.department + ' 逾期', type: 'line', data: s.overdue });
    });
    draw('chart-weekly', {
      xAxis: { type: 'category', data: data.weeks, name: '周（周一）' },
      yAxis: { type: 'value', minInterval: 1 },
      series: series,
    });
  }

  function onTime(data) {
    if (!data.series.length) { empty('chart-ontime', '近 6 个月没有到期的数据提供部门答复。'); return; }
    draw('chart-ontime', {
      xAxis: { type: 'category', data: data.months },
      yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
      series: data.series.map((s) => ({
        name: s.department, type: 'bar', data: s.months.map((c) => c.rate),
      })),
    });
  }

  function quality(rows) {
    if (!rows.length) { empty('chart-quality', '暂无数据质量反馈。'); return; }
    const names = rows.map((r) => r.department);
    const field = (key) => rows.map((r) => r[key]);
    draw('chart-quality', {
      xAxis: { type: 'category', data: names, axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        { name: '按期答复', type: 'bar', stack: 'q', data: field('on_time'), itemStyle: { color: '#27ae60' } },
        { name: '逾期答复', type: 'bar', stack: 'q', data: field('late'), itemStyle: { color: '#e67e22' } },
        { name: '办理中', type: 'bar', stack: 'q', data: field('open') },
        { name: '已逾期未答复', type: 'bar', stack: 'q', data: field('overdue'), itemStyle: { color: '#c0392b' } },
      ],
    });
  }

  function violations(rows) {
    if (!rows.length) { empty('chart-violations', '暂无违规处理案件。'); return; }
    draw('chart-violations', {
      tooltip: { trigger: 'item', renderMode: 'richText' },
      series: [{ name: '违规处理案件', type: 'pie', radius: ['35%', '65%'], top: 24,
                 label: { formatter: '{b}：{c}' },
                 data: rows.map((r) => ({ name: r.outcome, value: r.count })) }],
    });
  }

  fetch(root.dataset.url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then((resp) => { if (!resp.ok) { throw new Error('HTTP ' + resp.status); } return resp.json(); })
    .then((data) => {
      openByDepartment(data.open_by_department);
      weekly(data.weekly);
      onTime(data.on_time);
      quality(data.quality);
      violations(data.violations);
      window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
      root.dataset.rendered = String(charts.length);
    })
    .catch((err) => {
      root.dataset.rendered = 'error';
      const note = document.createElement('p');
      note.className = 'flash flash-error';
      note.textContent = '图表数据加载失败：' + err.message;
      root.prepend(note);
    });
}());
