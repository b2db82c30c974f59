"""Previews: a finished output's file, or a packaged group's files, streamed through the API
with HTTP range requests (players seek and fetch segments with them).

Only the signed-in account's own jobs are served, and only what the job wrote: a file
output's object, or a file under its group's folder. The browser never sees a storage URL,
credential or presigned link; a job of another account answers 404 as on the API.
"""

from __future__ import annotations

from flask import Response, g, request

from api import services
from api.auth import check_ram
from api.console import blp, page
from api.console.present import file_preview, group_preview
from shared.containers import media_type
from shared.errors import ApiError, require_found
from shared.storage import Storage, StorageRef, join_output, parse_storage_url


def _not_previewable(what: str) -> ApiError:
    return ApiError(
        f"{what} has nothing to play yet (it is not finished, or not playable in a browser).",
        code="ResourceNotFound",
        http_status=404,
    )


@blp.get("/jobs/<job_id>/outputs/<int:index>/media")
@page("A finished file output, streamed with range requests")
def output_media(job_id: str, index: int):
    check_ram(g.key, "GetMediaConvertJob")
    rec = services.get_job(g.farm, g.owner, job_id)
    spec = require_found(next((s for s in rec.specs if s.index == index), None), "output", index)
    if file_preview(rec, spec) is None:
        raise _not_previewable(f"Output {index}")
    ref = parse_storage_url(spec.output_media, settings=g.farm.settings, for_output=True)
    return stream(g.farm.storage, ref, spec.output_media)


@blp.get("/jobs/<job_id>/groups/<int:group>/<path:name>")
@page("A file of a packaged Hls/Dash group (manifest, playlist, segment)")
def group_media(job_id: str, group: int, name: str):
    check_ram(g.key, "GetMediaConvertJob")
    rec = services.get_job(g.farm, g.owner, job_id)
    spec = require_found(next((s for s in rec.groups if s.index == group), None), "group", group)
    if group_preview(rec, spec) is None:
        raise _not_previewable(f"Group {group}")
    base = parse_storage_url(
        spec.base_media, settings=g.farm.settings, for_output=True, folder=True
    )
    # Confined to the group's folder: no "..", no absolute name (as OutputFileName is).
    return stream(g.farm.storage, join_output(base, name, "name"), name)


def stream(storage: Storage, ref: StorageRef, name: str) -> Response:
    """Answer a GET (or HEAD) of a stored file: all of it, or the byte range asked for."""
    size = storage.size(ref)
    if size is None:
        raise ApiError(
            "The file is not in storage (any more).", code="ResourceNotFound", http_status=404
        )
    headers = {"Accept-Ranges": "bytes", "Content-Type": media_type(name)}
    start, stop, status = 0, size, 200
    if request.range is not None:
        span = request.range.range_for_length(size)
        if span is None:
            return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        (start, stop), status = span, 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    headers["Cache-Control"] = "private, max-age=60"
    body = storage.read_range(ref, start, stop) if request.method == "GET" else iter(())
    return Response(body, status=status, headers=headers, direct_passthrough=True)
