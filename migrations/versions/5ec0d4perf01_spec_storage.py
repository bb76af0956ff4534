"""engine storage: one spec per definition version

Instances were stored with their process spec embedded (~20 KB of each 29-46 KB row). The spec now comes from
the instance's definition version (process_definition.bpmn_xml, parsed once per process) and is attached on load.
Upgrade strips the embedded spec from every row whose spec is exactly the one its version's diagram gives today
(rows whose spec differs keep it and go on running on it) and stores the rest compact (UTF-8 as is; zlib+base64
above 4 KB, see app/engine/serializer.py); downgrade embeds the version's spec again as plain JSON.

Revision ID: 5ec0d4perf01
Revises: 5ec0c3perf00
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec0d4perf01'
down_revision = '5ec0c3perf00'
branch_labels = None
depends_on = None

BATCH = 200


def _spec_of(conn, cache, definition_id):
    """The version's spec as the serializer embeds it (None when its diagram no longer parses)."""
    if definition_id not in cache:
        from app.engine.parser import BpmnInvalid, parse_bpmn
        from app.engine.serializer import spec_dicts

        row = conn.execute(sa.text("SELECT bpmn_xml, source_file FROM process_definition WHERE id = :id"),
                           {"id": definition_id}).first()
        try:
            parsed = parse_bpmn(row[0].encode("utf-8"), row[1] or "stored.bpmn")
            cache[definition_id] = spec_dicts((parsed.spec, parsed.subprocess_specs))
        except BpmnInvalid:
            cache[definition_id] = None
    return cache[definition_id]


def _rewrite(change):
    conn = op.get_bind()
    cache = {}
    ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM process_instance ORDER BY id"))]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = conn.execute(sa.text("SELECT id, definition_id, workflow_json FROM process_instance "
                                    "WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                            {"ids": chunk}).all()
        for instance_id, definition_id, data in rows:
            new = change(data, _spec_of(conn, cache, definition_id))
            if new is not None and new != data:
                conn.execute(sa.text("UPDATE process_instance SET workflow_json = :data WHERE id = :id"),
                             {"data": new, "id": instance_id})


def _strip(data, spec):
    from app.engine.serializer import embedded_spec, strip_spec

    if not data or spec is None:
        return None
    embedded = embedded_spec(data)
    if embedded is None or embedded != spec:
        return None  # already stripped, or a spec of its own: it keeps it
    return strip_spec(data)


def _embed(data, spec):
    from app.engine.serializer import decode, embed_spec, embedded_spec

    if not data:
        return None
    if embedded_spec(data) is not None or spec is None:
        return decode(data)  # plain JSON, as the old code reads it
    return embed_spec(data, spec)


def upgrade():
    _rewrite(_strip)


def downgrade():
    _rewrite(_embed)
