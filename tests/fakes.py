"""Recording fakes for what a worker task touches outside the farm: FFmpeg, ffprobe, storage
and the event notifier (STYLE 21: recording fakes over ``MagicMock``).

Each fake keeps the calls it got, so a test asserts on what was asked of it (argv, object
names, event types) and never on prose. The task code under test (``workers.transcode``)
and the job store stay real.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.errors import InputMissing, StorageUnavailable
from shared.storage import Identity, StorageRef


def probe_json(duration: float = 2.0) -> dict[str, Any]:
    """ffprobe's JSON of a ``duration`` s 320x240 H.264 + AAC MP4 (the fields we read)."""
    seconds = f"{duration:.6f}"
    return {
        "streams": [
            {
                "index": 0,
                "codec_name": "h264",
                "codec_type": "video",
                "width": 320,
                "height": 240,
                "sample_aspect_ratio": "1:1",
                "pix_fmt": "yuv420p",
                "r_frame_rate": "25/1",
                "avg_frame_rate": "25/1",
                "duration": seconds,
                "bit_rate": "600000",
                "disposition": {"default": 1, "attached_pic": 0},
            },
            {
                "index": 1,
                "codec_name": "aac",
                "codec_type": "audio",
                "sample_rate": "48000",
                "channels": 2,
                "duration": seconds,
                "bit_rate": "128000",
                "disposition": {"default": 1, "attached_pic": 0},
            },
        ],
        "format": {
            "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
            "duration": seconds,
            "size": "200000",
            "bit_rate": "728000",
        },
    }


class RecordingProber:
    """Stands in for ``workers.probe.run_probe``: canned JSON, every call recorded.

    Attributes:
        calls: ``(src, options)`` per call, in order.
        error: raised by every call when set (e.g. ``InputContentBad``).
    """

    def __init__(self, doc: Mapping[str, Any] | None = None, error: Exception | None = None):
        self.doc = dict(doc or probe_json())
        self.error = error
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(
        self, src: str, settings: Settings, options: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        self.calls.append((src, dict(options or {})))
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.doc)


class RecordingRunner:
    """Stands in for ``workers.ffmpeg_run.run_ffmpeg``: records each argv and "encodes".

    An encode writes ``content`` where the argv's output goes (its last argument), runs
    ``during`` (what happens elsewhere while FFmpeg runs: a cancel, a watchdog), reports each
    fraction of ``progress`` and, as the real runner does on success, 1.0. What the progress
    callback raises propagates, as it does from the real runner (which kills FFmpeg first).

    Attributes:
        argvs: every argv it was asked to run, in order.
        outputs: the files it wrote, in order.
        raised: the type of what the progress callback raised, if it did.
        crash: raised after the output file is written, for a worker lost mid-encode.
    """

    def __init__(
        self,
        content: bytes = b"encoded",
        progress: Iterable[float] = (0.5,),
        during: Callable[[], None] | None = None,
        crash: BaseException | None = None,
    ):
        self.content, self.progress = content, tuple(progress)
        self.during, self.crash = during, crash
        self.argvs: list[list[str]] = []
        self.outputs: list[Path] = []
        self.raised: list[type[BaseException]] = []

    def __call__(
        self, argv: list[str], *, on_progress: Callable[[float], None] | None = None, **clock: Any
    ) -> None:
        """One "encode"; ``clock`` (``timeout``, ``duration``) means nothing without a child."""
        self.argvs.append(list(argv))
        out = Path(argv[-1])
        out.write_bytes(self.content)
        self.outputs.append(out)
        if self.during is not None:
            self.during()
        if self.crash is not None:
            raise self.crash
        for fraction in (*self.progress, 1.0):
            if on_progress is None:
                continue
            try:
                on_progress(fraction)
            except BaseException as err:
                self.raised.append(type(err))
                raise


class MemoryStorage:
    """An in-memory ``shared.storage.Storage`` for ``object`` refs; every call recorded.

    Attributes:
        objects: ``oss://bucket/key`` → bytes.
        calls: ``(method, oss://bucket/key)`` per call, in order.
        outages: how many of the next calls raise ``StorageUnavailable`` (a storage blip).
        after_upload: run once an upload is stored (what happens elsewhere meanwhile).
    """

    remote_objects = False

    def __init__(self, objects: Mapping[str, bytes] | None = None):
        self.objects: dict[str, bytes] = dict(objects or {})
        self.calls: list[tuple[str, str]] = []
        self.outages = 0
        self.after_upload: Callable[[], None] | None = None

    def _call(self, method: str, ref: StorageRef) -> str:
        name = ref.display
        self.calls.append((method, name))
        if self.outages > 0:
            self.outages -= 1
            raise StorageUnavailable(f"{method} {name}: storage is away")
        return name

    def called(self, method: str) -> list[str]:
        """The objects that ``method`` was called on, in order."""
        return [name for m, name in self.calls if m == method]

    def exists(self, ref: StorageRef) -> bool:
        return self._call("exists", ref) in self.objects

    def size(self, ref: StorageRef) -> int | None:
        data = self.objects.get(self._call("size", ref))
        return None if data is None else len(data)

    def identity(self, ref: StorageRef) -> Identity | None:
        """Its size and, like S3's ETag of a single-part upload, the MD5 of its bytes."""
        data = self.objects.get(self._call("identity", ref))
        if data is None:
            return None
        return Identity(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())

    def download(self, ref: StorageRef, dest: Path) -> None:
        name = self._call("download", ref)
        if name not in self.objects:
            raise InputMissing(f'The resource operated "{name}" cannot be found.')
        dest.write_bytes(self.objects[name])

    def upload(self, src: Path, ref: StorageRef) -> None:
        self.objects[self._call("upload", ref)] = Path(src).read_bytes()
        if self.after_upload is not None:
            self.after_upload()

    def delete(self, ref: StorageRef) -> None:
        self.objects.pop(self._call("delete", ref), None)

    def public_url(self, ref: StorageRef) -> str:
        return ref.display

    def ensure_bucket(self, bucket: str) -> None:
        pass

    def local_path(self, ref: StorageRef) -> Path | None:
        return None  # nothing here is a local file: inputs are downloaded


class RecordingNotifier:
    """Stands in for ``shared.events.Notifier``: keeps ``(event_type, JobId)`` per event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []

    def emit(
        self, owner: str, user_id: int, event_type: str, message_body: dict, user_data: str = ""
    ) -> list[str]:
        self.events.append((event_type, message_body.get("JobId", "")))
        self.bodies.append(message_body)
        return []

    def types(self) -> list[str]:
        return [event_type for event_type, _ in self.events]
