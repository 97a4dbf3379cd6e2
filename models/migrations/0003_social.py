from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.social import CareRole, ClientCategory, RiskLevel, VisitKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_capabilities')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Client',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('full_name', fields.CharField(max_length=100)),
                ('category', fields.CharEnumField(db_index=True, description='community_correction: community_correction\nreleased_prisoner: released_prisoner\ndrug_rehab: drug_rehab\nat_risk_youth: at_risk_youth', enum_type=ClientCategory, max_length=32)),
                ('id_number_cipher', fields.CharField(null=True, max_length=200)),
                ('id_number_hash', fields.CharField(null=True, db_index=True, max_length=64)),
                ('id_number_masked', fields.CharField(null=True, max_length=32)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('address', fields.CharField(max_length=200)),
                ('home_lon', fields.FloatField(null=True)),
                ('home_lat', fields.FloatField(null=True)),
                ('risk_level', fields.CharEnumField(description='low: low\nmedium: medium\nhigh: high', enum_type=RiskLevel, max_length=16)),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='clients', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('social_worker', fields.ForeignKeyField('models.User', source_field='social_worker_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='caseload', on_delete=OnDelete.RESTRICT)),
                ('assigned_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_visit_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('visit_due_on', fields.DateField(null=True, db_index=True)),
            ],
            options={'table': 'social_client', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person served by a social worker.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='CareGroupMember',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='care_group', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_index=True, db_constraint=True, to_field='id', related_name='care_groups', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(description='community_cadre: community_cadre\nsocial_worker: social_worker\npolice_officer: police_officer\nvolunteer: volunteer\nparent: parent', enum_type=CareRole, max_length=32)),
            ],
            options={'table': 'social_care_group_member', 'app': 'models', 'unique_together': (('client', 'user'),), 'pk_attr': 'id', 'table_description': "A helper in a client's care group, who may read the client and record visits."},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='CaseAssignment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_index=True, db_constraint=True, to_field='id', related_name='assignments', on_delete=OnDelete.CASCADE)),
                ('worker', fields.ForeignKeyField('models.User', source_field='worker_id', db_constraint=True, to_field='id', related_name='case_assignments', on_delete=OnDelete.RESTRICT)),
                ('assigned_by', fields.ForeignKeyField('models.User', source_field='assigned_by_id', null=True, db_constraint=True, to_field='id', related_name='case_assignments_made', on_delete=OnDelete.SET_NULL)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'social_case_assignment', 'app': 'models', 'pk_attr': 'id', 'table_description': "Who held a client's case, from when to when (open while `ends_at` is null)."},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Delegation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_index=True, db_constraint=True, to_field='id', related_name='delegations', on_delete=OnDelete.CASCADE)),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='delegated_clients', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('starts_on', fields.DateField()),
                ('ends_on', fields.DateField(null=True)),
                ('note', fields.CharField(default='', max_length=1000)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='delegations_made', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'social_delegation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Supervision of a client delegated to another org unit (委托帮教) for a period.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='TeamTask',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=32)),
                ('period', fields.CharField(max_length=16)),
                ('starts_on', fields.DateField()),
                ('due_on', fields.DateField(db_index=True)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_by', fields.ForeignKeyField('models.User', source_field='completed_by_id', null=True, db_constraint=True, to_field='id', related_name='tasks_completed', on_delete=OnDelete.SET_NULL)),
                ('notes', fields.TextField(default='', unique=False)),
                ('attendee_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('request_hash', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'social_team_task', 'app': 'models', 'unique_together': (('team', 'kind', 'period'),), 'pk_attr': 'id', 'table_description': 'A six-ones task of a team, stored once listed, id = uuid5(team, kind, period).'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Visit',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_index=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('recorded_by', fields.ForeignKeyField('models.User', source_field='recorded_by_id', db_constraint=True, to_field='id', related_name='visits_recorded', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='home: home\noffice: office\nphone: phone\nother: other', enum_type=VisitKind, max_length=16)),
                ('occurred_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('lon', fields.FloatField(null=True)),
                ('lat', fields.FloatField(null=True)),
                ('accuracy_m', fields.FloatField(null=True)),
                ('notes', fields.TextField(default='', unique=False)),
                ('location_verified', fields.BooleanField(default=False)),
                ('distance_m', fields.FloatField(null=True)),
                ('request_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'social_visit', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One visit to a client, made offline-safe by its client-made id.'},
            bases=['TimestampedModel'],
        ),
    ]
