"""Generate bpmn/share_request.bpmn (process + diagram layout) from a compact description.

The .bpmn file is the source of truth once administrators edit it; this script only produced the first version.
Run: python tools/layout_bpmn.py > bpmn/share_request.bpmn
"""
from __future__ import annotations

from xml.sax.saxutils import escape

LANES = [("lane_applicant", "申请部门"), ("lane_nic", "网信中心"), ("lane_provider", "数据提供部门"),
         ("lane_cac", "网信办")]
LANE_H, COL_W, X0, Y0 = 200, 130, 200, 80

# id, kind, name, lane index, column, row offset (-1 top, 0 middle, 1 bottom), extras
NODES = [
    ("start", "startEvent", "提出申请", 0, 0, 0, {}),
    ("fill_application", "userTask", "填写申请表并接受保密协议", 0, 1, 0,
     {"formKey": "share_application", "candidateRoles": "handler", "department": "applicant_department",
      "resultVariable": "application"}),
    ("gw_fill", "exclusiveGateway", "提交或撤回？", 0, 2, 0, {}),
    ("end_withdrawn", "endEvent", "申请已撤回", 0, 2, 1, {}),
    ("dept_head_sign", "userTask", "部门负责人签署承诺", 0, 3, 0,
     {"formKey": "dept_head_commitment", "candidateRoles": "dept_head", "department": "applicant_department",
      "resultVariable": "dept_head_opinion"}),
    ("gw_head", "exclusiveGateway", "负责人意见", 0, 4, 0, {}),
    ("nic_review", "userTask", "网信中心审核", 1, 5, 0,
     {"formKey": "nic_review", "candidateRoles": "nic_head", "department": "'nic'",
      "resultVariable": "nic_opinion"}),
    ("gw_nic", "exclusiveGateway", "网信中心意见", 1, 6, 0, {}),
    ("determine_providers", "scriptTask", "确定数据提供部门", 1, 7, 0, {}),
    ("gw_class", "exclusiveGateway", "含有条件共享资源？", 1, 8, 0, {}),
    ("provider_review", "userTask", "数据提供部门审核（5个工作日内答复）", 2, 9, 0,
     {"formKey": "provider_review", "candidateRoles": "dept_head", "department": "provider_department",
      "resultVariable": "provider_opinion"}),
    ("gw_providers", "exclusiveGateway", "各提供部门均同意？", 2, 10, 0, {}),
    ("handle_refusal", "userTask", "申请部门处理不予提供意见", 0, 11, 0,
     {"formKey": "refusal_response", "candidateRoles": "handler", "department": "applicant_department",
      "resultVariable": "refusal_response"}),
    ("gw_refusal", "exclusiveGateway", "修改、异议或撤回？", 0, 12, 0, {}),
    ("nic_coordinate", "userTask", "网信中心协调处理", 1, 13, 0,
     {"formKey": "nic_coordination", "candidateRoles": "nic_head", "department": "'nic'",
      "resultVariable": "nic_coordination"}),
    ("gw_coord", "exclusiveGateway", "协调结论", 1, 14, 0, {}),
    ("cac_decide", "userTask", "网信办决定", 3, 15, 0,
     {"formKey": "cac_decision", "candidateRoles": "cac_office", "department": "'cac_office'",
      "resultVariable": "cac_decision"}),
    ("gw_cac", "exclusiveGateway", "网信办决定", 3, 16, 0, {}),
    ("end_refused", "endEvent", "不予提供", 3, 17, 0, {}),
    ("deliver", "userTask", "网信中心提供数据", 1, 17, 0,
     {"formKey": "data_delivery", "candidateRoles": "nic_reviewer", "department": "'nic'",
      "resultVariable": "delivery"}),
    ("end_delivered", "endEvent", "数据已提供", 1, 18, 0, {}),
]

