"""The job console in a real browser: Debian's Chromium driven by Playwright against a real
farm (granian API, Celery worker, FFmpeg, Redis).

One account signs in, submits the MP4 example from the form and watches its progress bar
(with an ETA) reach 100 %, opens the detail page (both outputs ``Success`` with their FFmpeg
commands), plays the MP4 and an HLS preview, cancels a long job and gets a field error for a
bad Config. A second account sees none of it: 404s for the first account's pages and media,
and a form posted without its CSRF token is refused.

The screenshots of the list, detail and submit pages go to the test's output folder
(``MCFARM_TEST_OUTPUT``, by default ``var/test-output``) under ``console/``; the README shows
the same images (``docs/console/``).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page

from shared.config import Settings
from shared.examples import EXAMPLE_BUCKET
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, client_for, one_output_config, wait_job
from tests.servers.farm import FarmInfo
from tests.servers.players import chromium_binary, chromium_page, is_blank
from tests.servers.ports import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("MCFARM_TEST_OUTPUT") or ROOT / "var" / "test-output") / "console"
TERMINAL = ("Complete", "Error", "Cancelled")


def _clip(path: Path, size: str, seconds: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25"]
        + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds)]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
        + [str(path)],
        check=True,
        timeout=120,
    )
    return path


@pytest.fixture(scope="module")
def farm(local_farm: FarmInfo, tmp_path_factory) -> FarmInfo:
    """The local farm, its example bucket holding a 12 s sample (long enough to watch the
    progress bar move), and a 2-minute input for the job that gets cancelled."""
    if chromium_binary() is None:
        pytest.fail("chromium is not installed: run make test (it installs it)")
    tmp = tmp_path_factory.mktemp("console-media")
    storage = make_storage(Settings.from_env(local_farm.env))
    storage.ensure_bucket(EXAMPLE_BUCKET)
    sample = _clip(tmp / "sample-720p.mp4", "1280x720", 12)
    storage.upload(sample, StorageRef(kind="object", bucket=EXAMPLE_BUCKET, key=sample.name))
    long = _clip(tmp / "two-minutes.mp4", "320x240", 120)
    storage.upload(long, StorageRef(kind="object", bucket=MEDIA_BUCKET, key=long.name))
    SHOTS.mkdir(parents=True, exist_ok=True)
    return local_farm


def sign_in(page: Page, farm: FarmInfo, key_id: str, secret: str) -> None:
    page.goto(f"{farm.api_url}/console/jobs")  # not signed in: sent to the form
    assert "/console/sign-in" in page.url
    page.fill("#key_id", key_id)
    page.fill("#secret", secret)
    page.click("form button[type=submit]")
    page.wait_for_url("**/console/jobs")


def submit_form(page: Page, farm: FarmInfo, config: str | None = None, example: str = "") -> None:
    page.goto(f"{farm.api_url}/console/submit")
    if example:
        page.click(f"button[data-example='{example}']")
    if config is not None:
        page.fill("#Config", config)
    page.click("form.submit button[type=submit]")


def watch_row(page: Page, job_id: str, timeout: float = 180) -> dict:
    """Watch a job's row on the list page until it ends; what the row showed on the way."""
    row = page.locator(f"tr[data-job='{job_id}']")
    seen = {"etas": [], "percents": [], "shot": False}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # One read of the three, inside the page: read one by one, the poll could update
        # the row between them (an ETA seen with the next answer's 100 %).
        state, eta, percent = row.evaluate(
            "(r) => [r.dataset.state, r.querySelector('.eta').textContent.trim(),"
            " r.querySelector('progress').value]"
        )
        percent = int(percent)
        seen["percents"].append(percent)
        if eta and state == "Running":
            seen["etas"].append((percent, eta))
            if not seen["shot"]:
                page.screenshot(path=str(SHOTS / "list.png"))
                seen["shot"] = True
        if state in TERMINAL:
            seen["state"] = state
            return seen
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not end within {timeout} s on the list page: {seen}")


def plays(page: Page, selector: str, shot: Path) -> None:
    """The preview at ``selector`` plays: its currentTime advances, no player error, and its
    frame is not blank."""
    video = page.locator(selector)
    video.scroll_into_view_if_needed()
    page.evaluate("(v) => { v.muted = true; return v.play(); }", video.element_handle())
    page.wait_for_function("(v) => v.currentTime > 1", arg=video.element_handle(), timeout=30000)
    assert not video.get_attribute("data-error"), video.get_attribute("data-error")
    before = page.evaluate("(v) => v.currentTime", video.element_handle())
    time.sleep(0.5)
    assert page.evaluate("(v) => v.currentTime", video.element_handle()) > before
    video.screenshot(path=str(shot))
    assert not is_blank(shot)


