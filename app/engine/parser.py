"""Parse and validate BPMN diagrams for deployment."""
from __future__ import annotations

import ast
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from . import sandbox

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

MAX_BPMN_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class BpmnProblem:
    """One problem found in a diagram: the element it concerns (if known) and the reason, in Chinese."""

    element_id: str | None
    reason: str


class BpmnInvalid(Exception):
    """The diagram cannot be deployed; `problems` lists every reason found."""

    def __init__(self, problems: list[BpmnProblem]):
        super().__init__("; ".join(f"{p.element_id or '-'}: {p.reason}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class ParsedProcess:
    process_id: str
    name: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]


def parse_bpmn(xml: bytes, file_name: str = "diagram.bpmn", known_form_keys: set[str] | None = None,
               known_roles: set[str] | None = None, known_departments: set[str] | None = None) -> ParsedProcess:
    """Validate and parse a diagram holding one executable process; raise BpmnInvalid with every problem.

    The known_* sets, when given, are checked too: form keys that exist in forms/, candidate roles that exist,
    literal departments that exist."""
    if len(xml) > MAX_BPMN_BYTES:
        raise BpmnInvalid([BpmnProblem(None, f"文件过大（{len(xml)} 字节，上限 {MAX_BPMN_BYTES} 字节）")])
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise BpmnInvalid([BpmnProblem(None, f"不是合法的 XML：{exc}")]) from exc
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise BpmnInvalid([BpmnProblem(None, "根元素不是 BPMN 2.0 的 definitions")])
    problems = _check_expressions(root, known_form_keys, known_roles, known_departments)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(root, filename=file_name)
        process_ids = parser.get_process_ids()
        executable = [p for p in process_ids if _is_executable(root, p)]
        if len(executable) != 1:
            raise BpmnInvalid([*problems, BpmnProblem(None, f"应当恰有一个可执行流程，实际 {len(executable)} 个")])
        process_id = executable[0]
        spec = parser.get_spec(process_id)
        subprocesses = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise BpmnInvalid([*problems, BpmnProblem(getattr(exc, "id", None), _reason(exc))]) from exc
    if not any(el.tag == f"{{{BPMN_NS}}}startEvent" for el in root.iter()):
        problems.append(BpmnProblem(process_id, "流程没有开始事件"))
    if problems:
        raise BpmnInvalid(problems)
    return ParsedProcess(process_id, spec.description or process_id, spec, subprocesses)


def _is_executable(root: etree._Element, process_id: str) -> bool:
    for el in root.iter(f"{{{BPMN_NS}}}process"):
        if el.get("id") == process_id:
            return el.get("isExecutable", "false") == "true"
    return False


_TRANSLATIONS = {
    "There is no support implemented for this task type": "本系统的流程引擎不支持这种 BPMN 元素",
    "No start event found": "流程没有开始事件",
    "A multiinstance task must specify a cardinality or a loop input data reference":
        "多实例任务必须指定循环输入集合（loopDataInputRef）或次数",
}


def _reason(exc: ValidationException) -> str:
    msg = str(getattr(exc, "msg", None) or exc)
    first = msg.splitlines()[0].strip() if msg else type(exc).__name__
    for english, chinese in _TRANSLATIONS.items():
        if english in first:
            return f"{chinese}（{first.rstrip('. ')}）"
    return f"流程定义校验失败：{first}"


def _check_expressions(root: etree._Element, known_form_keys: set[str] | None, known_roles: set[str] | None,
                       known_departments: set[str] | None) -> list[BpmnProblem]:
    """Every piece of diagram code (conditions, scripts, pre/post scripts, timers, multi-instance expressions,
    department expressions) against the sandbox's rules; form keys, roles, departments and lanes that resolve."""
    problems: list[BpmnProblem] = []
    in_lane = {ref.text.strip() for ref in root.iter(f"{{{BPMN_NS}}}flowNodeRef") if ref.text}
    has_lanes = any(True for _ in root.iter(f"{{{BPMN_NS}}}lane"))
    for el in root.iter(f"{{{BPMN_NS}}}conditionExpression"):
        flow = el.getparent()
        problems += _syntax(flow.get("id"), el.text or "", "eval", "条件表达式")
    for el in root.iter(f"{{{BPMN_NS}}}script"):
        problems += _syntax(el.getparent().get("id"), el.text or "", "exec", "脚本")
    for kind, what in (("preScript", "前置脚本"), ("postScript", "后置脚本")):
        for el in root.iter(f"{{{SPIFF_NS}}}{kind}"):
            problems += _syntax(_owner_id(el), el.text or "", "exec", what)
    for kind in ("completionCondition", "loopCardinality"):
        for el in root.iter(f"{{{BPMN_NS}}}{kind}"):
            problems += _syntax(_owner_id(el), el.text or "", "eval", "多实例表达式")
    for kind in ("timeDate", "timeDuration", "timeCycle"):
        for el in root.iter(f"{{{BPMN_NS}}}{kind}"):
            event = el.getparent().getparent()
            problems += _syntax(event.get("id"), el.text or "", "eval", "定时器表达式")
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        props = {p.get("name"): p.get("value") for p in task.iter(f"{{{SPIFF_NS}}}property")}
        tid = task.get("id")
        for required in ("formKey", "candidateRoles", "department"):
            if not props.get(required):
                problems.append(BpmnProblem(tid, f"用户任务缺少扩展属性 {required}"))
        if props.get("department"):
            problems += _syntax(tid, props["department"], "eval", "部门表达式")
        key = props.get("formKey")
        if key and known_form_keys is not None and key not in known_form_keys:
            problems.append(BpmnProblem(tid, f"表单 {key} 不存在（请先在「表单管理」中新建或导入）"))
        roles = [r.strip() for r in (props.get("candidateRoles") or "").split(",") if r.strip()]
        unknown = [r for r in roles if known_roles is not None and r not in known_roles]
        if unknown:
            problems.append(BpmnProblem(tid, f"候选角色不存在：{'、'.join(unknown)}"))
        literal = _literal(props.get("department") or "")
        if literal is not None and known_departments is not None and literal not in known_departments:
            problems.append(BpmnProblem(tid, f"部门 {literal} 不存在"))
        if has_lanes and tid not in in_lane:
            problems.append(BpmnProblem(tid, "用户任务不在任何泳道中"))
    return problems


def _literal(expression: str) -> str | None:
    """The department code when the expression is a plain string literal such as 'nic'."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _owner_id(el: etree._Element) -> str | None:
    """The id of the nearest enclosing element that has one (the task a pre-script or loop belongs to)."""
    while el is not None and not el.get("id"):
        el = el.getparent()
    return el.get("id") if el is not None else None


def _syntax(element_id: str | None, source: str, mode: str, what: str) -> list[BpmnProblem]:
    """The sandbox's verdict on one piece of diagram code: syntax, imports, `_` names, forbidden functions."""
    if not source.strip():
        return []
    try:
        ast.parse(source.strip(), mode=mode)
    except SyntaxError as exc:
        reason = sandbox.syntax_words(exc.msg)
        return [BpmnProblem(element_id, f"{what}有 Python 语法错误（第 {exc.lineno} 行）：{reason}")]
    return [BpmnProblem(element_id, f"{what}不能运行：{reason}") for reason in sandbox.problems(source, mode)]
