"""The macro memo gives exactly what the govuk macro gives, keeps Markup apart from text, and
stays bounded."""

from __future__ import annotations

from markupsafe import Markup

from portal_extensions.web.rendering import MacroMemo, make_environment

TEMPLATE = (
    '{% from "govuk_frontend_jinja/components/tag/macro.html" import govukTag %}'
    '{% from "govuk_frontend_jinja/components/button/macro.html" import govukButton %}'
    "{{ govukTag(params) }}|{{ memo(govukTag, params) }}|"
    "{{ govukButton(button) }}|{{ memo(govukButton, button) }}"
)


def test_memoised_calls_render_exactly_as_direct_calls() -> None:
    env = make_environment()
    template = env.from_string(TEMPLATE)
    for params in (
        {"text": "Open", "classes": "govuk-tag--blue"},
        {"text": "<b>Open</b>"},  # text is escaped
        {"html": Markup("<b>Open</b>")},  # html is not
    ):
        button = {"text": params.get("text", "Go"), "preventDoubleClick": True}
        for _ in range(2):  # the second time from the memo
            direct_tag, memo_tag, direct_button, memo_button = template.render(
                params=params, button=button
            ).split("|")
            assert memo_tag == direct_tag and memo_button == direct_button
    assert "&lt;b&gt;" in make_environment().from_string(TEMPLATE).render(
        params={"text": "<b>x</b>"}, button={"text": "Go"}
    )


def test_text_and_markup_with_the_same_characters_are_different_keys() -> None:
    env = make_environment()
    template = env.from_string(
        '{% from "govuk_frontend_jinja/components/tag/macro.html" import govukTag %}'
        "{{ memo(govukTag, {'text': value}) }}"
    )
    as_text = template.render(value="<i>x</i>")
    as_markup = template.render(value=Markup("<i>x</i>"))
    assert "&lt;i&gt;" in as_text and "<i>x</i>" in as_markup


def test_the_memo_is_bounded() -> None:
    env = make_environment()
    memo = MacroMemo(size=3)
    env.globals["memo"] = memo
    template = env.from_string(
        '{% from "govuk_frontend_jinja/components/tag/macro.html" import govukTag %}'
        "{{ memo(govukTag, {'text': value}) }}"
    )
    for n in range(10):
        assert f"Status {n}" in template.render(value=f"Status {n}")
    assert len(memo._rendered) <= 3
