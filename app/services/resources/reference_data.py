"""Reference data from the policy: departments and the 11 data domains of Attachment 3."""
from __future__ import annotations

NIC = "nic"
CAC_OFFICE = "cac_office"

DEPARTMENTS: list[tuple[str, str]] = [
    (NIC, "网络与信息中心"), (CAC_OFFICE, "网络安全与信息化领导小组办公室"),
    ("school_office", "学校办公室"), ("org_dept", "党委组织部"), ("hr", "人事处"), ("planning", "发展规划处"),
    ("publicity", "党委宣传部"), ("united_front", "党委统战部"), ("finance", "财务处"), ("retirement", "离退办"),
    ("international", "国际合作处"), ("logistics", "后勤管理处"), ("library", "图书馆"), ("high_school", "附中"),
    ("higher_ed", "高等教育研究所"), ("academic", "教务处"), ("graduate", "研究生院"),
    ("intl_edu", "国际教育学院"), ("career", "就业指导中心"), ("student", "学生处"), ("youth_league", "团委"),
    ("continuing_ed", "继续教育学院"), ("science", "科学技术处"), ("assets", "国有资产管理处"),
    ("lab", "实验室管理处"), ("discipline", "学科建设与学位办公室"), ("infrastructure", "基建规划处"),
    ("tender", "招标中心"), ("archives", "档案馆"), ("alumni", "校友会"), ("hospital", "校医院"),
    ("security", "保卫处"), ("college_cs", "计算机与通信学院"), ("college_me", "机电工程学院"),
]

DOMAINS: list[tuple[int, str, str]] = [
    (1, "组织机构域", "学校办公室、党委组织部、人事处、发展规划处等"),
    (2, "人力资源域", "人事处、党委组织部、党委宣传部、党委统战部、财务处、离退办、国际合作处、后勤管理处、"
                     "图书馆、附中、高等教育研究所、各学院等"),
    (3, "学生管理域", "教务处、研究生院、国际教育学院、高等教育研究所、就业指导中心、学生处、团委、财务处、"
                     "后勤管理处、图书馆、继续教育学院、各学院等"),
    (4, "教学资源与管理域", "教务处、研究生院、国际教育学院、继续教育学院、各学院等"),
    (5, "科研管理域", "科学技术处、人事处、财务处、国有资产管理处、实验室管理处、各学院等"),
    (6, "学科管理域", "学科建设与学位办公室、教务处、研究生院、高等教育研究所、各学院等"),
    (7, "财务资产域", "财务处、国有资产管理处、实验室管理处、基建规划处、后勤管理处、招标中心等"),
    (8, "数字档案域", "档案馆、人事处、教务处、研究生院、党委组织部、学校办公室、校友会、发展规划处、科学技术处、"
                     "校医院等"),
    (9, "个人信息域", "人事处、党委组织部、科学技术处、网络与信息中心、教务处、研究生院、就业指导中心等"),
    (10, "公共服务域", "网络与信息中心、国有资产管理处、实验室管理处、图书馆、财务处、校医院、保卫处等"),
    (11, "系统数据域", "网络与信息中心等"),
]


def _f(*pairs: str) -> list[dict[str, str]]:
    return [{"name": n, "label": lbl} for n, lbl in (p.split(":") for p in pairs)]


# code, name, domain, owner, share class, fields, description
DEMO_RESOURCES = [
    ("student_basic", "学生基本信息", 3, "student", "conditional",
     _f("xh:学号", "xm:姓名", "xb:性别", "xy:学院", "zy:专业", "bj:班级", "sfzh:身份证号", "sjh:手机号"),
     "在校本科生基本信息"),
    ("staff_basic", "教职工基本信息", 2, "hr", "conditional",
     _f("gh:工号", "xm:姓名", "bm:所在部门", "zc:职称", "sjh:手机号", "sfzh:身份证号"), "在职教职工基本信息"),
    ("course_schedule", "课程表", 4, "academic", "unconditional",
     _f("kch:课程号", "kcm:课程名", "skjs:授课教师", "sksj:上课时间", "skdd:上课地点"), "本学期课程安排"),
    ("org_units", "组织机构信息", 1, "school_office", "unconditional",
     _f("jgdm:机构代码", "jgmc:机构名称", "sjjg:上级机构"), "学校各级组织机构名称与代码"),
    ("salary_detail", "教职工工资明细", 7, "finance", "not_shared",
     _f("gh:工号", "yf:月份", "yfgz:应发工资", "sfgz:实发工资"), "涉及个人隐私，不共享"),
    ("research_projects", "科研项目信息", 5, "science", "conditional",
     _f("xmbh:项目编号", "xmmc:项目名称", "fzr:负责人", "jf:经费", "zt:状态"), "纵向与横向科研项目"),
    ("library_loans", "图书借阅记录", 10, "library", "conditional",
     _f("dzzh:读者证号", "tsmc:图书名称", "jysj:借阅时间", "ghsj:归还时间"), "读者借阅流水"),
    ("sso_accounts", "统一身份认证账号", 11, NIC, "unconditional",
     _f("zh:账号", "xm:姓名", "lx:账号类型", "zt:状态"), "统一身份认证平台账号信息"),
]

# username, display name, department, roles
DEMO_USERS = [
    ("cs_handler", "王经办", "college_cs", "handler"),
    ("cs_head", "李主任", "college_cs", "dept_head"),
    ("me_handler", "赵经办", "college_me", "handler"),
    ("student_head", "张处长（学生处）", "student", "dept_head"),
    ("hr_head", "刘处长（人事处）", "hr", "dept_head"),
    ("academic_head", "陈处长（教务处）", "academic", "dept_head"),
    ("science_head", "杨处长（科技处）", "science", "dept_head"),
    ("library_head", "周馆长（图书馆）", "library", "dept_head"),
    ("finance_head", "吴处长（财务处）", "finance", "dept_head"),
    ("nic_staff", "孙工程师（网信中心）", NIC, "nic_reviewer,handler"),
    ("nic_head", "郑主任（网信中心）", NIC, "nic_head,dept_head"),
    ("cac", "冯主任（网信办）", CAC_OFFICE, "cac_office"),
    ("supervisor", "督办员", "school_office", "supervisor"),
    ("admin", "系统管理员", NIC, "admin"),
]
DEMO_PASSWORD = "demo12345"  # noqa: S105 - printed by seed-demo, demo data only
