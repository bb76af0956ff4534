"""A share request reviewed by many providing departments at once, and threads that race on it."""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import time_machine
from sqlalchemy import delete, select

from app.extensions import db
from app.models import DataResource, Department, TaskRecord, User
from app.services.people import org
from app.services.workflow import requests, tasks

# departments that hold no demo user and no demo resource, so the extra heads change no other test's recipients
PROVIDER_DEPARTMENTS = ("org_dept", "planning", "publicity", "united_front", "retirement", "international",
                        "logistics", "high_school", "higher_ed", "graduate", "intl_edu", "career", "youth_league",
                        "continuing_ed", "assets", "lab", "discipline", "infrastructure", "tender", "archives",
                        "alumni", "hospital", "security")
APPLICATION = {"purpose": "并发审批测试：核对多个部门的数据", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}
APPROVE = {"decision": "approve", "opinion": "同意"}
PREFIX = "par_"


@dataclass
class Provider:
    department: str
    username: str
    user_id: int
    token: str = ""


@dataclass
class Fleet:
    providers: list[Provider]
    instance_id: int = 0
    task_ids: dict[str, int] = field(default_factory=dict)  # department code -> provider review task


def uid(username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))


def make_providers(count: int) -> list[Provider]:
    """One conditional resource and one 负责人 (with an API token) in each of `count` departments."""
    assert count <= len(PROVIDER_DEPARTMENTS)
    providers = []
    for code in PROVIDER_DEPARTMENTS[:count]:
        username = f"{PREFIX}{code}_head"
        user_id = uid(username) or org.create_user(username, f"{code} 负责人", code, ["dept_head"], "demo12345",
                                                   check_policy=False)
        if db.session.scalar(select(DataResource.id).where(DataResource.code == f"{PREFIX}{code}")) is None:
            dept = db.session.scalar(select(Department).where(Department.code == code))
            db.session.add(DataResource(code=f"{PREFIX}{code}", name=f"{dept.name}数据", domain_id=1,
                                        owner_department_id=dept.id, share_class="conditional",
                                        fields=[{"name": "bm", "label": "编码"}], description="并发测试"))
            db.session.commit()
        providers.append(Provider(code, username, user_id, org.issue_api_token(username)))
    return providers


def remove_providers() -> None:
    """Called after the runtime tables are wiped (the users are referenced from them)."""
    db.session.execute(delete(User).where(User.username.like(f"{PREFIX}%")))
    db.session.commit()


def forward_request(providers: list[Provider], at: datetime | None = None) -> Fleet:
    """Submit a request over every provider's resource and approve it up to the provider reviews (at `at`)."""
    catalogue = {r["code"]: r for r in requests.catalogue()}
    body = {**APPLICATION, "resources": [{"resource_id": catalogue[f"{PREFIX}{p.department}"]["id"], "fields": ["bm"]}
                                         for p in providers]}
    traveller = time_machine.travel(at, tick=False) if at is not None else None
    if traveller:
        traveller.start()
    try:
        rid = requests.submit_share_request(uid("cs_handler"), body)
        for username in ("cs_head", "nic_head"):
            user_id = uid(username)
            user = db.session.get(User, user_id)
            record = db.session.scalar(select(TaskRecord).where(
                TaskRecord.instance_id == rid, TaskRecord.state == "ready",
                TaskRecord.department_code == user.department.code))
            tasks.complete_task(record.id, user_id, {"decision": "approve"})
    finally:
        if traveller:
            traveller.stop()
    reviews = db.session.scalars(select(TaskRecord).where(
        TaskRecord.instance_id == rid, TaskRecord.state == "ready", TaskRecord.element_id == "provider_review")).all()
    assert sorted(r.department_code for r in reviews) == sorted(p.department for p in providers)
    return Fleet(providers, rid, {r.department_code: r.id for r in reviews})


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    started: float
    ended: float


def post_json(base_url: str, path: str, token: str, body: dict[str, Any]) -> Reply:
    """One real HTTP request on its own connection."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    started = time.perf_counter()
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    ended = time.perf_counter()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {"raw": raw[:500].decode(errors="replace")}
    return Reply(resp.status, parsed, started, ended)


def race(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job in its own thread, all released at the same moment by a barrier; results in job order.
    An exception in a job is returned in its place."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - reported to the test as a result
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    return results
