import re

import pytest

from rollouts.markdown import render_markdown
from rollouts.models import Release

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[data](data:text/html;base64,PHNjcmlwdD4=)",
        '<a href="javascript:alert(1)">x</a>',
        "[x](<javascript:alert(1)>)",
    ],
)
def test_render_markdown__hostile_input__nothing_executable_survives(evil):
    html = render_markdown(evil)
    assert "<script" not in html and "<img" not in html  # shown as text, never as markup
    assert not re.search(r"<a\s[^>]*href=\"(javascript|data):", html)


def test_render_markdown__ordinary_text__formatted():
    html = render_markdown("**Bold** and a [link](https://example.com)\n\n- one\n- two")
    assert "<strong>Bold</strong>" in html
    assert 'href="https://example.com"' in html and "noopener" in html
    assert "<li>one</li>" in html


def test_release_page__summary_markdown_rendered_and_sanitised(manager_client, release):
    Release.objects.filter(pk=release.pk).update(summary="**New** checkout <script>alert(1)</script>")
    page = manager_client.get("/releases/checkout/").content.decode()
    assert "<strong>New</strong> checkout" in page
    assert "<script>alert(1)" not in page
