from tortoise import migrations
from tortoise.migrations import operations as ops
from models.social import CaseStatus, CloseReason
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_social')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CaseClosure',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_index=True, db_constraint=True, to_field='id', related_name='closures', on_delete=OnDelete.CASCADE)),
                ('closed_by', fields.ForeignKeyField('models.User', source_field='closed_by_id', null=True, db_constraint=True, to_field='id', related_name='cases_closed', on_delete=OnDelete.SET_NULL)),
                ('reopened_by', fields.ForeignKeyField('models.User', source_field='reopened_by_id', null=True, db_constraint=True, to_field='id', related_name='cases_reopened', on_delete=OnDelete.SET_NULL)),
                ('closed_on', fields.DateField()),
                ('reason', fields.CharEnumField(description='moved_away: moved_away\ndeceased: deceased\ncompleted: completed\ntransferred_out: transferred_out\nother: other', enum_type=CloseReason, max_length=32)),
                ('note', fields.CharField(default='', max_length=1000)),
                ('closed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reopened_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reopen_note', fields.CharField(default='', max_length=1000)),
            ],
            options={'table': 'social_case_closure', 'app': 'models', 'pk_attr': 'id', 'table_description': "One closing of a client's case (结案) and, once it is reopened, its reopening."},
            bases=['TimestampedModel'],
        ),
        ops.AddField(
            model_name='Client',
            name='close_reason',
            field=fields.CharEnumField(null=True, description='moved_away: moved_away\ndeceased: deceased\ncompleted: completed\ntransferred_out: transferred_out\nother: other', enum_type=CloseReason, max_length=32),
        ),
        ops.AddField(
            model_name='Client',
            name='closed_on',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='Client',
            name='reopened_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Client',
            name='status',
            field=fields.CharEnumField(default=CaseStatus.open, db_index=True, description='open: open\nclosed: closed', db_default=CaseStatus.open, enum_type=CaseStatus, max_length=16),
        ),
    ]
