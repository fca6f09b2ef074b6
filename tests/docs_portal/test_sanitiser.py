"""Hostile Markdown and HTML, vectors × wrappers: nothing executable survives rendering.

Every output is parsed with html.parser (which decodes entities the way a browser does
for attribute values) and checked: only allowed tags, no event handler or style
attribute, and every URL-bearing attribute relative or http/https/mailto.
"""

import re
from html.parser import HTMLParser

import pytest

from docs_portal.rendering import TAGS as DOC_TAGS
from docs_portal.rendering import render_doc
from rollouts.markdown import ALLOWED_TAGS as SUMMARY_TAGS
from rollouts.markdown import render_markdown

HTML_VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    '<img """><script>alert(1)</script>">',
    '<img srcset="javascript:alert(1) 1x, https://e.com/x.png 2x">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math href="javascript:alert(1)">x</math>',
    '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">x</button></form>',
    '<input type="image" formaction="javascript:alert(1)" src="x">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    '<style>body{background:url("javascript:alert(1)")}</style>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    '<p style="behavior: url(x.htc)">x</p>',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&#x3A;alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href="java\x00script:alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="VBScript:msgbox(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="  &#14;  javascript:alert(1)">x</a>',
    '<a href="javascript:alert(1)"',
    '<a href="#" onclick="alert(1)">x</a>',
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    "<details open ontoggle=alert(1)>x</details>",
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    '<video><source onerror="alert(1)"></video>',
    "<audio src=x onerror=alert(1)>",
    "<p onmouseover=alert(1)>x</p>",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    "<isindex action=javascript:alert(1) type=image>",
    '<div><a href="javascript:alert(1)"><b>nested <i>tags</a></b></div>',
    "<b><i><u><s><script>alert(1)</script>",
    '<a href="https://ok.example/?q=<script>alert(1)</script>">ok</a>',
]

MARKDOWN_VECTORS = [
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6a;avascript&#x3a;alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x]( javascript:alert(1) )",
    "[x](java\tscript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](VbScRiPt:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](DATA:text/html,hi)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,AAAA)",
    '![x](https://e.com/x.png "t" onerror="alert(1)")',
    "<javascript:alert(1)>",
    "<JavaScript:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,hi>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x][r]\n\n[r]: <javascript:alert(1)> 'title'",
    "[x][r]\n\n[r]: data:text/html,<script>alert(1)</script>",
    "![x][r]\n\n[r]: javascript:alert(1)",
    "[r]\n\n[r]: vbscript:msgbox(1)",
    '[x](https://example.com "title" onclick="alert(1)")',
    '[x](https://example.com"onmouseover="alert(1))',
    "```\n<script>alert(1)</script>\n```",
    '```js" onmouseover="alert(1)\ncode\n```',
    "`<script>alert(1)</script>`",
    "# <img src=x onerror=alert(1)>",
    "| a |\n|---|\n| <script>alert(1)</script> |",
    "[<img src=x onerror=alert(1)>](https://example.com)",
    "~~<script>~~alert(1)",
    "> <iframe src=javascript:alert(1)>",
]

WRAPPERS = [
    "{}",
    "Before\n\n{}\n\nAfter",
    "# Heading {}\n\n{}",
    "- item {}",
    "> {}",
    "**{}**",
    "| h |\n|---|\n| {} |",
    "<div>{}</div>",
    "1. {}\n2. second",
]

CASES = [wrapper.replace("{}", vector) for vector in HTML_VECTORS + MARKDOWN_VECTORS for wrapper in WRAPPERS]

URL_ATTRIBUTES = {"href", "src", "srcset", "action", "formaction", "xlink:href", "background", "poster", "data", "cite"}
SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def url_is_safe(value: str) -> bool:
    """Read the URL as a browser does: it strips C0 controls and spaces around, and tabs and
    newlines anywhere, before it looks for a scheme."""
    url = re.sub(
        r"[\t\n\r]",
        "",
        value.strip(
            "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
            "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \t\n\r"
        ),
    )
    match = _SCHEME.match(url)
    return match is None or match.group(1).lower() in SAFE_SCHEMES


class Audit(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                urls = [part.strip().split(" ")[0] for part in value.split(",")] if name == "srcset" else [value]
                self.problems += [f"{name}={u!r} on <{tag}>" for u in urls if not url_is_safe(u)]

    handle_startendtag = handle_starttag


def audit(html: str) -> Audit:
    parser = Audit()
    parser.feed(html)
    parser.close()
    return parser


def test_hostile_corpus__large_enough():
    assert len(CASES) >= 200
    assert len(set(CASES)) == len(CASES)


@pytest.mark.parametrize(
    ("render", "allowed_tags"),
    [(lambda text: render_doc(text).html, DOC_TAGS), (render_markdown, SUMMARY_TAGS)],
    ids=["docs", "release-summary"],
)
def test_sanitiser__hostile_corpus__nothing_executable_survives(render, allowed_tags):
    failures = []
    links_kept = 0
    for case in CASES:
        html = render(case)
        result = audit(html)
        if "script" in result.tags:
            result.problems.append("<script>")
        unexpected = result.tags - set(allowed_tags)
        if unexpected:
            result.problems.append(f"tags {sorted(unexpected)}")
        if result.problems:
            failures.append((case, html, result.problems))
        links_kept += html.count('href="https://')
    assert not failures, "\n\n".join(f"{c!r}\n→ {h!r}\n{p}" for c, h, p in failures[:10])
    # Not vacuous: the safe links in the corpus still come through.
    assert links_kept > 0


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JAVASCRIPT:x", "java\tscript:x", "\x01vbscript:x", "data:x"])
def test_url_is_safe__dangerous_forms__caught(url):
    assert not url_is_safe(url)


@pytest.mark.parametrize("url", ["https://e.com", "/docs/", "#top", "mailto:a@e.com", "page?x=javascript:1"])
def test_url_is_safe__safe_forms__accepted(url):
    assert url_is_safe(url)
