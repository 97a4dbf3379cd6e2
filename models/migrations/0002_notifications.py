from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.notifications import DeliveryStatus, NotificationKind, Platform, ReminderStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Device',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, max_length=512)),
                ('platform', fields.CharEnumField(description='android: android\nios: ios\nweb: web', enum_type=Platform, max_length=16)),
                ('app_version', fields.CharField(null=True, max_length=64)),
                ('locale', fields.CharField(null=True, max_length=35)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'device', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A phone or browser that registered an FCM token, owned by one user at a time.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='reminder: reminder\nnotice: notice\nalert: alert', enum_type=NotificationKind, max_length=16)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('urgent', fields.BooleanField(default=False)),
                ('collapse_key', fields.CharField(null=True, max_length=200)),
                ('ttl_s', fields.IntField(default=86400)),
                ('dedup_key', fields.CharField(max_length=255)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'unique_together': (('user', 'dedup_key'),), 'pk_attr': 'id', 'table_description': 'One inbox entry for one user, pushes are deliveries of it.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('device', fields.ForeignKeyField('models.Device', source_field='device_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.SET_NULL)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('reminder_id', fields.UUIDField(null=True, db_index=True)),
                ('status', fields.CharEnumField(db_index=True, description='queued: queued\nheld: held\nsent: sent\nfailed: failed\nno_device: no_device', enum_type=DeliveryStatus, max_length=16)),
                ('urgent', fields.BooleanField(default=False)),
                ('attempts', fields.SmallIntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, db_index=True, max_length=64)),
                ('last_error', fields.CharField(null=True, max_length=100)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One push of a notification to one device (no device: one no_device row per user).'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Reminder',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', db_constraint=True, to_field='id', related_name='reminders', on_delete=OnDelete.RESTRICT)),
                ('org_path', fields.CharField(db_index=True, max_length=1000)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('audience', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('first_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('rrule', fields.CharField(null=True, max_length=500)),
                ('until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('urgent', fields.BooleanField(default=False)),
                ('ttl_s', fields.IntField(default=86400)),
                ('next_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=ReminderStatus.active, description='active: active\ncancelled: cancelled\nfinished: finished', enum_type=ReminderStatus, max_length=16)),
                ('fired', fields.IntField(default=0)),
                ('last_fired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reminder', 'app': 'models', 'pk_attr': 'id', 'table_description': "A scheduler's reminder campaign, `next_at` is the next occurrence still to fire."},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='ReminderFiring',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
                ('reminder', fields.ForeignKeyField('models.Reminder', source_field='reminder_id', db_constraint=True, to_field='id', related_name='firings', on_delete=OnDelete.CASCADE)),
                ('occurrence_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('recipients', fields.IntField(default=0)),
            ],
            options={'table': 'reminder_firing', 'app': 'models', 'unique_together': (('reminder', 'occurrence_at'),), 'pk_attr': 'id', 'table_description': 'One fired occurrence of a reminder, unique so that no occurrence fires twice.'},
            bases=['TimestampedModel'],
        ),
    ]
