from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_alert_reads')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Delivery',
            name='provider_msg_id',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['device_id', 'sent_at']),
        ),
    ]
