"""Doc pages and release notes as safe HTML, with heading anchors and a table of contents.

Markdown goes through markdown-it (CommonMark, tables, strikethrough; raw HTML is shown as
text, never as markup) and then through nh3 with a short allow-list. The second step is
what makes the output safe, whoever wrote the page: only the tags and attributes below
survive, and a URL survives only when it is relative or uses http, https or mailto.
"""

import re
from dataclasses import dataclass, field

import nh3
from django.utils.text import slugify
from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

URL_SCHEMES = {"http", "https", "mailto"}

TAGS = {
    "p", "br", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "img",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip

ATTRIBUTES = {
    "a": {"href", "title", "class", "aria-label"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
    "th": {"class"},
    "td": {"class"},
    **{f"h{n}": {"id"} for n in range(1, 7)},
}

# Ids the page layout itself uses; a heading never takes one of them.
RESERVED_IDS = {
    "flash", "main", "content", "toc", "toc-title", "doc", "doc-body", "draft-notice", "history", "links",
    "search", "results", "result-count", "docs-q", "preview", "diff", "field-changes", "linked-pages",
    "release-notes", "link-form", "no-docs", "no-entries", "docs", "release-body", "timeline", "actions",
}  # fmt: skip

_ANCHOR_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,80}")
_CLASS_RULES = {
    "a": re.compile(r"anchor"),
    "code": re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}"),
    "th": re.compile(r"align-(left|center|right)"),
    "td": re.compile(r"align-(left|center|right)"),
}
_ALIGN_RE = re.compile(r"text-align:(left|center|right)")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[Heading] = field(default_factory=list)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Second line of defence for the few attributes whose values we produce ourselves."""
    if attr == "class":
        rule = _CLASS_RULES.get(tag)
        return value if rule is not None and rule.fullmatch(value) else None
    if attr == "id":
        return value if _ANCHOR_RE.fullmatch(value) else None
    if attr == "start":
        return value if value.isdigit() and len(value) < 10 else None
    return value


def clean_html(html: str, *, base_url: str | None = None) -> str:
    """Sanitise HTML that our renderer produced. `base_url` makes relative links absolute
    (feeds are read away from the site)."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        url_relative=("rewrite_with_base", base_url) if base_url else None,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _inline_text(token: Token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def _anchor_for(text: str, taken: set[str]) -> str:
    base = slugify(text)[:60].strip("-_") or "section"
    if not base[0].isalnum():
        base = f"s-{base}"
    anchor, n = base, 1
    while anchor in taken or anchor in RESERVED_IDS:
        anchor = f"{base}-{n}"
        n += 1
    taken.add(anchor)
    return anchor


def _decorate(tokens: list[Token]) -> list[Heading]:
    """Give headings stable, unique ids and a self-link; turn table alignment into classes."""
    toc: list[Heading] = []
    taken: set[str] = set()
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[i + 1]
            text = _inline_text(inline)
            anchor = _anchor_for(text, taken)
            token.attrSet("id", anchor)
            level = int(token.tag[1])
            toc.append(Heading(level=level, text=text, anchor=anchor))
            link_open = Token("link_open", "a", 1, attrs={"href": f"#{anchor}", "class": "anchor"})
            link_open.attrSet("aria-label", f"Link to this section: {text}"[:200])
            inline.children = [
                *(inline.children or []),
                Token("text", "", 0, content=" "),
                link_open,
                Token("text", "", 0, content="#"),
                Token("link_close", "a", -1),
            ]
        elif token.type in ("th_open", "td_open"):
            style = token.attrGet("style")
            if style:
                token.attrs.pop("style", None)
                match = _ALIGN_RE.fullmatch(str(style))
                if match:
                    token.attrSet("class", f"align-{match.group(1)}")
    return toc


def render_doc(text: str, *, base_url: str | None = None) -> Rendered:
    """A doc page (or release notes) as sanitised HTML plus its table of contents."""
    env: dict = {}
    tokens = _md.parse(text or "", env)
    toc = _decorate(tokens)
    html = _md.renderer.render(tokens, _md.options, env)
    return Rendered(html=clean_html(html, base_url=base_url), toc=toc)


def render_notes(text: str, *, base_url: str | None = None) -> str:
    return render_doc(text, base_url=base_url).html


_MD_NOISE = re.compile(r"(^|\n)\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+|[*`~|]+|__+|!?\[([^\]]*)\]\([^)]*\)")


def plain_text(markdown: str) -> str:
    """Markdown source with the common markup removed, for snippets and summaries."""
    return re.sub(
        r"\s+", " ", _MD_NOISE.sub(lambda m: m.group(3) or (m.group(1) and " ") or "", markdown or "")
    ).strip()
