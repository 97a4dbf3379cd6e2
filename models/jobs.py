"""State of the background worker's periodic jobs, shared by every worker process."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class JobState(Model):
    """One row per periodic job, a worker claims a run by moving `locked_until` forward."""

    name = fields.CharField(max_length=100, primary_key=True)
    next_run_at = fields.DatetimeField()
    locked_until = fields.DatetimeField(null=True)
    locked_by = fields.CharField(max_length=100, null=True)
    last_started_at = fields.DatetimeField(null=True)
    last_finished_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    runs = fields.IntField(default=0)

    class Meta:
        table = "job_state"
