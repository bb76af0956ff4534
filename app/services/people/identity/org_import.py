"""Organisation import from a CSV or Excel file (the fallback when there is no LDAP):
columns 部门代码, 部门名称, 用户名, 姓名, 角色, 邮箱, 手机."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from openpyxl import load_workbook

from ....models import Role
from ....models.org import ROLE_LABELS
from ...errors import ValidationFailed
from . import orgsync

COLUMNS = ("部门代码", "部门名称", "用户名", "姓名", "角色", "邮箱", "手机")
REQUIRED = ("部门代码", "用户名", "姓名")
MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
ROLE_NAMES = {**{r.value: r.value for r in Role}, **{label: r.value for r, label in ROLE_LABELS.items()},
              "部门负责人": Role.dept_head.value}
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,60}$")
CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def _rows(path: Path) -> list[list[str]]:
    if path.stat().st_size > MAX_BYTES:
        raise ValidationFailed({"file": "文件过大（最大 20 MB）"}, message="文件过大（最大 20 MB）")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise ValidationFailed({"file": "无法读取 Excel 文件"}, message=f"无法读取 Excel 文件：{exc}") from exc
        ws = wb.worksheets[0]
        rows = [["" if v is None else str(v).strip() for v in row]
                for row in ws.iter_rows(values_only=True, max_row=MAX_ROWS + 2)]
        wb.close()
        return rows
    if suffix != ".csv":
        raise ValidationFailed({"file": "只支持 .csv 和 .xlsx 文件"}, message="只支持 .csv 和 .xlsx 文件")
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationFailed({"file": "无法识别文件编码"}, message="无法识别文件编码（请保存为 UTF-8 或 GBK）")
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]


def parse(path: Path) -> tuple[list[orgsync.DeptRecord], list[orgsync.PersonRecord], list[str]]:
    """Departments, people and the per-row errors (in Chinese) of the file."""
    rows = [r for r in _rows(path) if any(r)]
    if not rows:
        raise ValidationFailed({"file": "文件是空的"}, message="文件是空的")
    header = rows[0]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        message = f"缺少列：{'、'.join(missing)}（第一行应为：{'，'.join(COLUMNS)}）"
        raise ValidationFailed({"file": message}, message=message)
    if len(rows) > MAX_ROWS + 1:
        raise ValidationFailed({"file": f"行数过多（最多 {MAX_ROWS} 行）"}, message=f"行数过多（最多 {MAX_ROWS} 行）")
    index = {name: header.index(name) for name in COLUMNS if name in header}
    depts: dict[str, orgsync.DeptRecord] = {}
    people: list[orgsync.PersonRecord] = []
    errors: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        def cell(name: str, row: list[str] = row) -> str:
            i = index.get(name)
            return row[i] if i is not None and i < len(row) else ""

        where = f"第 {number} 行"
        code, dept_name, username, name = cell("部门代码"), cell("部门名称"), cell("用户名"), cell("姓名")
        problems = []
        if not CODE.match(code):
            problems.append("部门代码为空或含有非法字符（只允许字母、数字、_ . -，最长 40）")
        if len(dept_name) > 100:
            problems.append("部门名称过长（最长 100）")
        if not USERNAME.match(username):
            problems.append("用户名为空或含有非法字符（只允许字母、数字、_ . @ -，最长 60）")
        if not name or len(name) > 60 or not name.isprintable():
            problems.append("姓名为空、过长（最长 60）或含有控制字符")
        roles: set[str] = set()
        for part in filter(None, re.split(r"[,，;；、/\s]+", cell("角色"))):
            if part not in ROLE_NAMES:
                problems.append(f"未知角色“{part[:20]}”")
            elif ROLE_NAMES[part] == Role.admin.value:
                problems.append("不能通过导入授予系统管理员角色")
            else:
                roles.add(ROLE_NAMES[part])
        email, phone = cell("邮箱"), cell("手机")
        if email and (len(email) > 120 or "@" not in email or any(c.isspace() for c in email)):
            problems.append("邮箱格式不正确")
        if phone and not re.fullmatch(r"[0-9+\- ]{3,30}", phone):
            problems.append("手机号码格式不正确")
        if code in depts and dept_name and depts[code].name != dept_name:
            problems.append(f"部门 {code} 的名称与前面的行不一致")
        if problems:
            errors.append(f"{where}：" + "；".join(problems))
            continue
        if code not in depts or (dept_name and not depts[code].name):
            depts[code] = orgsync.DeptRecord(code=code, name=dept_name)
        people.append(orgsync.PersonRecord(username=username, display_name=name, department=code, email=email,
                                           phone=phone, roles=roles or None, row=where))
    return list(depts.values()), people, errors


def import_file(path: str | Path, dry_run: bool = False) -> orgsync.SyncReport:
    """Apply the file: departments created/renamed, users created/updated; users this import created earlier in the
    departments of the file who are no longer in it are deactivated (not when a row is in error). An administrator
    is never deactivated, never loses the admin role and cannot be made one by a file."""
    depts, people, errors = parse(Path(path))
    # a row in error might be someone still there: with any row error nobody is deactivated
    scope = set() if errors else {d.code for d in depts}
    report = orgsync.apply([d for d in depts if d.name], people, source="import", dry_run=dry_run,
                           default_role=Role.handler.value, update_local=True, deactivate_scope=scope, errors=errors)
    if errors:
        report.skipped.append("文件中有错误行，本次不停用任何用户")
    return report
