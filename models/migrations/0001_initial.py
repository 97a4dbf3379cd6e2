from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.alerts import AlertStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('user_id', fields.UUIDField(null=True, db_index=True)),
                ('address', fields.CharField(null=True, max_length=64)),
                ('action', fields.CharField(max_length=32)),
                ('resource_type', fields.CharField(db_index=True, max_length=64)),
                ('resource_id', fields.CharField(null=True, db_index=True, max_length=64)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One audited action, never updated, shown only to admins.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobState',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=100)),
                ('next_run_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('locked_by', fields.CharField(null=True, max_length=100)),
                ('last_started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('runs', fields.IntField(default=0)),
            ],
            options={'table': 'job_state', 'app': 'models', 'pk_attr': 'name', 'table_description': 'One row per periodic job, a worker claims a run by moving `locked_until` forward.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginAttempt',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('username', fields.CharField(db_index=True, max_length=64)),
                ('address', fields.CharField(db_index=True, max_length=64)),
            ],
            options={'table': 'login_attempt', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One failed sign-in, counted per username and per client address.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='OrgUnit',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('name', fields.CharField(max_length=100)),
                ('parent', fields.ForeignKeyField('models.OrgUnit', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('path', fields.CharField(db_index=True, max_length=1000)),
                ('depth', fields.SmallIntField(default=0)),
            ],
            options={'table': 'org_unit', 'app': 'models', 'pk_attr': 'id', 'table_description': 'City > district > street/town > community/village, any depth.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('password_hash', fields.CharField(max_length=255)),
                ('full_name', fields.CharField(max_length=100)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('roles_text', fields.CharField(max_length=200)),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('timezone', fields.CharField(null=True, max_length=64)),
                ('is_active', fields.BooleanField(default=True)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'app_user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person who signs in, roles stored as ",role,role," for cheap filtering.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Alert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('kind', fields.CharField(db_index=True, max_length=64)),
                ('subject_type', fields.CharField(max_length=64)),
                ('subject_id', fields.UUIDField()),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('status', fields.CharEnumField(default=AlertStatus.open, db_index=True, description='open: open\nacked: acked', enum_type=AlertStatus, max_length=5)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=255)),
                ('dedup_key', fields.CharField(db_index=True, max_length=255)),
                ('title', fields.CharField(max_length=200)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('urgent', fields.BooleanField(default=False)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('acked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acked_by', fields.ForeignKeyField('models.User', source_field='acked_by_id', null=True, db_constraint=True, to_field='id', related_name='acked_alerts', on_delete=OnDelete.SET_NULL)),
                ('notified', fields.BooleanField(default=False, db_index=True)),
            ],
            options={'table': 'alert', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One alert, `open_key` set while open so an identical open alert is stored once.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='AlertRecipient',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='recipients', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='alert_receipts', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'alert_recipient', 'app': 'models', 'unique_together': (('alert', 'user'),), 'pk_attr': 'id', 'table_description': 'A user to whom an alert is addressed.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('family_id', fields.UUIDField(db_index=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A refresh token, stored only as its SHA-256, one family per login, rotated on each use.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Team',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('name', fields.CharField(max_length=100)),
                ('org_unit', fields.ForeignKeyField('models.OrgUnit', source_field='org_unit_id', db_constraint=True, to_field='id', related_name='teams', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('lead', fields.ForeignKeyField('models.User', source_field='lead_id', db_constraint=True, to_field='id', related_name='led_teams', on_delete=OnDelete.RESTRICT)),
                ('anchor_month', fields.DateField()),
            ],
            options={'table': 'team', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A social-work team, the six-ones schedule runs per team.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='TeamMember',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='team_memberships', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'team_member', 'app': 'models', 'unique_together': (('team', 'user'),), 'pk_attr': 'id', 'table_description': 'Membership of a user in a team.'},
            bases=['TimestampedModel'],
        ),
    ]
