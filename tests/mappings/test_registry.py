"""Every bundled profile validates and maps its example record (open311-adapter's uk.t habit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings import bundled_profiles, load_profile, validate_file
from mappings.xml_records import parse_lagan_xml
from tests.mappings.conftest import FIXTURES, record

PROFILES = sorted(bundled_profiles())


def test_both_crm_profiles_are_bundled() -> None:
    assert PROFILES == ["dynamics365", "lagan"]


@pytest.mark.parametrize("name", PROFILES)
def test_bundled_profile_validates(name: str) -> None:
    assert validate_file(bundled_profiles()[name]) == []


@pytest.mark.parametrize("name", PROFILES)
def test_bundled_profile_maps_its_example_record(name: str) -> None:
    example = FIXTURES / f"{name}_case.json"
    assert example.is_file(), f"every bundled profile needs an example record at {example}"
    mapping = load_profile(name)
    case = mapping.to_caseload(record(example.name))
    assert case.crm_reference
    assert mapping.to_caseload(mapping.to_record(case)) == case
    assert mapping.to_crm(case)
    assert mapping.to_crm(case, for_update=True)


@pytest.mark.parametrize("name", PROFILES)
def test_bundled_profile_names_the_crm_it_is_for(name: str) -> None:
    assert load_profile(name).crm == name


def test_lagan_xml_example_maps_like_its_json_twin() -> None:
    mapping = load_profile("lagan")
    from_xml = parse_lagan_xml((FIXTURES / "lagan_case.xml").read_bytes())
    assert mapping.to_caseload(from_xml) == mapping.to_caseload(record("lagan_case.json"))


def test_profile_files_are_packaged_beside_the_code() -> None:
    for path in bundled_profiles().values():
        assert Path(path).parent.name == "profiles"
