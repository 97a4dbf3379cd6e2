from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """Check-ins that prove something: a late check-in's confirmation (the `late` status needs no
    column: the status is a short text already)."""

    dependencies = [("models", "0009_track_partitions")]

    initial = False

    operations = [
        ops.AddField(
            model_name="CheckIn",
            name="confirmed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="CheckIn",
            name="confirmed_by_id",
            field=fields.UUIDField(null=True),
        ),
    ]
