from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.patrol import RoundStatus, VisitMethod, ZoneKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Zone',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('name', fields.CharField(max_length=100)),
                ('kind', fields.CharEnumField(db_index=True, description='patrol: patrol\npermitted_area: permitted_area', enum_type=ZoneKind, max_length=20)),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='zones', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('geometry', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('area_m2', fields.FloatField()),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'patrol_zone', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A polygon (GeoJSON, WGS 84) owned by an org unit, soft-deleted by `deleted_at`.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Assignment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('zone', fields.ForeignKeyField('models.Zone', source_field='zone_id', db_constraint=True, to_field='id', related_name='assignments', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='patrol_assignments', on_delete=OnDelete.CASCADE)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('starts_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('checked_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'patrol_assignment', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A patrol shift: one member in one zone between two times.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Checkpoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('zone', fields.ForeignKeyField('models.Zone', source_field='zone_id', db_constraint=True, to_field='id', related_name='checkpoints', on_delete=OnDelete.CASCADE)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('name', fields.CharField(max_length=100)),
                ('lon', fields.FloatField()),
                ('lat', fields.FloatField()),
                ('radius_m', fields.FloatField(default=30.0)),
                ('required', fields.BooleanField(default=True)),
                ('code', fields.CharField(max_length=64)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'patrol_checkpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A place in a zone to be visited, with the secret printed on its QR/NFC tag.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Round',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='patrol_rounds', on_delete=OnDelete.RESTRICT)),
                ('zone', fields.ForeignKeyField('models.Zone', source_field='zone_id', db_constraint=True, to_field='id', related_name='rounds', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('status', fields.CharEnumField(default=RoundStatus.active, db_index=True, description='active: active\nended: ended', enum_type=RoundStatus, max_length=10)),
                ('started_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('request_hash', fields.CharField(max_length=64)),
                ('points_count', fields.IntField(default=0)),
                ('track_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('analysed_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'patrol_round', 'app': 'models', 'pk_attr': 'id', 'table_description': "One member's patrol round in a zone, its id made by the phone."},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='CheckpointVisit',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('round', fields.ForeignKeyField('models.Round', source_field='round_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('checkpoint', fields.ForeignKeyField('models.Checkpoint', source_field='checkpoint_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('ts', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lon', fields.FloatField()),
                ('lat', fields.FloatField()),
                ('accuracy_m', fields.FloatField(null=True)),
                ('method', fields.CharEnumField(description='gps: gps\nqr: qr\nnfc: nfc', enum_type=VisitMethod, max_length=8)),
                ('accepted', fields.BooleanField()),
                ('distance_m', fields.FloatField()),
                ('request_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'patrol_checkpoint_visit', 'app': 'models', 'pk_attr': 'id', 'table_description': "A visit claimed by the phone (GPS position or the tag's code), judged on arrival."},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Incident',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('round', fields.ForeignKeyField('models.Round', source_field='round_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE)),
                ('zone', fields.ForeignKeyField('models.Zone', source_field='zone_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('ts', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('lon', fields.FloatField()),
                ('lat', fields.FloatField()),
                ('category', fields.CharField(max_length=64)),
                ('description', fields.TextField(unique=False)),
                ('request_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'patrol_incident', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Something a member reported during a round.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='TrackPoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('round', fields.ForeignKeyField('models.Round', source_field='round_id', db_constraint=True, to_field='id', related_name='points', on_delete=OnDelete.CASCADE)),
                ('ts', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('lon', fields.FloatField()),
                ('lat', fields.FloatField()),
                ('accuracy_m', fields.FloatField(null=True)),
                ('speed_mps', fields.FloatField(null=True)),
                ('is_mock', fields.BooleanField(default=False)),
                ('in_zone', fields.BooleanField()),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'patrol_track_point', 'app': 'models', 'indexes': [Index(fields=['round_id', 'ts'])], 'pk_attr': 'id', 'table_description': 'One GPS fix of a round, the only large table.'},
            bases=['Model'],
        ),
    ]
