// Chinese for bpmn-js's own texts in the modeler (palette, context pad, replace menu, popup and diagram search,
// modeling hints). bpmn-js asks its `translate` service for every such text; modeler.js adds
// window.modelerZh.module to the modeler's additionalModules, which replaces that service with the dictionary below.
// The keys are every template the vendored bundle (bpmn-js 18.x) passes to translate(); a template missing here is
// shown in English and recorded in window.modelerZh.missing() (the browser test asserts that list stays empty).
// The popup menu writes a few texts itself (result count, "Back", aria labels); fixPopupTexts rewrites those.
(function () {
  'use strict';
  const NON_INTERRUPTING = '（非中断）';
  const ZH = {
    // palette
    'Activate hand tool': '抓手工具（拖动画布）',
    'Activate lasso tool': '套索工具（框选元素）',
    'Activate create/remove space tool': '空间工具（插入或移除空白）',
    'Activate global connect tool': '全局连线工具',
    'Create start event': '创建开始事件',
    'Create intermediate/boundary event': '创建中间/边界事件',
    'Create end event': '创建结束事件',
    'Create gateway': '创建网关',
    'Create task': '创建任务',
    'Create data object reference': '创建数据对象引用',
    'Create data store reference': '创建数据存储引用',
    'Create expanded sub-process': '创建展开的子流程',
    'Create pool/participant': '创建池/参与者',
    'Create group': '创建分组',
    // context pad
    'Append end event': '追加结束事件',
    'Append gateway': '追加网关',
    'Append task': '追加任务',
    'Append intermediate/boundary event': '追加中间/边界事件',
    'Append receive task': '追加接收任务',
    'Append message intermediate catch event': '追加消息中间捕获事件',
    'Append timer intermediate catch event': '追加定时中间捕获事件',
    'Append conditional intermediate catch event': '追加条件中间捕获事件',
    'Append signal intermediate catch event': '追加信号中间捕获事件',
    'Append compensation activity': '追加补偿活动',
    'Add text annotation': '添加文本注释',
    'Add lane above': '在上方添加泳道',
    'Add lane below': '在下方添加泳道',
    'Divide into two lanes': '拆分为两条泳道',
    'Divide into three lanes': '拆分为三条泳道',
    'Change element': '更改类型',
    'Connect to other element': '连线到其他元素',
    'Connect using association': '用关联连线',
    'Connect using data input association': '用数据输入关联连线',
    'Delete': '删除',
    'Align elements': '对齐元素',
    'Align elements left': '左对齐',
    'Align elements center': '水平居中对齐',
    'Align elements right': '右对齐',
    'Align elements top': '顶端对齐',
    'Align elements middle': '垂直居中对齐',
    'Align elements bottom': '底端对齐',
    'Distribute elements horizontally': '水平等距分布',
    'Distribute elements vertically': '垂直等距分布',
    'Open {element}': '打开 {element}',
    // replace menu: tasks and activities
    'Task': '任务',
    'User task': '用户任务',
    'Service task': '服务任务',
    'Script task': '脚本任务',
    'Send task': '发送任务',
    'Receive task': '接收任务',
    'Manual task': '人工任务',
    'Business rule task': '业务规则任务',
    'Call activity': '调用活动',
    'Sub-process': '子流程',
    'Sub-process (collapsed)': '子流程（折叠）',
    'Sub-process (expanded)': '子流程（展开）',
    'Ad-hoc sub-process': '自由子流程',
    'Ad-hoc sub-process (collapsed)': '自由子流程（折叠）',
    'Ad-hoc sub-process (expanded)': '自由子流程（展开）',
    'Event sub-process': '事件子流程',
    'Transaction': '事务子流程',
    // replace menu: events
    'Start event': '开始事件',
    'Intermediate throw event': '中间抛出事件',
    'End event': '结束事件',
    'Terminate end event': '终止结束事件',
    'Message start event': '消息开始事件',
    'Timer start event': '定时开始事件',
    'Conditional start event': '条件开始事件',
    'Signal start event': '信号开始事件',
    'Error start event': '错误开始事件',
    'Escalation start event': '升级开始事件',
    'Compensation start event': '补偿开始事件',
    'Message start event (non-interrupting)': '消息开始事件' + NON_INTERRUPTING,
    'Timer start event (non-interrupting)': '定时开始事件' + NON_INTERRUPTING,
    'Conditional start event (non-interrupting)': '条件开始事件' + NON_INTERRUPTING,
    'Signal start event (non-interrupting)': '信号开始事件' + NON_INTERRUPTING,
    'Escalation start event (non-interrupting)': '升级开始事件' + NON_INTERRUPTING,
    'Message intermediate catch event': '消息中间捕获事件',
    'Message intermediate throw event': '消息中间抛出事件',
    'Timer intermediate catch event': '定时中间捕获事件',
    'Conditional intermediate catch event': '条件中间捕获事件',
    'Signal intermediate catch event': '信号中间捕获事件',
    'Signal intermediate throw event': '信号中间抛出事件',
    'Escalation intermediate throw event': '升级中间抛出事件',
    'Compensation intermediate throw event': '补偿中间抛出事件',
    'Link intermediate catch event': '链接中间捕获事件',
    'Link intermediate throw event': '链接中间抛出事件',
    'Message end event': '消息结束事件',
    'Error end event': '错误结束事件',
    'Escalation end event': '升级结束事件',
    'Cancel end event': '取消结束事件',
    'Compensation end event': '补偿结束事件',
    'Signal end event': '信号结束事件',
    'Boundary event': '边界事件',
    'Message boundary event': '边界消息事件',
    'Timer boundary event': '边界定时事件',
    'Conditional boundary event': '边界条件事件',
    'Signal boundary event': '边界信号事件',
    'Error boundary event': '边界错误事件',
    'Escalation boundary event': '边界升级事件',
    'Cancel boundary event': '边界取消事件',
    'Compensation boundary event': '边界补偿事件',
    'Message boundary event (non-interrupting)': '边界消息事件' + NON_INTERRUPTING,
    'Timer boundary event (non-interrupting)': '边界定时事件' + NON_INTERRUPTING,
    'Conditional boundary event (non-interrupting)': '边界条件事件' + NON_INTERRUPTING,
    'Signal boundary event (non-interrupting)': '边界信号事件' + NON_INTERRUPTING,
    'Escalation boundary event (non-interrupting)': '边界升级事件' + NON_INTERRUPTING,
    // replace menu: gateways, flows, data, pools
    'Exclusive gateway': '排他网关',
    'Parallel gateway': '并行网关',
    'Inclusive gateway': '包容网关',
    'Complex gateway': '复杂网关',
    'Event-based gateway': '事件网关',
    'Sequence flow': '顺序流',
    'Default flow': '默认路径',
    'Conditional flow': '条件路径',
    'Data object reference': '数据对象引用',
    'Data store reference': '数据存储引用',
    'Expanded pool/participant': '展开的池/参与者',
    'Empty pool/participant': '空的池/参与者',
    'Empty pool/participant (removes content)': '空的池/参与者（将移除其内容）',
    // replace menu header toggles
    'Loop': '循环',
    'Parallel multi-instance': '并行多实例',
    'Sequential multi-instance': '串行多实例',
    'Toggle non-interrupting': '切换中断/非中断',
    'Collection': '集合',
    'Participant multiplicity': '多实例参与者',
    // diagram search (Ctrl+F) and modeling hints
    'Search in diagram': '在图中搜索',
    'flow elements must be children of pools/participants': '流程元素必须放在池/参与者之内',
    'Data object must be placed within a pool/participant.': '数据对象必须放在池/参与者之内。',
  };

  const missing = new Set();
  // bpmn-js's translate contract: (template, replacements) → text, {name} replaced by replacements[name]
  function translate(template, replacements) {
    const values = replacements || {};
    let text = template;
    if (Object.prototype.hasOwnProperty.call(ZH, template)) {
      text = ZH[template];
    } else if (typeof template === 'string') {
      missing.add(template);
    }
    return String(text).replace(/{([^}]+)}/g, (whole, key) => (key in values ? values[key] : whole));
  }

  // texts the popup menu writes without translate()
  const ATTRIBUTE_TEXTS = {
    'Back': '返回', 'Search': '搜索', 'Results': '结果', 'Open entry documentation': '打开说明文档',
  };
  const COUNTED = /^找到 \d+ 项$/;
  function fixPopupTexts(root) {
    root.querySelectorAll('.djs-popup [title], .djs-popup [aria-label]').forEach((el) => {
      ['title', 'aria-label'].forEach((name) => {
        const value = el.getAttribute(name);
        if (value && ATTRIBUTE_TEXTS[value]) { el.setAttribute(name, ATTRIBUTE_TEXTS[value]); }
      });
    });
    // "3 results found" while searching: the popup (preact) keeps updating the same text nodes ("3", "results",
    // " found") as the search changes, so they are rewritten in place whenever they hold anything but our text
    root.querySelectorAll('.djs-popup-search-count').forEach((el) => {
      const text = el.textContent.trim();
      const count = /\d+/.exec(text);
      if (!count || COUNTED.test(text)) { return; }
      const nodes = Array.from(el.childNodes).filter((n) => n.nodeType === Node.TEXT_NODE);
      nodes.forEach((node, i) => { node.data = i === 0 ? '找到 ' + count[0] + ' 项' : ''; });
    });
  }
  function watchPopups(container) {
    const target = container || document.body;
    let scheduled = false;
    const observer = new MutationObserver(() => {
      if (scheduled) { return; }
      scheduled = true;
      Promise.resolve().then(() => { scheduled = false; fixPopupTexts(target); });
    });
    observer.observe(target, { childList: true, subtree: true, characterData: true, attributes: true,
      attributeFilter: ['title', 'aria-label'] });
  }

  window.modelerZh = {
    module: { translate: ['value', translate] },
    translate,
    dictionary: ZH,
    missing: () => Array.from(missing),
    watchPopups,
  };
})();
