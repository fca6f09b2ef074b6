"""Templates carry no inline script or event handler: behaviour lives in static/js/app.js,
so the strict Content-Security-Policy (no 'unsafe-inline' or 'unsafe-eval' for scripts,
settings "Security") holds. Nor anything htmx would have to eval (it runs with allowEval
off): trigger filters, hx-on, js: values. Nor an inline <style> element."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
HTMX_EVAL = re.compile(r"""\b(?:data-)?hx-on[:-]|\bhx-(?:vals|vars)\s*=\s*["']\s*js:""", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b", re.IGNORECASE)
HX_TRIGGER = re.compile(r"""\bhx-trigger\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
TRIGGER_SELECTOR = re.compile(r"\b(?:from|target):\S+")  # from:input[name=q] is a CSS selector


def trigger_filters(text: str):
    """hx-trigger values with an event filter ("every 5s [cond]"), which htmx evaluates."""
    for match in HX_TRIGGER.finditer(text):
        if "[" in TRIGGER_SELECTOR.sub("", match.group(2)):
            yield match


def test_templates__no_inline_script_or_handler():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        matches = [m for pattern in (INLINE_SCRIPT, HANDLER, HTMX_EVAL, INLINE_STYLE) for m in pattern.finditer(text)]
        for match in matches + list(trigger_filters(text)):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(TEMPLATES)}:{line}: {match.group(0)[:80]}")
    assert not found, "inline JavaScript or style in templates:\n" + "\n".join(found)


def test_trigger_filters__filter_found__selector_not():
    assert list(trigger_filters("""<div hx-trigger="every 5s [ready()]">"""))
    assert list(trigger_filters("""<div hx-trigger="click[ctrlKey]">"""))
    assert not list(trigger_filters("""<form hx-trigger="input changed delay:300ms from:input[name=q], submit">"""))
