"""Root filesystem images in the shape of the API introduction (`/api/rootfs`, also under `/api/v1`).

Uploads stream to disk (the engine caps them; `BodyLimit` answers 413 on a larger declared length)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from vmtui.local.api.deps import EngineDep
from vmtui.local.api.schemas import RootfsImageOut, RootfsListOut, RootfsNameOut, RootfsUploadedOut

router = APIRouter()


@router.get("/rootfs")
async def list_rootfs(engine: EngineDep) -> RootfsListOut:
    every = engine.list_images()
    return RootfsListOut(
        rootfs_names=[image.name for image in every], images=[RootfsImageOut.of(engine, i) for i in every]
    )


@router.put(
    "/rootfs/{name}",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_rootfs(engine: EngineDep, name: str, request: Request) -> RootfsUploadedOut:
    image = await engine.import_image(name, request.stream())
    return RootfsUploadedOut(rootfs_name=image.name, size_bytes=image.size_bytes)


@router.delete("/rootfs/{name}")
async def delete_rootfs(engine: EngineDep, name: str) -> RootfsNameOut:
    await engine.delete_image(name)
    return RootfsNameOut(rootfs_name=name)
