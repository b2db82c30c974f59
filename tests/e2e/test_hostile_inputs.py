"""Hostile inputs against a real farm: each is refused with a clear Code, nothing is read.

Two loopback HTTP servers play the outside world: ``origin`` is the operator's own origin
(``MCFARM_TRUSTED_INPUT_HOSTS``), ``canary`` stands for every private service an attacker
would like the farm to fetch (cloud metadata, Redis, an intranet). The canary must never
see a request. Playlists name ``/etc/passwd`` and friends in every spelling; FFmpeg itself
never gets a URL (``workers.inputs``), so none of them is opened.

With ``MCFARM_HOSTILE_REPORT=path`` the test also writes the table of what was tried and
what it got (docs/RELIABILITY.md shows it).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.client import ApiCallFailed
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.servers.farm import farm_env, running_farm
from tests.servers.origin import http_origin

pytestmark = pytest.mark.e2e

REFUSED = "InvalidParameter"
BAD = "InvalidParameter.ResourceContentBad"
LIMITS = {
    "MCFARM_MAX_INPUT_RESOLUTION": "400",  # silent.mp4 is 320x240; sample.mp4 640x360
    "MCFARM_MAX_INPUT_DURATION": "4",  # long.mp4 lasts 6 s
    "MCFARM_MAX_INPUT_BYTES": "1500000",  # ten.mp4 is over 2 MB; long.mp4 about 1.4 MB
    "MCFARM_MAX_INPUTS": "2",
    "MCFARM_MAX_OUTPUTS": "3",
    "MCFARM_MAX_REQUEST_BYTES": "16384",
}


def _playlist(*entries: str, master: bool = False) -> str:
    if master:
        lines = [f"#EXT-X-STREAM-INF:BANDWIDTH=500000\n{e}" for e in entries]
        return "#EXTM3U\n" + "\n".join(lines) + "\n"
    body = "".join(f"#EXTINF:1.0,\n{e}\n" for e in entries)
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n{body}#EXT-X-ENDLIST\n"


@dataclass(frozen=True)
class Case:
    """One input tried: ``media`` may use ``{origin}``, ``{canary}`` and ``{canary_port}``."""

    what: str
    media: str
    code: str
    at: str = "job"  # where it is refused: "submit" (HTTP 400) or "job" (State Error)


CASES = [
    # Plain HTTP inputs to private places: refused at submit, before any worker sees them.
    Case("HTTP input on loopback", "{canary}/clip.mp4", REFUSED, "submit"),
    Case("HTTP input on a name resolving to loopback", "http://localhost:{canary_port}/a.mp4", REFUSED, "submit"),
    Case("HTTP input on IPv6 loopback", "http://[::1]:{canary_port}/a.mp4", REFUSED, "submit"),
    Case("HTTP input on link-local (cloud metadata)", "http://169.254.169.254/latest/meta-data/", REFUSED, "submit"),
    Case("HTTP input on a private network", "http://10.0.0.7/a.mp4", REFUSED, "submit"),
    Case("HTTP input on IPv4-mapped IPv6 loopback", "http://[::ffff:127.0.0.1]:{canary_port}/a.mp4", REFUSED, "submit"),
    Case("HTTP input with credentials in the URL", "http://user:pw@{canary_host}/a.mp4", REFUSED, "submit"),
    Case("file:// input when MCFARM_ALLOW_FILE_URLS is off", "file:///etc/passwd", REFUSED, "submit"),
    Case("gopher:// input", "gopher://127.0.0.1:6379/_INFO", REFUSED, "submit"),
    Case("object key climbing out with ..", "oss://media/../../etc/passwd", REFUSED, "submit"),
    # Redirects from the trusted origin: each hop is checked before it is requested.
    Case("redirect to loopback", "{origin}/to-canary", REFUSED),
    Case("redirect to a name resolving to loopback", "{origin}/to-localhost", REFUSED),
    Case("redirect to link-local (cloud metadata)", "{origin}/to-metadata", REFUSED),
    Case("redirect to file:///etc/passwd", "{origin}/to-file", REFUSED),
    Case("redirect loop", "{origin}/loop", REFUSED),
    # Playlists served by the origin.
    Case("HLS playlist naming file:///etc/passwd", "{origin}/evil/file.m3u8", BAD),
    Case("HLS playlist naming a loopback segment", "{origin}/evil/canary.m3u8", REFUSED),
    Case("HLS playlist naming a segment on a name resolving to loopback", "{origin}/evil/localhost.m3u8", REFUSED),
    Case("HLS playlist naming cloud metadata", "{origin}/evil/metadata.m3u8", REFUSED),
    Case("HLS playlist naming concat:", "{origin}/evil/concat.m3u8", BAD),
    Case("HLS master naming a loopback variant", "{origin}/evil/master.m3u8", REFUSED),
    Case("HLS playlist with an AES key (a URI to fetch)", "{origin}/evil/key.m3u8", BAD),
    # Playlists stored in the farm's own bucket.
    Case("stored playlist naming /etc/passwd", "oss://media/evil/abs.m3u8", BAD),
    Case("stored playlist climbing out with ../", "oss://media/evil/up.m3u8", BAD),
    Case("stored playlist naming file:///etc/passwd", "oss://media/evil/file.m3u8", BAD),
    Case("stored playlist naming a loopback segment", "oss://media/evil/canary.m3u8", REFUSED),
    Case("playlist disguised as .mp4", "oss://media/evil/trick.mp4", BAD),
    Case("ffconcat list disguised as .mp4", "oss://media/evil/ffconcat.mp4", BAD),
    Case("text file", "oss://media/notmedia.txt", BAD),
    Case("truncated MP4", "oss://media/truncated.mp4", BAD),
    # Limits.
    Case("input above MCFARM_MAX_INPUT_RESOLUTION", "oss://media/sample.mp4", "InvalidParameter.ResolutionTooLarge"),
    Case("input above MCFARM_MAX_INPUT_DURATION", "oss://media/long.mp4", "InvalidParameter.DurationTooLong"),
    Case("input above MCFARM_MAX_INPUT_BYTES", "oss://media/ten.mp4", "InvalidParameter.InputTooLarge"),
    Case("HTTP input above MCFARM_MAX_INPUT_BYTES", "{origin}/big.mp4", "InvalidParameter.InputTooLarge"),
]  # fmt: skip

#: Inputs the same farm must still take: the guards do not block honest use.
ACCEPTED = [
    ("HTTP input on the trusted origin", "{origin}/clip.mp4"),
    ("HLS playlist on the trusted origin", "{origin}/hls/index.m3u8"),
    ("HLS master on the trusted origin", "{origin}/hls/master.m3u8"),
    ("redirect within the trusted origin", "{origin}/to-clip"),
    ("stored HLS playlist", "oss://media/hls/index.m3u8"),
]


def _hls(dest: Path) -> None:
    """A 2 s, 2-segment HLS rendition (320x240) in ``dest``."""
    dest.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-f", "hls", "-hls_time", "1"]
        + ["-hls_list_size", "0", "-hls_segment_filename", str(dest / "seg-%d.ts")]
        + [str(dest / "index.m3u8")],
        check=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory, media):
    """The trusted origin and the canary, with every route the cases use."""
    hls = tmp_path_factory.mktemp("hls") / "hls"
    _hls(hls)
    with http_origin() as origin, http_origin() as canary:
        canary.serve("/clip.mp4", media["silent.mp4"].read_bytes())
        canary.serve("/seg-0.ts", (hls / "seg-0.ts").read_bytes())
        o = origin
        o.serve("/clip.mp4", media["silent.mp4"].read_bytes())
        o.serve("/big.mp4", media["ten.mp4"].read_bytes())
        for f in hls.iterdir():
            o.serve(f"/hls/{f.name}", f.read_bytes())
        o.serve("/hls/master.m3u8", _playlist("index.m3u8", master=True))
        o.redirect("/to-clip", "/clip.mp4")
        o.redirect("/to-canary", f"{canary.url}/clip.mp4")
        o.redirect("/to-localhost", f"http://localhost:{canary.port}/clip.mp4")
        o.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/")
        o.redirect("/to-file", "file:///etc/passwd")
        o.redirect("/loop", "/loop")
        o.serve("/evil/file.m3u8", _playlist("file:///etc/passwd"))
        o.serve("/evil/canary.m3u8", _playlist(f"{canary.url}/seg-0.ts"))
        o.serve("/evil/localhost.m3u8", _playlist(f"http://localhost:{canary.port}/seg-0.ts"))
        o.serve("/evil/metadata.m3u8", _playlist("http://169.254.169.254/latest/meta-data/iam"))
        o.serve("/evil/concat.m3u8", _playlist("concat:/hls/seg-0.ts|/etc/passwd"))
        o.serve("/evil/master.m3u8", _playlist(f"{canary.url}/hls/index.m3u8", master=True))
        keyed = _playlist("/hls/seg-0.ts").replace(
            "#EXTINF", f'#EXT-X-KEY:METHOD=AES-128,URI="{canary.url}/key"\n#EXTINF', 1
        )
        o.serve("/evil/key.m3u8", keyed)
        stored = tmp_path_factory.mktemp("stored")
        files = {
            "evil/abs.m3u8": _playlist("/etc/passwd"),
            "evil/up.m3u8": _playlist("../../../../../../etc/passwd"),
            "evil/file.m3u8": _playlist("file:///etc/passwd"),
            "evil/canary.m3u8": _playlist(f"{canary.url}/seg-0.ts"),
            "evil/trick.mp4": _playlist("file:///etc/passwd"),
            "evil/ffconcat.mp4": "ffconcat version 1.0\nfile '/etc/passwd'\n",
        }
        for name, text in files.items():
            (stored / name.replace("/", "_")).write_text(text)
        yield origin, canary, hls, stored, files


@pytest.fixture(scope="module")
def guarded(redis_base, tmp_path_factory, media, world):
    origin, _canary, hls, stored, files = world
    tmp = tmp_path_factory.mktemp("farm-guarded")
    env = farm_env(
        f"{redis_base}/17", tmp, MCFARM_TRUSTED_INPUT_HOSTS=f"127.0.0.1:{origin.port}", **LIMITS
    )
    _seed(env, media)
    storage = make_storage(Settings.from_env(env))
    for name in files:
        storage.upload(
            stored / name.replace("/", "_"), StorageRef("object", bucket="media", key=name)
        )
    for f in hls.iterdir():
        storage.upload(f, StorageRef("object", bucket="media", key=f"hls/{f.name}"))
    with running_farm(env, tmp / "logs", concurrency=2) as farm:
        yield farm


def _body(media: str, out: str) -> dict:
    return {
        "Config": {
            "Inputs": [{"InputFile": {"Media": media}}],
            "Outputs": [
                {
                    "Name": "o",
                    "TemplateId": "S00000001-200000",
                    "OutputFile": {"Media": f"oss://results/hostile/{out}.mp4"},
                }
            ],
        }
    }


def _expand(media: str, world) -> str:
    origin, canary = world[0], world[1]
    return media.format(
        origin=origin.url,
        canary=canary.url,
        canary_port=canary.port,
        canary_host=f"127.0.0.1:{canary.port}",
    )


def test_hostile_inputs_are_refused_with_a_clear_code_and_nothing_is_fetched(guarded, world):
    client = client_for(guarded)
    seen: dict[str, tuple[str, str, str]] = {}
    jobs: dict[str, str] = {}
    for n, case in enumerate(CASES):
        media = _expand(case.media, world)
        try:
            jobs[case.what] = client.submit(_body(media, f"bad-{n}"))["JobId"]
        except ApiCallFailed as err:
            assert err.status == 400, (case, err)
            seen[case.what] = ("submit (HTTP 400)", err.code, err.message)
    for what, job_id in jobs.items():
        job = wait_job(client, job_id, guarded, timeout=60)
        detail = job["OutputDetails"][0]
        assert job["State"] == "Error" and detail["Status"] == "Failed", (what, job)
        assert detail["Code"] == job["Code"]
        seen[what] = ("job (State Error)", job["Code"], detail["Message"])
    for case in CASES:
        where, code, message = seen[case.what]
        assert (where.split()[0], code) == (case.at, case.code), (case, message)
        assert message
    assert world[1].requests == []  # the canary was never contacted
    results = Path(guarded.env["MCFARM_STORAGE_ROOT"]) / "results" / "hostile"
    assert not results.exists() or not any(results.iterdir())
    report = os.environ.get("MCFARM_HOSTILE_REPORT")
    if report:
        Path(report).write_text(json.dumps([[c.what, c.media, *seen[c.what]] for c in CASES]))


def test_the_guards_still_let_honest_inputs_through(guarded, world):
    client = client_for(guarded)
    jobs = {
        what: client.submit(_body(_expand(media, world), f"ok-{n}"))["JobId"]
        for n, (what, media) in enumerate(ACCEPTED)
    }
    for what, job_id in jobs.items():
        job = wait_job(client, job_id, guarded, timeout=90)
        assert job["State"] == "Complete", (what, job)
        detail = job["OutputDetails"][0]
        assert detail["Status"] == "Success", (what, detail)
        assert detail["Result"]["OutFileMeta"]["FileBasicInfo"]["Width"] == "320", (what, detail)
    assert world[1].requests == []


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ({"Outputs": [{"Name": "o", "TemplateId": "S00000001-200000", "OutputFile": {"Media": "oss://results/../x.mp4"}}]}, REFUSED, 400),
        ({"Outputs": [{"Name": "o", "TemplateId": "S00000001-200000", "OutputFile": {"Media": "oss://results//abs.mp4"}}]}, REFUSED, 400),
        ({"Outputs": [{"Name": "o", "TemplateId": "S00000001-200000", "OutputFile": {"Media": "oss://results/a\x00.mp4"}}]}, REFUSED, 400),
        ({"Inputs": [{"InputFile": {"Media": "oss://media/silent.mp4"}}] * 3}, REFUSED, 400),
        ({"Outputs": [{"Name": f"o{i}", "TemplateId": "S00000001-200000", "OutputFile": {"Media": f"oss://results/{i}.mp4"}} for i in range(4)]}, REFUSED, 400),
        ({"Padding": "x" * 20000}, REFUSED, 413),
    ],
    ids=["dotdot-output", "absolute-output", "nul-output", "too-many-inputs", "too-many-outputs", "too-large-body"],
)  # fmt: skip
def test_bad_requests_are_refused_at_submit(guarded, change, code, status):
    body = _body(f"oss://{MEDIA_BUCKET}/silent.mp4", "never")
    body["Config"].update({k: v for k, v in change.items() if k != "Padding"})
    if "Padding" in change:
        body["UserData"] = change["Padding"]
    with pytest.raises(ApiCallFailed) as err:
        client_for(guarded).submit(body)
    assert (err.value.status, err.value.code) == (status, code), err.value.message


def test_allow_private_inputs_lets_the_operator_opt_out(redis_base, tmp_path, media, world):
    canary = world[1]
    env = farm_env(f"{redis_base}/18", tmp_path, MCFARM_ALLOW_PRIVATE_INPUTS="on")
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        client = client_for(farm)
        job_id = client.submit(_body(f"{canary.url}/clip.mp4", "private-ok"))["JobId"]
        job = wait_job(client, job_id, farm, timeout=60)
    assert job["State"] == "Complete", job
    assert "/clip.mp4" in canary.requests
    canary.requests.clear()  # the other tests of this module expect a silent canary
