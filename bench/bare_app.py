"""The ceiling: a bare FastAPI app with no database, served by the same uvicorn as grassroots."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

app = FastAPI()


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


@app.get("/bare")
async def bare_get() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/bare", status_code=201)
async def bare_post(body: Anything) -> dict[str, Any]:
    return {"status": "ok", "fields": len(body.model_dump())}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
