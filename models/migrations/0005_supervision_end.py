from tortoise import migrations
from tortoise.migrations import operations as ops
from models.correction import EndReason
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_case_close')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Supervision',
            name='end_note',
            field=fields.CharField(null=True, max_length=1000),
        ),
        ops.AddField(
            model_name='Supervision',
            name='end_reason',
            field=fields.CharEnumField(null=True, description='completed: completed\nearly_release: early_release\nrevoked: revoked\ndeceased: deceased\ntransferred_out: transferred_out\nother: other', enum_type=EndReason, max_length=32),
        ),
        ops.AddField(
            model_name='Supervision',
            name='ended_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Supervision',
            name='ended_by_id',
            field=fields.UUIDField(null=True),
        ),
        ops.AddField(
            model_name='Supervision',
            name='ended_on',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='Supervision',
            name='planned_ends_on',
            field=fields.DateField(null=True),
        ),
    ]
