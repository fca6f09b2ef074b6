"""Doc rendering: CommonMark with tables and fenced code, heading anchors, table of contents."""

from docs_portal.rendering import render_doc


def test_render_doc__headings__stable_unique_anchors_with_self_links_and_toc():
    # Given headings with repeats, markup, punctuation only and a reserved id
    text = "# Install *now*\n\n## Install now\n\n## !!!\n\n## Flash\n\n### Step `one`"
    # When rendered
    rendered = render_doc(text)
    # Then every heading has its own id, a self-link, and a place in the table of contents
    assert [(h.level, h.text, h.anchor) for h in rendered.toc] == [
        (1, "Install now", "install-now"),
        (2, "Install now", "install-now-1"),
        (2, "!!!", "section"),
        (2, "Flash", "flash-1"),  # "flash" is the id of the layout's message area
        (3, "Step one", "step-one"),
    ]
    assert '<h1 id="install-now">Install <em>now</em> <a href="#install-now" class="anchor"' in rendered.html
    assert 'aria-label="Link to this section: Step one"' in rendered.html
    assert render_doc(text).toc == rendered.toc  # stable: the same text gives the same anchors


def test_render_doc__tables_fenced_code_strikethrough__rendered():
    text = "| a | b |\n|:-|-:|\n| 1 | 2 |\n\n```python\nprint('<b>')\n```\n\n~~old~~ new"
    html = render_doc(text).html
    assert '<th class="align-left">a</th>' in html and '<td class="align-right">2</td>' in html
    assert 'style="' not in html
    assert "<pre><code class=\"language-python\">print('&lt;b&gt;')" in html
    assert "<s>old</s> new" in html


def test_render_doc__links_and_images__safe_schemes_kept():
    html = render_doc(
        "[a](https://example.com) [b](/docs/x/) [c](#top) [d](mailto:x@example.com) ![i](https://e.com/i.png)"
    ).html
    for href in ('href="https://example.com"', 'href="/docs/x/"', 'href="#top"', 'href="mailto:x@example.com"'):
        assert href in html
    assert '<img src="https://e.com/i.png" alt="i">' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_render_doc__base_url__relative_links_made_absolute():
    html = render_doc("[x](/docs/guide/)", base_url="https://flightdeck.example/").html
    assert 'href="https://flightdeck.example/docs/guide/"' in html


def test_render_doc__raw_html__shown_as_text():
    html = render_doc('Hello <b onclick="x()">there</b>').html
    assert "&lt;b onclick=" in html and "<b" not in html
