from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_push_channels')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginThrottle',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('key', fields.CharField(unique=True, max_length=100)),
                ('failures', fields.IntField(default=0)),
                ('last_failure_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_allowed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('episode_started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('notified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_throttle', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Failed sign-ins of one username (`user:<name>`) or one client address (`addr:<ip>`).'},
            bases=['TimestampedModel'],
        ),
        ops.AddField(
            model_name='User',
            name='token_version',
            field=fields.IntField(default=0),
        ),
        ops.DeleteModel(name='LoginAttempt'),
    ]
