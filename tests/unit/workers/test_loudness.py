"""The loudness measuring pass (workers.loudness): its argv, its parsing of FFmpeg's stderr
tail, the fold into the config, and its run through workers.analysis.resolve (once per
job and input)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from shared.config import Settings
from shared.errors import InputContentBad
from shared.templates import validate_template_config
from tests.unit.workers.canned import FULL_HD, HEAD
from workers import analysis, loudness

#: The end of a real measuring run's stderr (FFmpeg 5.1, ``-loglevel info``).
TAIL = """\
  Stream #0:0(und): Audio: pcm_s16le, 192000 Hz, mono, s16, 3072 kb/s (default)
    Metadata:
      encoder         : Lavc59.37.100 pcm_s16le
size=N/A time=00:00:04.01 bitrate=N/A speed=66.1x
video:0kB audio:1504kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown
[Parsed_loudnorm_0 @ 0x561447c83640]
{
\t"input_i" : "-41.81",
\t"input_tp" : "-37.27",
\t"input_lra" : "0.10",
\t"input_thresh" : "-51.81",
\t"output_i" : "-16.00",
\t"output_tp" : "-11.48",
\t"output_lra" : "0.10",
\t"output_thresh" : "-26.00",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.00"
}"""
MEASURED = {"I": -41.81, "LRA": 0.1, "TP": -37.27, "thresh": -51.81, "offset": 0.0}


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def config(fmt="mp4", **audio) -> dict:
    return validate_template_config({"Container": {"Format": fmt}, "Audio": audio}, "test")


def test_registered_once():
    assert [m for m in analysis.MEASURES if m.name == "loudness"] == [loudness.LOUDNESS]


@pytest.mark.parametrize(
    ("audio", "needed"),
    [
        ({"Volume": {}}, True),  # Method dynamic by default
        ({"Volume": {"Method": "dynamic"}}, True),
        ({"Volume": {"Method": "auto"}}, True),
        ({"Volume": {"Method": "linear"}}, False),
        ({}, False),
        ({"Remove": True, "Volume": {"Method": "dynamic"}}, False),
    ],
)
def test_needed(audio, needed):
    assert loudness.needed(config(**audio), FULL_HD) is needed
    assert analysis.needs_measuring(config(**audio), FULL_HD) is needed
    silent = dataclasses.replace(FULL_HD, audio=None)  # nothing to measure: no pass
    assert not loudness.needed(config(**audio), silent)


def test_measure_argv_logs_at_info_and_measures_with_the_targets(settings):
    cfg = config(Volume={"IntegratedLoudnessTarget": -23, "TruePeak": -2})
    argv = loudness.measure_args("in.mp4", FULL_HD, cfg, settings)
    head = [*HEAD[:5], "info", *HEAD[6:]]
    assert argv == [
        *head,
        "-filter_complex",
        "[0:a:0]loudnorm=I=-23:LRA=8:TP=-2:print_format=json[s0]",
        *("-map", "[s0]", "-f", "null", "-"),
    ]


def test_measure_argv_downmixes_as_the_encode_will(settings):
    surround = dataclasses.replace(FULL_HD, audio=dataclasses.replace(FULL_HD.audio, channels=6))
    argv = loudness.measure_args("in.mp4", surround, config(Volume={}), settings)
    assert argv[argv.index("-filter_complex") + 1] == (
        "[0:a:0]aformat=channel_layouts=stereo[s0];"
        "[s0]loudnorm=I=-6:LRA=8:TP=-1:print_format=json[s1]"
    )


def test_a_source_without_audio_has_nothing_to_measure(settings):
    silent_video = dataclasses.replace(FULL_HD, audio=None)
    with pytest.raises(InputContentBad, match="no audio"):
        loudness.measure_args("in.mp4", silent_video, config(Volume={}), settings)


def test_parse():
    assert loudness.parse(TAIL) == MEASURED


def test_parse_takes_the_last_json_block():
    assert loudness.parse('{"input_i": "1"}\n' + TAIL) == MEASURED


def test_parse_silence():
    silent = TAIL.replace('"-41.81"', '"-inf"').replace('"0.00"', '"inf"')
    assert loudness.parse(silent) == {"silent": True}


@pytest.mark.parametrize(
    "tail",
    [
        "",
        "Stream map '0:a:0' matches no streams.",
        TAIL.replace('\t"input_thresh" : "-51.81",\n', ""),
        TAIL.replace('"-41.81"', '"n/a"'),
        TAIL[: TAIL.rindex("}")],  # cut off
    ],
)
def test_parse_without_a_measurement(tail):
    with pytest.raises(InputContentBad):
        loudness.parse(tail)


def test_fold_copies():
    cfg = config(Volume={"Method": "auto"})
    folded = loudness.fold(cfg, MEASURED)
    assert folded["Audio"]["Volume"] == {"Method": "auto", "Measured": MEASURED}
    assert "Measured" not in cfg["Audio"]["Volume"]


# --- through workers.analysis.resolve ---------------------------------------------------------


class FakeStore:
    """The job store's measure cache and FFmpeg record, in memory."""

    def __init__(self):
        self.measures: dict = {}
        self.recorded: list = []

    def cached_measure(self, job_id, input_index, name):
        return self.measures.get((job_id, input_index, name))

    def cache_measure(self, job_id, input_index, name, value):
        self.measures[(job_id, input_index, name)] = value

    def set_ffmpeg(self, job_id, index, part, command, tail):
        self.recorded.append(command)


def test_resolve_measures_once_per_job_and_input(settings, tmp_path):
    runs: list[list[str]] = []

    def runner(argv, **options):
        runs.append(argv)
        return TAIL

    ctx = SimpleNamespace(store=FakeStore(), runner=runner, settings=settings)
    job = SimpleNamespace(job_id="j1", specs=[SimpleNamespace(input_index=0)] * 2)
    cfg = config(Volume={"IntegratedLoudnessTarget": -16})
    for index in (0, 1):
        unit = SimpleNamespace(job_id="j1", index=index, part="")
        resolved = analysis.resolve(ctx, job, unit, FULL_HD, cfg, tmp_path / "in.mp4")
        assert resolved["Audio"]["Volume"]["Measured"] == MEASURED
    assert len(runs) == 1 and runs[0][-5:] == ["-map", "[s0]", "-f", "null", "-"]
    assert ctx.store.measures == {("j1", 0, "loudness"): MEASURED}
