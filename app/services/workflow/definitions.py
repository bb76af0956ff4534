"""Deploying BPMN process definitions as numbered versions."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from ...engine import versions
from ...engine.parser import ParsedProcess, parse_bpmn
from ...engine.serializer import SpecPair, warm
from ...extensions import db
from ...models import Department, ProcessDefinition, Role, User
from ..errors import NotFound
from ..security import audit
from . import form_definitions
from .task_forms import form_keys

_parsed_cache: dict[str, ParsedProcess] = {}  # by sha256: ids are reused when a test database is recreated
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class DeployResult:
    definition_id: int
    process_key: str
    version: int
    created: bool


def deploy_xml(xml: bytes, source_file: str = "", user_id: int | None = None, *,
               skip_if_deployed_before: bool = False) -> DeployResult:
    """Validate and store a diagram; a changed diagram becomes the next version, an unchanged one is a no-op.

    With skip_if_deployed_before (the bpmn/ defaults), a diagram that was ever deployed is not deployed again, so
    an administrator's newer version made in the modeler is never silently replaced by the file.
    A version records the latest version of each form its user tasks use (form_definitions.pin); an unchanged
    diagram deployed again becomes a new version when one of its forms has a newer version since (so new requests
    get the new form; running ones keep theirs).
    Raises engine.parser.BpmnInvalid with every problem found; nothing is stored then.
    """
    parsed = validate_xml(xml, source_file)
    digest = hashlib.sha256(xml).hexdigest()
    latest = _latest(parsed.process_id)
    used_forms = form_definitions.form_keys_of(parsed.spec, parsed.subprocess_specs)
    if latest is not None and latest.sha256 == digest and (skip_if_deployed_before
                                                           or not _newer_forms(latest.id, used_forms)):
        return DeployResult(latest.id, latest.process_key, latest.version, created=False)
    if skip_if_deployed_before:
        earlier = db.session.scalar(select(ProcessDefinition).where(
            ProcessDefinition.process_key == parsed.process_id, ProcessDefinition.sha256 == digest).limit(1))
        if earlier is not None:
            return DeployResult(earlier.id, earlier.process_key, earlier.version, created=False)
    version = (db.session.scalar(select(func.max(ProcessDefinition.version))
                                 .where(ProcessDefinition.process_key == parsed.process_id)) or 0) + 1
    definition = ProcessDefinition(process_key=parsed.process_id, version=version, name=parsed.name,
                                   bpmn_xml=xml.decode("utf-8"), sha256=digest, source_file=source_file,
                                   deployed_by_id=user_id)
    db.session.add(definition)
    db.session.flush()
    pins = form_definitions.pin(definition.id, used_forms)
    audit.record("deploy", user_id=user_id, detail={"process_key": parsed.process_id, "version": version,
                                                     "source_file": source_file, "forms": pins})
    db.session.commit()
    _remember(digest, parsed)
    return DeployResult(definition.id, definition.process_key, version, created=True)


def validate_xml(xml: bytes, source_file: str = "") -> ParsedProcess:
    """Every check a deploy makes, storing nothing; raises BpmnInvalid."""
    departments = set(db.session.scalars(select(Department.code)))
    return parse_bpmn(xml, source_file or "upload.bpmn", known_form_keys=form_keys(),
                      known_roles={r.value for r in Role}, known_departments=departments)


def _newer_forms(definition_id: int, used_forms: set[str]) -> bool:
    """Whether a form of a deployed version has a newer version than the one it pinned."""
    pinned = form_definitions.pinned_versions(definition_id)
    latest = form_definitions.latest_versions()
    return any(k in pinned and k in latest and latest[k][0] > pinned[k][0] for k in used_forms)


def deploy_directory(directory: Path | None = None, *, import_forms: bool = True) -> list[DeployResult]:
    """Deploy every bpmn/*.bpmn file (the defaults); a file deployed before makes no new version. The forms/*.json
    defaults are imported first (form_definitions.import_directory: never over a form saved in the designer) unless
    the caller did (flask deploy, to print what was imported or skipped)."""
    if import_forms:
        form_definitions.import_directory()
    directory = directory or Path(current_app.config["BPMN_DIR"])
    return [deploy_xml(path.read_bytes(), path.name, skip_if_deployed_before=True)
            for path in sorted(directory.glob("*.bpmn"))]


def latest_definition_id(process_key: str) -> int:
    definition = _latest(process_key)
    if definition is None:
        raise NotFound(f"流程 {process_key} 尚未部署（运行 flask deploy）")
    return definition.id


def known_digest(definition_id: int) -> str | None:
    """The version's digest when this session has already read it (definition rows never change)."""
    return db.session.info.get("definition_sha256", {}).get(definition_id)


def parsed_definition(definition_id: int, digest: str | None = None) -> ParsedProcess:
    """The parsed spec of a stored version, parsed once per process. `digest`: the version's sha256 as the caller
    just read it from the database (saves the query when that version is cached)."""
    digests = db.session.info.setdefault("definition_sha256", {})  # rows never change; one read per session
    if digest is not None:
        digests[definition_id] = digest
    digest = digests.get(definition_id)
    if digest is not None:
        with _cache_lock:
            cached = _parsed_cache.get(digest)
        if cached is not None:
            return cached
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(f"流程定义 {definition_id} 不存在")
    digests[definition_id] = definition.sha256
    with _cache_lock:
        cached = _parsed_cache.get(definition.sha256)
    if cached is not None:
        return cached
    parsed = parse_bpmn(definition.bpmn_xml.encode("utf-8"), definition.source_file or "stored.bpmn")
    return _remember(definition.sha256, parsed)


def definition_spec(definition_id: int, digest: str | None = None) -> SpecPair:
    """The process spec and subprocess specs of a stored version: what its instances run on (shared)."""
    parsed = parsed_definition(definition_id, digest)
    return parsed.spec, parsed.subprocess_specs


def _remember(digest: str, parsed: ParsedProcess) -> ParsedProcess:
    """Cache a parsed version, warmed so that threads can share it; the first one cached wins, so every
    instance of a version runs on one spec object."""
    warm((parsed.spec, parsed.subprocess_specs))
    with _cache_lock:
        return _parsed_cache.setdefault(digest, parsed)


def _latest(process_key: str) -> ProcessDefinition | None:
    return db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


def list_processes() -> list[dict]:
    """Every deployed process with its latest version."""
    rows = db.session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.process_key,
                                                                 ProcessDefinition.version.desc()))
    latest: dict[str, ProcessDefinition] = {}
    for row in rows:
        latest.setdefault(row.process_key, row)
    return [{"process_key": d.process_key, "name": d.name, "latest_version": d.version, "latest_id": d.id,
             "deployed_at": d.deployed_at} for d in latest.values()]


def version_history(process_key: str, open_counts: dict[int, int]) -> list[dict]:
    """Every version, newest first, with who deployed it, open instances and the changes from the previous one."""
    rows = db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
                              .options(undefer(ProcessDefinition.bpmn_xml))
                              .order_by(ProcessDefinition.version)).all()
    if not rows:
        raise NotFound(f"流程 {process_key} 不存在")
    users = {u.id: u.display_name for u in db.session.scalars(select(User))}
    out, previous = [], None
    for row in rows:
        changes = versions.diff_elements(previous.bpmn_xml, row.bpmn_xml) if previous is not None else []
        out.append({"id": row.id, "version": row.version, "name": row.name, "deployed_at": row.deployed_at,
                    "deployed_by": users.get(row.deployed_by_id, "系统（命令行部署）"), "source_file": row.source_file,
                    "open_instances": open_counts.get(row.id, 0), "changes": changes})
        previous = row
    return list(reversed(out))
