"""Today's Vers image routes (mounted under `/api/v1`): `GET /images`, `POST /images/upload`,
`GET /images/{name}/status`, `DELETE /images/images/{base_image_id}`, `POST /images/create`.

An image's `base_image_id` is its name (names are unique per engine). Uploads take the rootfs tarball
as the body (its bytes, `?image_name=NAME`) and import it before answering, so every job is
`completed` when its answer arrives. `POST /images/create` builds from a registry reference or a bucket
object, which a local engine without network cannot reach: it answers 400 naming the upload instead.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from vmtui.core.errors import BadRequest, NotFound
from vmtui.local.api.deps import EngineDep
from vmtui.local.api.schemas import (
    BaseImageOut,
    CreateImageIn,
    ImageDeletedOut,
    ImageJobOut,
    ImagesPage,
    ImageStatusOut,
)
from vmtui.local.api.vers import Limit, Offset

router = APIRouter()


@router.get("/images")
async def list_images(engine: EngineDep, limit: Limit = 50, offset: Offset = 0) -> ImagesPage:
    every = engine.list_images()
    page = every[offset : offset + limit]
    return ImagesPage(
        images=[BaseImageOut.of(engine, image) for image in page],
        total=len(every),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/images/upload",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_image(engine: EngineDep, image_name: str, request: Request) -> ImageJobOut:
    image = await engine.import_image(image_name, request.stream())
    return ImageJobOut(image_name=image.name, job_id=str(uuid.uuid4()), status="completed")


@router.post("/images/create")
async def create_image(body: CreateImageIn) -> ImageJobOut:
    raise BadRequest(
        f"the local engine cannot fetch a {body.source.type} source (it has no network); "
        "upload the rootfs tarball with POST /api/v1/images/upload?image_name=NAME instead"
    )


@router.get("/images/{image_name}/status")
async def image_status(engine: EngineDep, image_name: str) -> ImageStatusOut:
    image = _image(engine, image_name)
    return ImageStatusOut(image_name=image.image_name, size_mib=image.size_mib, status="completed")


@router.delete("/images/images/{base_image_id}")
async def delete_image(engine: EngineDep, base_image_id: str) -> ImageDeletedOut:
    await engine.delete_image(_image(engine, base_image_id).image_name)
    return ImageDeletedOut(base_image_id=base_image_id, deleted=True)


def _image(engine: EngineDep, base_image_id: str) -> BaseImageOut:
    for image in engine.list_images():
        if image.name == base_image_id:
            return BaseImageOut.of(engine, image)
    raise NotFound(f"image not found: {base_image_id}")
