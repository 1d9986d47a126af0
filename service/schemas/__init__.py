"""Response models of the REST API, one module per area: what each route answers, so the
OpenAPI document describes it and schemathesis can hold the app to it.

The domain shapes its records with `to_dict()`; these models check that shape at the
edge without changing it: unknown keys are refused (a new key must be documented
here), ints stay ints, and a `Sparse` model leaves out the keys it was not given.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

__all__ = ["Number", "Out", "Sparse"]

# A JSON number as the domain gives it: 10 stays 10, 0.5 stays 0.5 (a plain `float`
# field would answer 10.0).
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]


class Out(BaseModel):
    """A response record: exactly the keys the domain sends, each documented."""

    model_config = ConfigDict(extra="forbid")


class Sparse(Out):
    """A record whose optional keys are absent rather than null when the domain omits them
    (a reason without a column, a finding shown to an operator without its figures)."""

    # No return annotation on purpose: pydantic then documents the model's own fields.
    @model_serializer(mode="wrap")
    def _given_keys_only(self, handler: SerializerFunctionWrapHandler):
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}