# id, source, target, name, condition (None = unconditional / default)
FLOWS = [
    ("f_start", "start", "fill_application", None, None),
    ("f_fill", "fill_application", "gw_fill", None, None),
    ("f_fill_withdraw", "gw_fill", "end_withdrawn", "撤回", "application.get('action') == 'withdraw'"),
    ("f_fill_submit", "gw_fill", "dept_head_sign", "提交", "default"),
    ("f_head", "dept_head_sign", "gw_head", None, None),
    ("f_head_return", "gw_head", "fill_application", "退回修改", "dept_head_opinion['decision'] != 'approve'"),
    ("f_head_ok", "gw_head", "nic_review", "同意", "default"),
    ("f_nic", "nic_review", "gw_nic", None, None),
    ("f_nic_return", "gw_nic", "fill_application", "退回", "nic_opinion['decision'] != 'approve'"),
    ("f_nic_ok", "gw_nic", "determine_providers", "同意", "default"),
    ("f_det", "determine_providers", "gw_class", None, None),
    ("f_class_cond", "gw_class", "provider_review", "有条件共享", "len(provider_departments) > 0"),
    ("f_class_open", "gw_class", "deliver", "普遍共享", "default"),
    ("f_prov", "provider_review", "gw_providers", None, None),
    ("f_prov_refused", "gw_providers", "handle_refusal", "有部门不予提供",
     "any(o['decision'] != 'approve' for o in provider_opinions)"),
    ("f_prov_ok", "gw_providers", "deliver", "均同意", "default"),
    ("f_ref", "handle_refusal", "gw_refusal", None, None),
    ("f_ref_revise", "gw_refusal", "fill_application", "修改申请", "refusal_response['action'] == 'revise'"),
    ("f_ref_object", "gw_refusal", "nic_coordinate", "提出异议", "refusal_response['action'] == 'object'"),
    ("f_ref_withdraw", "gw_refusal", "end_withdrawn", "撤回", "default"),
    ("f_coord", "nic_coordinate", "gw_coord", None, None),
    ("f_coord_provide", "gw_coord", "deliver", "予以提供", "nic_coordination['conclusion'] == 'provide'"),
    ("f_coord_refer", "gw_coord", "cac_decide", "报请网信办决定", "nic_coordination['conclusion'] == 'refer'"),
    ("f_coord_uphold", "gw_coord", "end_refused", "维持不予提供", "default"),
    ("f_cac", "cac_decide", "gw_cac", None, None),
    ("f_cac_provide", "gw_cac", "deliver", "予以提供", "cac_decision['decision'] == 'provide'"),
    ("f_cac_refuse", "gw_cac", "end_refused", "不予提供", "default"),
    ("f_deliver", "deliver", "end_delivered", None, None),
]

SCRIPT = """provider_departments = sorted({r['owner_department'] for r in application['resources'] if r['share_class'] == 'conditional'})
provider_opinions = []"""

SIZES = {"startEvent": (36, 36), "endEvent": (36, 36), "exclusiveGateway": (50, 50), "userTask": (110, 80),
         "scriptTask": (110, 80)}


def bounds(node):
    _id, kind, _name, lane, col, row, _ = node
    w, h = SIZES[kind]
    cx = X0 + col * COL_W + 55
    cy = Y0 + lane * LANE_H + LANE_H // 2 + row * 62
    return cx - w // 2, cy - h // 2, w, h


