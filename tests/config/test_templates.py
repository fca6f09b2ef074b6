"""Templates carry no inline script or event handler: behaviour lives in static/js/app.js,
so a strict Content-Security-Policy (no 'unsafe-inline' for scripts) can be turned on."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def test_templates__no_inline_script_or_handler():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, HANDLER):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(TEMPLATES)}:{line}: {match.group(0)[:80]}")
    assert not found, "inline JavaScript in templates:\n" + "\n".join(found)
