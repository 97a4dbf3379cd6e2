from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_delivery_provider_msg_id')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PushShown',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('device', fields.ForeignKeyField('models.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='shown', on_delete=OnDelete.CASCADE)),
                ('collapse_key', fields.CharField(max_length=200)),
                ('msg_id', fields.CharField(max_length=64)),
                ('sent_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'push_shown', 'app': 'models', 'unique_together': (('device', 'collapse_key'),), 'pk_attr': 'id', 'table_description': "The last message of a collapse key a provider put on a device (JPush's msg_id)."},
            bases=['Model'],
        ),
        ops.RemoveIndex(
            model_name='Delivery',
            name=None,
            fields=['device_id', 'sent_at'],
        ),
        ops.RemoveField(model_name='Delivery', name='provider_msg_id'),
    ]
