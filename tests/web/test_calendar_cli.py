"""`flask calendar due/show/import` against the real database."""
from __future__ import annotations


def test_calendar_due_and_show(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["calendar", "due", "2025-09-30T10:00", "5"])
    assert result.exit_code == 0 and result.output.strip() == "2025-10-14T17:30:00+08:00"
    result = runner.invoke(args=["calendar", "due", "2026-12-31T10:00", "1"])
    assert "2027-01-04T17:30:00+08:00" in result.output and "暂定" in result.output
    result = runner.invoke(args=["calendar", "show", "2026"])
    assert "内置数据" in result.output and "2026-02-14(春节)" in result.output and "2026-10-01(国庆节)" in result.output
    assert "暂定" in runner.invoke(args=["calendar", "show", "2027"]).output


def test_calendar_import_rejects_bad_files_and_loads_good_ones(app, tmp_path):
    from ..conftest import wipe

    runner = app.test_cli_runner()
    bad = tmp_path / "bad.txt"
    bad.write_text("2027-02-30 春节 休\n", encoding="utf-8")
    result = runner.invoke(args=["calendar", "import", "2027", str(bad)])
    assert result.exit_code != 0 and "第 1 行日期无效" in result.output
    good = tmp_path / "2027.txt"
    good.write_text("2027-01-01~2027-01-03 元旦 休\n2027-02-05~2027-02-11 春节 休\n2027-02-20 春节 班\n",
                    encoding="utf-8")
    try:
        result = runner.invoke(args=["calendar", "import", "2027", str(good)])
        assert result.exit_code == 0, result.output
        assert "放假 10 天，调休上班 1 天" in result.output
        result = runner.invoke(args=["calendar", "due", "2027-02-19T10:00", "1"])
        assert result.output.strip() == "2027-02-20T17:30:00+08:00"
    finally:
        wipe(app)
