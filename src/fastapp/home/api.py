from __future__ import annotations

from fastapi import APIRouter

from fastapp.api.deps import ContextDep, RuntimeDep
from fastapp.home.schemas import InstanceOut
from fastapp.home.services import describe_instance, facts_from

router = APIRouter(tags=["instance"])


@router.get("/instance", response_model=InstanceOut, summary="Describe this installation")
async def get_instance(ctx: ContextDep, runtime: RuntimeDep) -> InstanceOut:
    summary = await describe_instance(ctx, facts_from(runtime.config))
    return InstanceOut(name=summary.name, version=summary.version, instance_id=summary.instance_id, since=summary.since)
