"""workers.watermark_files: an output's watermark images are staged like inputs and folded,
with their local paths, into the config the argv builders read."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.config import Settings
from shared.errors import InputContentBad, InputMissing, InvalidJob, TranscodeError
from shared.planning import OutputSpec
from shared.watermarks import TEXT_DEFAULTS
from tests.fakes import MemoryStorage
from workers.inputs import TOO_LARGE
from workers.watermark_files import stage_watermarks

LOGO = "oss://media/logo.png"
PNG = {"streams": [{"codec_type": "video", "codec_name": "png"}]}
TEXT = {**TEXT_DEFAULTS, "Type": "Text", "Content": "mcfarm"}
IMAGE = {"Type": "Image", "InputFile": {"Type": "OSS", "Media": LOGO}, "X": 8}
CONFIG = {"Container": {"Format": "mp4"}}


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "work").mkdir()
    return Settings(work_dir=tmp_path / "work", input_cache_bytes=10_000, max_input_bytes=4096)


def spec(*marks) -> OutputSpec:
    return OutputSpec(
        index=0,
        name="o",
        input_index=0,
        input_media="oss://media/a.mp4",
        output_media="oss://out/a.mp4",
        template_id="t",
        config=CONFIG,
        features={"Watermarks": list(marks)} if marks else {},
    )


def context(settings, storage, probe=PNG):
    probed: list[str] = []

    def prober(src, settings):
        probed.append(src)
        return probe

    return SimpleNamespace(storage=storage, settings=settings, prober=prober, probed=probed)


def test_images_are_staged_and_folded_into_the_config(settings):
    storage = MemoryStorage({LOGO: b"\x89PNG logo"})
    ctx = context(settings, storage)
    workdir = settings.work_dir / "unit"
    workdir.mkdir()

    config = stage_watermarks(ctx, spec(TEXT, IMAGE), CONFIG, workdir)

    text, image = config["Watermarks"]
    assert text == TEXT
    path = Path(image.pop("ImagePath"))
    assert image == IMAGE and path.read_bytes() == b"\x89PNG logo"
    assert path.parent == workdir / "mark1"  # beside, never over, the unit's staged input
    assert ctx.probed == [str(path)] and storage.called("download") == [LOGO]
    assert CONFIG == {"Container": {"Format": "mp4"}}  # the planned config is left alone


def test_an_output_without_watermarks_keeps_its_config(settings):
    assert (
        stage_watermarks(context(settings, MemoryStorage()), spec(), CONFIG, Path("/x")) is CONFIG
    )


@pytest.mark.parametrize(
    ("objects", "probe", "error", "code"),
    [
        ({}, PNG, InputMissing, "InvalidParameter.ResourceNotFound"),
        ({LOGO: b"x" * 5000}, PNG, InvalidJob, TOO_LARGE),  # the input size limit holds
        ({LOGO: b"text"}, {"streams": [{"codec_type": "audio"}]}, InputContentBad, None),
    ],
)
def test_an_image_that_cannot_be_read_fails_the_output(settings, objects, probe, error, code):
    ctx = context(settings, MemoryStorage(objects), probe)
    with pytest.raises(error) as excinfo:
        stage_watermarks(ctx, spec(IMAGE), CONFIG, settings.work_dir)
    assert code is None or excinfo.value.code == code


def test_a_missing_font_file_says_which_package(settings, monkeypatch):
    monkeypatch.setattr("workers.watermark_files.font_file", lambda name, text: "/nope.ttf")
    with pytest.raises(TranscodeError) as excinfo:
        stage_watermarks(context(settings, MemoryStorage()), spec(TEXT), CONFIG, settings.work_dir)
    assert "Features.Watermarks[0].FontName" in excinfo.value.message
    assert "fonts-wqy-microhei" in excinfo.value.message


def test_a_private_http_image_is_refused_like_an_input(settings):
    http = dataclasses.replace(settings, allow_private_inputs=False)
    mark = {**IMAGE, "InputFile": {"Media": "http://127.0.0.1/logo.png"}}
    with pytest.raises(InvalidJob) as excinfo:
        stage_watermarks(context(http, MemoryStorage()), spec(mark), CONFIG, http.work_dir)
    assert "Features.Watermarks[0].InputFile.Media" in excinfo.value.message