def hls_config() -> dict:
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/long.mp4"}}],
        "OutputGroups": [
            {
                "Name": "hls",
                "GroupConfig": {
                    "Type": "Hls",
                    "ManifestName": "master",
                    "OutputFileBase": {"Type": "OSS", "Media": "oss://results/console-hls/"},
                },
                "Outputs": [
                    {
                        "Name": "480p",
                        "TemplateId": "S00000001-200021",
                        "OutputFileName": "video/480p",
                        "OverrideParams": {"MuxConfig": {"Segment": {"Duration": 2}}},
                    }
                ],
            }
        ],
    }


def test_the_console_from_sign_in_to_preview(farm: FarmInfo, tmp_path: Path) -> None:
    client = client_for(farm)
    with chromium_page(timeout=180, viewport=(1280, 860)) as page:
        sign_in(page, farm, farm.key_id, farm.secret)

        # The MP4 example, from the form, its progress bar watched on the list page.
        submit_form(page, farm, example="mp4-ladder")
        page.wait_for_url("**/console/jobs/*")
        job_id = page.url.rsplit("/", 1)[1]
        page.goto(f"{farm.api_url}/console/jobs")
        seen = watch_row(page, job_id)
        assert seen["state"] == "Complete", seen
        assert seen["etas"], f"no ETA was shown while the job ran: {seen['percents']}"
        assert all(0 < percent < 100 for percent, _ in seen["etas"]), seen["etas"]
        row = page.locator(f"tr[data-job='{job_id}']")
        assert row.locator(".percent").inner_text() == "100 %"
        assert row.locator("progress").get_attribute("value") == "100"
        _fits_a_phone(page)

        # Its detail: both outputs Success, each with its FFmpeg command and stderr tail.
        row.locator("a").click()
        page.wait_for_url(f"**/console/jobs/{job_id}")
        outputs = page.locator("section.output")
        assert outputs.count() == 2
        assert page.locator("section.output[data-status='Success']").count() == 2
        for i in range(2):
            output = outputs.nth(i)
            output.locator("details.ffmpeg summary").first.click()
            command = output.locator("pre.command").first.inner_text()
            assert command.startswith("ffmpeg ") and "libx264" in command, command
            # FFmpeg logs errors only: a clean run's stderr is empty, and the page says so.
            assert output.locator(".log-empty").count() == 1
            assert output.locator("dd code").filter(has_text="@").count() >= 1  # the worker
        assert "mp4 ladder example" in page.locator("pre.config").text_content()
        plays(page, "section.output[data-output='0'] video.preview", tmp_path / "mp4.png")
        page.screenshot(path=str(SHOTS / "detail.png"), full_page=True)

        # An HLS group plays in hls.js, its playlists and segments streamed by the console.
        hls_job = client.submit({"Config": hls_config()})["JobId"]
        assert wait_job(client, hls_job, farm)["State"] == "Complete"
        page.goto(f"{farm.api_url}/console/jobs/{hls_job}")
        plays(page, "section.package video.preview[data-player='hls']", tmp_path / "hls.png")

        # A long job is cancelled from its page.
        long_config = hls_config() | {"OutputGroups": []}
        long_config["Inputs"][0]["InputFile"]["Media"] = f"oss://{MEDIA_BUCKET}/two-minutes.mp4"
        long_config["Outputs"] = [
            {
                "Name": "long-720p",
                "TemplateId": "S00000001-200030",
                "OutputFile": {"Type": "OSS", "Media": "oss://results/console-long.mp4"},
            }
        ]
        submit_form(page, farm, config=_json(long_config))
        page.wait_for_url("**/console/jobs/*")
        long_job = page.url.rsplit("/", 1)[1]
        page.click("button[name=cancel]")
        page.wait_for_url(f"**/console/jobs/{long_job}")
        assert page.locator("section.job .state").first.inner_text() == "Cancelled"
        assert client.get(long_job)["State"] == "Cancelled"

        # A bad Config: the API's error, next to the field.
        page.goto(f"{farm.api_url}/console/submit")
        page.click("button[data-example='mp4-ladder']")
        page.screenshot(path=str(SHOTS / "submit.png"), full_page=True)
        submit_form(page, farm, config='{"Inputs": [], "Outputs": []}')
        error = page.locator("#Config-error")
        assert "InvalidParameter" in error.inner_text() and "Config" in error.inner_text()
        assert page.locator("#Config").get_attribute("aria-invalid") == "true"
        page.screenshot(path=str(SHOTS / "submit-error.png"))

    _second_account_sees_nothing(farm, job_id)


