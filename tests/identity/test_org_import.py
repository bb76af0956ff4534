"""flask org import FILE [--dry-run]: CSV (UTF-8 or GBK) and Excel, per-row errors in Chinese, never an admin."""
from __future__ import annotations

from openpyxl import Workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Department, User

HEADER = "部门代码,部门名称,用户名,姓名,角色,邮箱,手机\n"


def _users(app):
    with app.app_context():
        return {u.username: (u.display_name, u.department.code, u.roles, u.active, u.auth_source)
                for u in db.session.scalars(select(User).where(User.username.like("id_%")))}


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["org", "import", *map(str, args)])


def test_csv_dry_run_then_import_then_deactivate(app, tmp_path):
    f = tmp_path / "org.csv"
    f.write_text(HEADER + "idt_law,测试法学院,id_a,张三,经办人,a@lut.edu.cn,13900000000\n"
                 "idt_law,测试法学院,id_b,李四,\"部门负责人,handler\",,\n", encoding="utf-8")
    dry = _run(app, f, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "新建部门 idt_law 测试法学院" in dry.output and "新建用户 id_a 张三" in dry.output
    assert "试运行" in dry.output and _users(app) == {}
    done = _run(app, f)
    assert done.exit_code == 0, done.output
    assert _users(app) == {"id_a": ("张三", "idt_law", {"handler"}, True, "import"),
                           "id_b": ("李四", "idt_law", {"dept_head", "handler"}, True, "import")}
    with app.app_context():  # id_b becomes an administrator here; the next file leaves both out
        db.session.scalar(select(User).where(User.username == "id_b")).roles_csv = "admin"
        db.session.commit()
    f.write_text(HEADER + "idt_law,测试法学院,id_c,王五,,,\n", encoding="utf-8")
    preview = _run(app, f, "--dry-run")
    assert "停用用户 id_a 张三" in preview.output and "id_b（系统管理员，不停用）" in preview.output
    _run(app, f)
    users = _users(app)
    assert users["id_a"][3] is False and users["id_b"][3] is True and users["id_c"][3] is True


def test_row_errors_in_chinese_and_nothing_deactivated(app, tmp_path):
    f = tmp_path / "org.csv"
    f.write_text(HEADER + "idt_law,测试法学院,id_a,张三,,,\n", encoding="utf-8")
    _run(app, f)
    f.write_text(HEADER + "idt_law,测试法学院,id_x,,,,\n"  # no name
                 "idt_law,测试法学院,bad name!,某人,,,\n"
                 "idt_law,测试法学院,id_y,某人,超级用户,,\n"
                 "idt_law,测试法学院,id_z,某人,admin,,\n"
                 "no_such,,id_w,某人,,not-an-email,\n", encoding="utf-8")
    result = _run(app, f)
    assert result.exit_code == 1
    for text in ("第 2 行：姓名为空", "第 3 行：用户名为空或含有非法字符", "第 4 行：未知角色“超级用户”",
                 "第 5 行：不能通过导入授予系统管理员角色", "第 6 行：邮箱格式不正确", "本次不停用任何用户"):
        assert text in result.output, text
    assert _users(app)["id_a"][3] is True  # a file with errors deactivates nobody
    assert set(_users(app)) == {"id_a"}


def test_excel_gbk_csv_and_existing_local_user(app, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["部门代码", "部门名称", "用户名", "姓名", "角色", "邮箱", "手机"])
    ws.append(["idt_med", "测试医学院", "id_e", "钱七", "dept_head", None, 13800001111])
    ws.append(["college_cs", None, "cs_handler", "张经办（改名）", None, None, None])  # an existing local account
    wb.save(tmp_path / "org.xlsx")
    result = _run(app, tmp_path / "org.xlsx")
    assert result.exit_code == 0, result.output
    assert _users(app)["id_e"] == ("钱七", "idt_med", {"dept_head"}, True, "import")
    with app.app_context():
        local = db.session.scalar(select(User).where(User.username == "cs_handler"))
        assert local.display_name == "张经办（改名）" and local.auth_source == "local"
        local.display_name = "王经办"
        db.session.commit()
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "idt_med,测试医学院,id_f,孙八,,,\n").encode("gb18030"))
    assert _run(app, gbk).exit_code == 0
    assert _users(app)["id_f"][0] == "孙八"


def test_bad_files_are_refused_cleanly(app, tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    (tmp_path / "bad.xlsx").write_bytes(b"not a workbook")
    (tmp_path / "nohead.csv").write_text("a,b,c\n1,2,3\n")
    for name, text in (("x.txt", "只支持"), ("bad.xlsx", "无法读取 Excel"), ("nohead.csv", "缺少列")):
        result = _run(app, tmp_path / name)
        assert result.exit_code == 1 and text in result.output, result.output
    with app.app_context():
        assert db.session.scalar(select(Department).where(Department.code.like("idt_%"))) is None
