from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_account_trust')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TrackJudgement',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('round', fields.ForeignKeyField('models.Round', source_field='round_id', db_constraint=True, to_field='id', related_name='judgements', on_delete=OnDelete.CASCADE)),
                ('seq', fields.IntField()),
                ('watermark_ts', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('watermark_id', fields.UUIDField()),
                ('basis', fields.CharField(max_length=64)),
                ('state', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('covered', fields.BinaryField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'patrol_track_judgement', 'app': 'models', 'unique_together': (('round', 'seq'),), 'pk_attr': 'id', 'table_description': "What the zone-exit job had judged of a round's track up to a watermark (a mark)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Round',
            name='track_dirty_from',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Round',
            name='exits_alerted',
            field=fields.IntField(default=0),
        ),
    ]
