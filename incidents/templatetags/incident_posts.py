"""Showing Microsoft's post HTML as text: tags removed, never marked safe."""

import html
import re

from django import template
from django.utils.html import strip_tags

register = template.Library()

SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
LINE_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|/tr|/ul|/ol)\b[^>]*>", re.IGNORECASE)
LIST_ITEM = re.compile(r"<\s*li\b[^>]*>", re.IGNORECASE)
BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(value):
    """Plain text of a post: paragraphs and list items kept as lines, everything else dropped.

    The result is ordinary text; the template escapes it like any other value.
    """
    text = SCRIPT_OR_STYLE.sub("", value or "")
    text = LINE_BREAK.sub("\n", text)
    text = LIST_ITEM.sub("• ", text)
    text = html.unescape(strip_tags(text))
    text = "\n".join(line.strip() for line in text.replace("\r", "").split("\n"))
    return BLANK_LINES.sub("\n\n", text).strip()


@register.filter
def post_text(value):
    return html_to_text(value)
