"""Shared model pieces: UUID keys and timestamps, and new rows built without `__init__`'s cost."""

from __future__ import annotations

import inspect
import uuid
from copy import deepcopy
from typing import Any, TypeVar

from tortoise import fields
from tortoise.fields.base import Field
from tortoise.models import Model


class TimestampedModel(Model):
    """A UUID primary key, with creation and update times in UTC."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


M = TypeVar("M", bound=Model)
# Fields whose own conversion keeps a value of the field's type as it is (UUIDField's does).
_KEEPS_ITS_TYPE: tuple[type[Field[Any]], ...] = (fields.UUIDField,)


class _Plan:
    """Per model: each data field with whether a value of its type is kept as it is, and each
    field's default as `Model.__init__` gives it."""

    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.fields: dict[str, tuple[Field[Any], bool]] = {}
        for name in meta.fields_db_projection:
            field = meta.fields_map[name]
            plain = type(field).to_python_value is Field.to_python_value
            self.fields[name] = (field, plain or isinstance(field, _KEEPS_ITS_TYPE))
        self.settable = meta.fields - meta.fetch_fields
        self.defaults: dict[str, tuple[str, Any]] = {}
        for name in self.settable:
            field = meta.fields_map[name]
            default = field.default
            if inspect.iscoroutinefunction(default):
                self.defaults[name] = ("await", default)
            elif callable(default):
                self.defaults[name] = ("call", default)
            elif default is not None:
                plain = isinstance(default, int | float | str | bool | bytes)
                self.defaults[name] = ("value" if plain else "copy", default)
            elif field.has_db_default():
                self.defaults[name] = ("db", field)
            else:
                self.defaults[name] = ("value", None)


_PLANS: dict[type[Model], _Plan] = {}


def new_row(model: type[M], **values: Any) -> M:
    """A new, unsaved `model` from its data fields, as `model(**values)` builds it, for hot paths.

    Tortoise's `Model.__init__` passes every field through its relation checks and its
    `__setattr__`, and works out each missing field's default again: for a check-in and its
    audit entry that was ~12 % of the request. This sets the same
    attributes directly: each value converted by its field as `__init__` converts it (a value
    already of the field's type kept where the conversion would keep it), None refused for a
    non-null field, every field not given set to its default as `__init__` sets it. Relations
    are not taken (give `supervision_id`, not `supervision`). What the insert checks (lengths,
    choices) is checked as before, by the fields' `to_db_value`.
    """
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _Plan(model)
    row = model.__new__(model)
    state = row.__dict__
    state["_partial"] = False
    state["_saved_in_db"] = False
    state["_custom_generated_pk"] = False
    await_when_save: dict[str, Any] = {}
    state["_await_when_save"] = await_when_save
    for key, value in values.items():
        try:
            field, plain = plan.fields[key]
        except KeyError:
            raise TypeError(f"new_row takes data fields of {model.__name__}, not {key!r}") from None
        if value is None:
            if not field.null:
                raise ValueError(f"{key} is non nullable field, but null was passed")
        elif not plain or type(value) is not field.field_type:
            value = field.to_python_value(value)
        if field.pk and field.generated:
            state["_custom_generated_pk"] = True
        state[key] = value
    if len(values) < len(plan.settable):
        for key in plan.settable.difference(values):
            how, default = plan.defaults[key]
            if how == "value":
                state[key] = default
            elif how == "call":
                state[key] = default()
            elif how == "copy":
                state[key] = deepcopy(default)
            elif how == "db":
                state[key] = default.get_db_default_value()
            else:
                await_when_save[key] = default
    return row