def _fits_a_phone(page: Page) -> None:
    """The list reads on a phone: nothing wider than the screen (rows become cards)."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(SHOTS / "list-phone.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 860})


def _json(value: dict) -> str:
    return json.dumps(value, indent=2)


def _second_account_sees_nothing(farm: FarmInfo, job_id: str) -> None:
    """Another account: none of the first one's jobs listed, 404s for its pages and media,
    and a form without the CSRF token refused; without a session, media answers 401."""
    with chromium_page(timeout=60) as page:
        media = f"{farm.api_url}/console/jobs/{job_id}/outputs/0/media"
        assert page.request.get(media).status == 401
        sign_in(page, farm, f"other{farm.key_id}", f"{farm.secret}x")
        assert page.locator(f"tr[data-job='{job_id}']").count() == 0
        assert job_id not in page.content()
        assert page.goto(f"{farm.api_url}/console/jobs/{job_id}").status == 404
        assert page.request.get(media).status == 404
        listed = page.goto(f"{farm.api_url}/console/jobs?JobId={job_id}")
        assert listed.status == 200 and page.locator("tr[data-job]").count() == 0
        refused = page.request.post(
            f"{farm.api_url}/console/submit", form={"Config": '{"Inputs": []}'}
        )
        assert refused.status == 403 and "CSRF" in refused.text()
        forged = page.request.post(
            f"{farm.api_url}/console/submit",
            form={"Config": '{"Inputs": []}', "csrf_token": "not-the-token"},
        )
        assert forged.status == 403


def test_mcfarm_up_prints_the_console_address(tmp_path: Path) -> None:
    """``make run`` (``mcfarm up``) names the console, and the address answers its sign-in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCFARM_")}
    env.update(
        MCFARM_VAR_DIR=str(tmp_path / "var"),
        MCFARM_API_BIND=f"127.0.0.1:{free_port()}",
        MCFARM_FLOWER_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    mcfarm = str(Path(sys.executable).with_name("mcfarm"))
    proc = subprocess.Popen(
        [mcfarm, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("Console:"):
                break
        address = lines[-1].split()[1]
        assert address == f"http://{env['MCFARM_API_BIND']}/console", lines
        with urllib.request.urlopen(address, timeout=10) as answer:  # redirected to sign in
            assert "/console/sign-in?next=" in answer.url
            assert "Access key ID" in answer.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        proc.stdout.close()


class Browserless:
    """The console over plain HTTP with a cookie jar: for what a browser does not show
    (status codes, headers, byte ranges)."""

    def __init__(self, farm: FarmInfo):
        self.base = f"{farm.api_url}/console"
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), _NoRedirect()
        )

    def call(self, path: str, form: dict | None = None, headers: dict | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def token(self, path: str) -> str:
        page = self.call(path)[2].decode()
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def sign_in(self, key_id: str, secret: str) -> int:
        token = self.token("/sign-in")
        form = {"csrf_token": token, "key_id": key_id, "secret": secret}
        return self.call("/sign-in", form)[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_media_ranges_resubmit_and_refusals(farm: FarmInfo) -> None:
    client = client_for(farm)
    job_id = client.submit({"Config": one_output_config("sample.mp4", "console/range.mp4")})[
        "JobId"
    ]
    assert wait_job(client, job_id, farm)["State"] == "Complete"
    web = Browserless(farm)
    assert web.sign_in(farm.key_id, "wrong") == 401
    assert web.call("/jobs")[0] == 302  # still signed out
    assert web.sign_in(farm.key_id, farm.secret) == 302

    media = f"/jobs/{job_id}/outputs/0/media"
    status, headers, whole = web.call(media)
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes" and int(headers["Content-Length"]) == len(whole)
    assert whole[4:8] == b"ftyp"
    status, headers, part = web.call(media, headers={"Range": "bytes=100-199"})
    assert (status, part) == (206, whole[100:200])
    assert headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    status, _, tail = web.call(media, headers={"Range": "bytes=-10"})
    assert (status, tail) == (206, whole[-10:])
    status, headers, _ = web.call(media, headers={"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
    assert web.call(f"/jobs/{job_id}/outputs/7/media")[0] == 404
    assert web.call(f"/jobs/{job_id}/groups/0/master.m3u8")[0] == 404  # it has no group
    assert web.call("/jobs/0123456789abcdef0123456789abcdef")[0] == 404

    # Resubmit: the same Config as a new job.
    token = web.token(f"/jobs/{job_id}")
    status, headers, _ = web.call(f"/jobs/{job_id}/resubmit", {"csrf_token": token})
    assert status == 302
    new_id = headers["Location"].rsplit("/", 1)[1]
    assert new_id != job_id
    assert client.get(new_id)["Config"] == client.get(job_id)["Config"]
    assert wait_job(client, new_id, farm)["State"] == "Complete"
    # A finished job cannot be cancelled: said on its page, not a 500.
    status, headers, _ = web.call(f"/jobs/{new_id}/cancel", {"csrf_token": token})
    assert status == 302
    assert "already Complete" in web.call(f"/jobs/{new_id}")[2].decode()

    # The pipeline filter and a bad page token, on the list.
    pipeline = client.get(job_id)["PipelineId"]
    listed = web.call(f"/jobs?PipelineId={pipeline}&Status=Complete")[2].decode()
    assert job_id in listed and new_id in listed
    assert job_id not in web.call("/jobs?PipelineId=no-such-pipeline")[2].decode()
    assert "InvalidParameter" in web.call("/jobs?NextPageToken=bogus")[2].decode()

    # Every answer carries the console's security headers.
    _, headers, _ = web.call("/jobs")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
