"""Track points in monthly partitions on PostgreSQL (SQLite keeps one table).

Existing points are copied into the partitioned table inside the migration's transaction, so a
large table takes a while (about a minute per ten million rows here, see docs/PERFORMANCE.md):
run it in a release window. It also indexes checkpoint visits by time, for retention. Partitions are created for every month that holds a point, up to
`TRACK_PARTITIONS_AHEAD` months ahead of now; the worker job `patrol.track_partitions` keeps
creating them after that.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


async def partition_track_points(apps, schema_editor) -> None:
    from grassroots import clock
    from models.patrol import (
        TRACK_PARTITIONS_AHEAD,
        TRACK_POINT_TABLE,
        month_start,
        next_month,
        track_partitioning_sql,
    )

    conn = schema_editor.client
    if "asyncpg" not in type(conn).__module__:
        return
    _, rows = await conn.execute_query(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = $1 AND n.nspname = current_schema()",
        [TRACK_POINT_TABLE],
    )
    if rows and rows[0][0] == "p":  # already partitioned (a database built another way)
        return
    now = clock.now()
    _, bounds = await conn.execute_query(f'SELECT min(ts), max(ts) FROM "{TRACK_POINT_TABLE}"')
    oldest = bounds[0][0] if bounds and bounds[0][0] is not None else now
    newest = bounds[0][1] if bounds and bounds[0][1] is not None else now
    last = month_start(now)
    for _ in range(TRACK_PARTITIONS_AHEAD):
        last = next_month(last)
    last = max(last, month_start(newest))
    await conn.execute_script(
        track_partitioning_sql(first_month=month_start(min(oldest, now)), last_month=last)
    )


class Migration(migrations.Migration):
    dependencies = [('models', '0008_track_watermark')]

    initial = False

    operations = [
        ops.RunPython(partition_track_points),
        # Retention finds checkpoint visits that crossed the cutoff by their time.
        ops.AlterField(
            model_name='CheckpointVisit',
            name='ts',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