def main() -> None:
    by_id = {n[0]: n for n in NODES}
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for fid, s, t, _n, _c in FLOWS:
        outgoing.setdefault(s, []).append(fid)
        incoming.setdefault(t, []).append(fid)
    defaults = {s: fid for fid, s, _t, _n, c in FLOWS if c == "default"}
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
           'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
           'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="share_request_definitions" '
           'targetNamespace="http://lut.edu.cn/data-sharing" exporter="layout_bpmn.py" exporterVersion="1">',
           '  <bpmn:collaboration id="share_collaboration">',
           '    <bpmn:participant id="share_participant" name="信息化数据资源共享申请（第二十二条）" '
           'processRef="share_request" />',
           '  </bpmn:collaboration>',
           '  <bpmn:process id="share_request" name="信息化数据资源共享申请" isExecutable="true">',
           '    <bpmn:laneSet id="share_lanes">']
    for i, (lid, lname) in enumerate(LANES):
        out.append(f'      <bpmn:lane id="{lid}" name="{lname}">')
        out += [f'        <bpmn:flowNodeRef>{n[0]}</bpmn:flowNodeRef>' for n in NODES if n[3] == i]
        out.append('      </bpmn:lane>')
    out.append('    </bpmn:laneSet>')
    for nid, kind, name, _lane, _c, _r, props in NODES:
        attrs = f' id="{nid}" name="{escape(name)}"'
        if nid in defaults:
            attrs += f' default="{defaults[nid]}"'
        out.append(f'    <bpmn:{kind}{attrs}>')
        if props:
            out.append('      <bpmn:extensionElements>')
            out.append('        <spiffworkflow:properties>')
            out += [f'          <spiffworkflow:property name="{k}" value="{escape(v, {chr(34): "&quot;"})}" />'
                    for k, v in props.items()]
            out.append('        </spiffworkflow:properties>')
            out.append('      </bpmn:extensionElements>')
        out += [f'      <bpmn:incoming>{f}</bpmn:incoming>' for f in incoming.get(nid, [])]
        out += [f'      <bpmn:outgoing>{f}</bpmn:outgoing>' for f in outgoing.get(nid, [])]
        if nid == "provider_review":
            out += ['      <bpmn:multiInstanceLoopCharacteristics>',
                    '        <bpmn:loopDataInputRef>provider_departments</bpmn:loopDataInputRef>',
                    '        <bpmn:loopDataOutputRef>provider_opinions</bpmn:loopDataOutputRef>',
                    '        <bpmn:inputDataItem id="provider_department" name="provider_department" />',
                    '        <bpmn:outputDataItem id="provider_opinion" name="provider_opinion" />',
                    '      </bpmn:multiInstanceLoopCharacteristics>']
        if kind == "scriptTask":
            out.append(f'      <bpmn:script>{escape(SCRIPT)}</bpmn:script>')
        out.append(f'    </bpmn:{kind}>')
    for fid, s, t, name, cond in FLOWS:
        nm = f' name="{escape(name)}"' if name else ""
        if cond and cond != "default":
            out.append(f'    <bpmn:sequenceFlow id="{fid}"{nm} sourceRef="{s}" targetRef="{t}">')
            out.append(f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(cond)}'
                       '</bpmn:conditionExpression>')
            out.append('    </bpmn:sequenceFlow>')
        else:
            out.append(f'    <bpmn:sequenceFlow id="{fid}"{nm} sourceRef="{s}" targetRef="{t}" />')
    out.append('  </bpmn:process>')
    out.append('  <bpmndi:BPMNDiagram id="share_diagram">')
    out.append('    <bpmndi:BPMNPlane id="share_plane" bpmnElement="share_collaboration">')
    width = 19 * COL_W + 80
    out.append(f'      <bpmndi:BPMNShape id="share_participant_di" bpmnElement="share_participant" isHorizontal="true">'
               f'<dc:Bounds x="{X0 - 80}" y="{Y0}" width="{width + 80}" height="{LANE_H * len(LANES)}" />'
               '</bpmndi:BPMNShape>')
    for i, (lid, _n) in enumerate(LANES):
        out.append(f'      <bpmndi:BPMNShape id="{lid}_di" bpmnElement="{lid}" isHorizontal="true">'
                   f'<dc:Bounds x="{X0 - 50}" y="{Y0 + i * LANE_H}" width="{width + 50}" height="{LANE_H}" />'
                   '</bpmndi:BPMNShape>')
    for n in NODES:
        x, y, w, h = bounds(n)
        out.append(f'      <bpmndi:BPMNShape id="{n[0]}_di" bpmnElement="{n[0]}">'
                   f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}" />'
                   + (f'<bpmndi:BPMNLabel><dc:Bounds x="{x - 20}" y="{y + h + 4}" width="{w + 40}" height="14" />'
                      '</bpmndi:BPMNLabel>' if n[1] != "userTask" and n[1] != "scriptTask" else "")
                   + '</bpmndi:BPMNShape>')
    for fid, s, t, name, _c in FLOWS:
        sx, sy, sw, sh = bounds(by_id[s])
        tx, ty, tw, th = bounds(by_id[t])
        if tx > sx:
            a = (sx + sw, sy + sh // 2)
            b = (tx, ty + th // 2)
            mid = (a[0] + b[0]) // 2 if a[1] != b[1] else a[0]
            pts = [a, (mid, a[1]), (mid, b[1]), b] if a[1] != b[1] else [a, b]
            if a[1] != b[1] and by_id[s][1] == "exclusiveGateway":
                pts = [(sx + sw // 2, sy + (sh if b[1] > a[1] else 0)), (sx + sw // 2, b[1]), b]
        elif tx == sx:
            pts = [(sx + sw // 2, sy + sh), (tx + tw // 2, ty)]
        else:
            lane_bottom = Y0 + by_id[s][3] * LANE_H + (15 if by_id[t][3] >= by_id[s][3] else 15)
            top = min(sy, ty) - 30 if by_id[t][3] == by_id[s][3] else lane_bottom
            pts = [(sx + sw // 2, sy), (sx + sw // 2, top), (tx + tw // 2, top), (tx + tw // 2, ty)]
        out.append(f'      <bpmndi:BPMNEdge id="{fid}_di" bpmnElement="{fid}">'
                   + "".join(f'<di:waypoint x="{x}" y="{y}" />' for x, y in pts)
                   + '</bpmndi:BPMNEdge>')
    out.append('    </bpmndi:BPMNPlane>')
    out.append('  </bpmndi:BPMNDiagram>')
    out.append('</bpmn:definitions>')
    print("\n".join(out))


if __name__ == "__main__":
    main()
