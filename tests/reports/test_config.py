"""`[reports]` in caseload.toml: the small-count threshold, checked like every setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal_extensions.config import ConfigError, load_config


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "caseload.toml"
    path.write_text(text)
    return load_config(path, need_crm=False, environ=environ or {})


def test_the_threshold_defaults_to_five_and_is_read_from_the_file_or_the_environment(
    tmp_path: Path,
) -> None:
    assert _load(tmp_path, "").reports.small_count_threshold == 5
    assert (
        _load(tmp_path, "[reports]\nsmall_count_threshold = 10\n").reports.small_count_threshold
        == 10
    )
    from_env = _load(tmp_path, "", {"CASELOAD_REPORTS_SMALL_COUNT_THRESHOLD": "3"})
    assert from_env.reports.small_count_threshold == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[reports]\nsmall_count_treshold = 5\n", "did you mean reports.small_count_threshold?"),
        ("[reports]\nsmall_count_threshold = 0\n", "reports.small_count_threshold"),
        ("[report]\nsmall_count_threshold = 5\n", "did you mean [reports]?"),
    ],
)
def test_a_wrong_setting_is_refused_with_a_suggestion(tmp_path: Path, text, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("?", r"\?")):
        _load(tmp_path, text)
