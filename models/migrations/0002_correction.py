from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.correction import CheckInKind, CheckInStatus, Grade, LeaveStatus, Level
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ObligationConfig',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('org_unit', fields.OneToOneField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='obligation_config', on_delete=OnDelete.CASCADE)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('rules', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'correction_obligation_config', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The obligation rules of one office (org unit) as JSON, read with rules_from_dict.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Supervision',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('client_id', fields.UUIDField(db_index=True)),
                ('subject', fields.ForeignKeyField('models.User', source_field='subject_id', db_constraint=True, to_field='id', related_name='supervisions', on_delete=OnDelete.RESTRICT)),
                ('officer', fields.ForeignKeyField('models.User', source_field='officer_id', db_constraint=True, to_field='id', related_name='supervised', on_delete=OnDelete.RESTRICT)),
                ('permitted_zone_id', fields.UUIDField()),
                ('level', fields.CharEnumField(description='strict: strict\nnormal: normal\nlenient: lenient', enum_type=Level, max_length=16)),
                ('level_history', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rules', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('starts_on', fields.DateField()),
                ('ends_on', fields.DateField()),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='supervisions', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('approved_leave', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('closed_through', fields.DateField(null=True)),
            ],
            options={'table': 'correction_supervision', 'app': 'models', 'indexes': [Index(fields=['subject_id', 'starts_on'])], 'pk_attr': 'id', 'table_description': 'One subject under supervision of an officer, from `starts_on` to `ends_on` (local dates).'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Assessment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('supervision', fields.ForeignKeyField('models.Supervision', source_field='supervision_id', db_constraint=True, to_field='id', related_name='assessments', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('grade', fields.CharEnumField(description='good: good\npassed: pass\nwarning: warning\nfail: fail', enum_type=Grade, max_length=16)),
                ('remark', fields.TextField(default='', unique=False)),
                ('assessed_by_id', fields.UUIDField()),
                ('assessed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'correction_assessment', 'app': 'models', 'unique_together': (('supervision', 'month'),), 'pk_attr': 'id', 'table_description': "The officer's monthly assessment of a subject, one per supervision and month."},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='CheckIn',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('supervision', fields.ForeignKeyField('models.Supervision', source_field='supervision_id', db_constraint=True, to_field='id', related_name='checkins', on_delete=OnDelete.CASCADE)),
                ('subject_id', fields.UUIDField(db_index=True)),
                ('recorded_by_id', fields.UUIDField()),
                ('kind', fields.CharEnumField(description='location: location\nreport: report\nthought_report: thought_report\nservice_hours: service_hours\nstudy: study\nhome_visit: home_visit', enum_type=CheckInKind, max_length=20)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lon', fields.FloatField(null=True)),
                ('lat', fields.FloatField(null=True)),
                ('accuracy_m', fields.FloatField(null=True)),
                ('hours', fields.FloatField(null=True)),
                ('text', fields.TextField(null=True, unique=False)),
                ('inside_permitted_area', fields.BooleanField(null=True)),
                ('distance_outside_m', fields.FloatField(null=True)),
                ('on_approved_leave', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(description='ok: ok\nviolation: violation\nunverified: unverified', enum_type=CheckInStatus, max_length=16)),
                ('org_path', fields.CharField(max_length=1000)),
                ('request_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'correction_checkin', 'app': 'models', 'indexes': [Index(fields=['supervision_id', 'occurred_at'])], 'pk_attr': 'id', 'table_description': 'A check-in by the subject, or an in-person report or home visit recorded by an officer.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='ClosedInterval',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('supervision', fields.ForeignKeyField('models.Supervision', source_field='supervision_id', db_constraint=True, to_field='id', related_name='closed_intervals', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=20)),
                ('starts_on', fields.DateField()),
                ('ends_on', fields.DateField()),
                ('required', fields.FloatField()),
                ('done', fields.FloatField()),
                ('met', fields.BooleanField()),
            ],
            options={'table': 'correction_closed_interval', 'app': 'models', 'unique_together': (('supervision', 'kind', 'starts_on'),), 'pk_attr': 'id', 'table_description': 'The outcome of one obligation interval, written once by the worker after it ends.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='LeaveRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('supervision', fields.ForeignKeyField('models.Supervision', source_field='supervision_id', db_constraint=True, to_field='id', related_name='leave_requests', on_delete=OnDelete.CASCADE)),
                ('subject_id', fields.UUIDField(db_index=True)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('destination', fields.CharField(max_length=200)),
                ('reason', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=LeaveStatus.pending, description='pending: pending\napproved: approved\nrejected: rejected\ncancelled: cancelled', enum_type=LeaveStatus, max_length=16)),
                ('decided_by_id', fields.UUIDField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decision_note', fields.TextField(null=True, unique=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('org_path', fields.CharField(max_length=1000)),
                ('request_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'correction_leave_request', 'app': 'models', 'indexes': [Index(fields=['supervision_id', 'starts_at'])], 'pk_attr': 'id', 'table_description': 'Leave to be outside the permitted area from `starts_at` to `ends_at`.'},
            bases=['TimestampedModel'],
        ),
    ]
