"""ListSystemTemplates filters and paging over the preset catalog (no sockets)."""

from __future__ import annotations

import pytest

from shared.catalog import SYSTEM_TEMPLATES, int_list_param, int_param, list_system_templates
from shared.errors import ApiError

ALL_IDS = sorted(SYSTEM_TEMPLATES)


def _ids(page) -> list[str]:
    return [t.template_id for t in page]


def test_default_page_is_the_first_20_by_id():
    page, total = list_system_templates(types="1")
    assert total == len(SYSTEM_TEMPLATES)
    assert _ids(page) == ALL_IDS[:20]


def test_pages_cover_everything_once():
    seen = []
    number = 1
    while True:
        page, total = list_system_templates(types=1, page_number=number, page_size=7)
        if not page:
            break
        assert len(page) <= 7 and total == len(ALL_IDS)
        seen += _ids(page)
        number += 1
    assert seen == ALL_IDS


def test_page_size_bounds():
    assert len(list_system_templates(types="1", page_size=1)[0]) == 1
    page, total = list_system_templates(types="1", page_size="100")
    assert _ids(page) == ALL_IDS and total == len(ALL_IDS)
    assert list_system_templates(types="1", page_number=99) == ([], len(ALL_IDS))


def test_type_list_only_type_1_has_entries():
    assert list_system_templates(types="2") == ([], 0)
    assert list_system_templates(types="2,3,11") == ([], 0)
    assert list_system_templates(types="2, 1")[1] == len(ALL_IDS)
    assert list_system_templates(types="1,")[1] == len(ALL_IDS)


def test_subtype_filter():
    page, total = list_system_templates(types="1", subtype="2")
    assert total == 5 and all(t.subtype == 2 for t in page)
    assert {t.name for t in page} == {"MP3-320", "MP3-192", "MP3-160", "MP3-128", "MP3-64"}
    page, total = list_system_templates(types="1", subtype=3)
    assert total == 3 and {t.to_wire()["SubtypeName"] for t in page} == {"Remux"}
    assert list_system_templates(types="1", subtype="2,3")[1] == 8
    assert list_system_templates(types="1", subtype="5") == ([], 0)


def test_template_id_and_name_filters():
    page, total = list_system_templates(types="1", template_id="S00000001-100060")
    assert total == 1 and page[0].name == "M3U8-2K"
    assert list_system_templates(types="1", template_id="S00000001-999999") == ([], 0)
    page, total = list_system_templates(types="1", name="h.265", page_size=100)
    assert total == 6 and all("H.265" in t.name for t in page)
    page, total = list_system_templates(types="1", name="COPY")
    assert total == 3 and {t.name for t in page} == {"FLV-COPY", "M3U8-COPY", "MP4-COPY"}
    assert list_system_templates(types="1", name="-COPY", subtype=1) == ([], 0)


def test_status_filter():
    assert list_system_templates(types="1", status="Invisible") == ([], 0)
    assert list_system_templates(types="1", status="All")[1] == len(ALL_IDS)
    assert list_system_templates(types="1", status=None)[1] == len(ALL_IDS)
    assert list_system_templates(types="1", status="")[1] == len(ALL_IDS)


def test_wire_shape_of_listed_templates():
    page, _ = list_system_templates(types="1", template_id="S00000001-300050")
    wire = page[0].to_wire()
    assert set(wire) == {
        "TemplateId",
        "TemplateName",
        "Type",
        "TypeName",
        "Subtype",
        "SubtypeName",
        "Status",
        "TemplateConfig",
    }
    assert (wire["Type"], wire["Subtype"], wire["Status"]) == (1, 2, "Normal")


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"types": None}, "MissingParameter", "Type"),
        ({"types": ""}, "MissingParameter", "Type"),
        ({"types": "x"}, "InvalidParameter", "Type"),
        ({"types": "1,x"}, "InvalidParameter", "Type"),
        ({"types": ","}, "InvalidParameter", "Type"),
        ({"types": "0"}, "InvalidParameter", "Type"),
        ({"types": "12"}, "InvalidParameter", "Type"),
        ({"types": 1.0}, "InvalidParameter", "Type"),
        ({"types": "1", "subtype": "a"}, "InvalidParameter", "Subtype"),
        ({"types": "1", "subtype": 0}, "InvalidParameter", "Subtype"),
        ({"types": "1", "status": "normal"}, "InvalidParameter", "Status"),
        ({"types": "1", "status": "Hidden"}, "InvalidParameter", "Status"),
        ({"types": "1", "page_number": 0}, "InvalidParameter", "PageNumber"),
        ({"types": "1", "page_number": "-1"}, "InvalidParameter", "PageNumber"),
        ({"types": "1", "page_size": 0}, "InvalidParameter", "PageSize"),
        ({"types": "1", "page_size": 101}, "InvalidParameter", "PageSize"),
        ({"types": "1", "page_size": "ten"}, "InvalidParameter", "PageSize"),
        ({"types": "1", "page_size": True}, "InvalidParameter", "PageSize"),
    ],
)
def test_bad_input_names_the_field(kwargs, code, field):
    with pytest.raises(ApiError) as excinfo:
        list_system_templates(**kwargs)
    assert (excinfo.value.code, excinfo.value.http_status) == (code, 400)
    assert excinfo.value.message.split('"')[1] == field


def test_omitted_paging_uses_defaults():
    page, total = list_system_templates(types="1", page_number=None, page_size="")
    assert _ids(page) == ALL_IDS[:20] and total == len(ALL_IDS)


def test_int_helpers():
    assert int_param(" 7 ", "F", 1, 10) == 7
    assert int_param("+3", "F", 1, 10) == 3
    assert int_list_param("1, 2,3", "F", 1, 10) == [1, 2, 3]
    assert int_list_param(4, "F", 1, 10) == [4]
    with pytest.raises(ApiError):
        int_param(None, "F", 1, 10)
