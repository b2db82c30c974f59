"""What a submit answers is the job as stored: ``JobStore.create_record`` builds its record
from what it wrote, and that record equals the one read back from the real store."""

from __future__ import annotations

import pytest

from shared.catalog import get_system_template
from shared.config import Settings
from shared.planning import plan_groups, plan_outputs
from shared.schemas import load_config
from shared.stores import Stores

pytestmark = pytest.mark.e2e

SETTINGS = Settings(storage_root="/srv/storage")
SOURCE = {"InputFile": {"Type": "OSS", "Media": "oss://media/in.mp4"}}
MARK = {"Type": "Text", "Content": "mcfarm", "FontSize": 24, "X": 10, "Y": 10}


def _resolve(template_id: str) -> dict | None:
    template = get_system_template(template_id)
    return template.config_dict() if template else None


CONFIGS = {
    "one output": {
        "Inputs": [SOURCE],
        "Outputs": [
            {
                "Name": "hd",
                "TemplateId": "S00000001-200030",
                "OutputFile": {"Type": "OSS", "Media": "oss://out/{JobId}.mp4"},
            }
        ],
    },
    "a watermarked output and an Hls group": {
        "Inputs": [SOURCE],
        "Outputs": [
            {
                "Name": "marked",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": "oss://out/marked.mp4"},
                "Features": {"Watermarks": [MARK]},
            }
        ],
        "OutputGroups": [
            {
                "Name": "hls",
                "GroupConfig": {
                    "Type": "Hls",
                    "ManifestName": "master",
                    "OutputFileBase": {"Type": "OSS", "Media": "oss://out/pkg/"},
                },
                "Outputs": [
                    {"Name": "480p", "TemplateId": "S00000001-100020", "OutputFileName": "v/480p"},
                    {"Name": "720p", "TemplateId": "S00000001-100030", "OutputFileName": "v/720p"},
                ],
            }
        ],
    },
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_created_record_is_the_stored_one(redis_base, name):
    jobs = Stores.connect(f"{redis_base}/19").jobs
    loaded = load_config(CONFIGS[name])
    specs = plan_outputs(loaded, _resolve, SETTINGS)
    groups = plan_groups(loaded, specs)
    doc = {"Config": CONFIGS[name], "UserData": '{"k": 1}', "PipelineId": "p" * 32}
    job_id = f"{len(specs):032x}"
    created, _ = jobs.create_record(
        job_id=job_id, owner="acct", doc=doc, specs=specs, fingerprint="f", groups=groups
    )
    assert created == jobs.get(job_id)
    assert len(created.outputs) == len(specs) and len(created.group_states) == len(groups)
