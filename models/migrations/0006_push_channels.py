from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notifications import Channel, DeliveryStatus, PushProvider
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_supervision_end')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SmsDailyCount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('user_id', fields.UUIDField()),
                ('day', fields.DateField()),
                ('sent', fields.IntField(default=0)),
            ],
            options={'table': 'sms_daily_count', 'app': 'models', 'unique_together': (('user_id', 'day'),), 'pk_attr': 'id', 'table_description': 'How many SMS a user was sent on one local day, the counter behind the daily cap.'},
            bases=['TimestampedModel'],
        ),
        ops.AlterModelOptions(
            name='Delivery',
            options={'table': 'delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': "One delivery of a notification: a push to one device, or one SMS to the user's phone."},
        ),
        ops.AlterField(
            model_name='Delivery',
            name='status',
            field=fields.CharEnumField(db_index=True, description='queued: queued\nheld: held\nsent: sent\nsms_sent: sms_sent\nfailed: failed\nno_device: no_device\nno_phone: no_phone\nread: read', enum_type=DeliveryStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Delivery',
            name='channel',
            field=fields.CharEnumField(default=Channel.push, description='push: push\nsms: sms', enum_type=Channel, max_length=8),
        ),
        ops.AddField(
            model_name='Delivery',
            name='provider',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Delivery',
            name='push_ref',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='Delivery',
            name='sms_for',
            field=fields.UUIDField(null=True, unique=True),
        ),
        ops.AddField(
            model_name='Delivery',
            name='template',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AlterModelOptions(
            name='Device',
            options={'table': 'device', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A phone or browser that registered a push token, owned by one user at a time.'},
        ),
        ops.AddField(
            model_name='Device',
            name='provider',
            field=fields.CharEnumField(default=PushProvider.fcm, description='fcm: fcm\njpush: jpush', enum_type=PushProvider, max_length=16),
        ),
        ops.AddField(
            model_name='Notification',
            name='received_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
