"""Request bodies: JSON, without NUL characters.

PostgreSQL stores no NUL in text or jsonb, and no field of ours means one, so a body that
holds one anywhere (a key or a value, however deep) is refused as malformed up front
instead of failing in the database.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise ParseError("JSON parse error - strings must not contain NUL (\\u0000) characters.")
        return data
