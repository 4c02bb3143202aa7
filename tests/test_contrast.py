"""The palette's contrast, computed from static/css/portal.css (WCAG 2.1 AA: 1.4.3 and 1.4.11).

Every colour is a custom property of ``:root``; rules use ``var(--name)``. For each rule that sets
a text colour, the background it sits on is the rule's own, else that of the nearest rule for an
ancestor in its selector (``.topbar`` for ``.topbar nav a``), else any light background of the
palette: so a new light background is checked against every text colour, and a new text colour
against every light background. Text needs 4.5:1 (3:1 when large); focus rings and the borders of
controls need 3:1 against what surrounds them.
"""

import re
from pathlib import Path

CSS = Path(__file__).resolve().parent.parent / "static" / "css" / "portal.css"
TEXT, LARGE_TEXT, NON_TEXT = 4.5, 3.0, 3.0
COLOUR_PROPERTIES = re.compile(
    r"^(color|background(-color)?|border(-\w+)*|outline(-color)?|fill|accent-color|box-shadow"
    r"|text-decoration(-color)?)$"
)
COLOUR_LITERAL = re.compile(
    r"#[0-9a-f]{3,8}\b|\b(rgba?|hsla?)\(|\b(white|black|red|green|blue|gr[ae]y|yellow|orange)\b",
    re.IGNORECASE,
)
VAR = re.compile(r"var\((--[\w-]+)\)")
CONTROLS = re.compile(r"\b(input|select|textarea|button)\b|\.button\b|\.btn\b")


def relative_luminance(hex_colour):
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first, second):
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def parse(css):
    """``(palette, rules)``: the ``:root`` custom properties, and each rule as ``(selector,
    declarations)``, one entry per selector of a selector list, @media blocks flattened."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    palette, rules = {}, []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = {}
        for declaration in body.split(";"):
            name, _, value = declaration.partition(":")
            if value.strip():
                declarations[name.strip()] = value.strip()
        selectors = selectors.strip()
        if selectors == ":root":
            palette.update(declarations)
            continue
        for selector in selectors.split(","):
            rules.append((" ".join(selector.split()), declarations))
    return palette, rules


PALETTE, RULES = parse(CSS.read_text())


def colour_of(declarations, *properties):
    """The palette name a rule gives one of ``properties``, or None."""
    for name in properties:
        found = VAR.search(declarations.get(name, ""))
        if found:
            return found.group(1)
    return None


def background_of(declarations):
    return colour_of(declarations, "background", "background-color")


def is_light(name):
    return relative_luminance(PALETTE[name]) >= 0.4


LIGHT_BACKGROUNDS = sorted(
    {name for _, decl in RULES if (name := background_of(decl)) and is_light(name)}
    | {"--bg", "--surface"}
)


def ancestors(selector):
    """``.a .b > c:hover`` -> [".a .b", ".a"]: the selectors of its ancestors, nearest first."""
    parts = re.split(r"\s*[ >]\s*", selector)
    return [" ".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def inherited(selector, find):
    """What the nearest ancestor rule declares (``find(declarations)``), or None."""
    for ancestor in ancestors(selector):
        for other, declarations in RULES:
            if other == ancestor and (value := find(declarations)):
                return value
    return None


def surrounding_backgrounds(selector):
    found = inherited(selector, background_of)
    return [found] if found else LIGHT_BACKGROUNDS


def is_large(declarations):
    size = re.match(r"([\d.]+)rem", declarations.get("font-size", ""))
    bold = declarations.get("font-weight", "") in ("bold", "700", "800", "900")
    return bool(size) and (float(size.group(1)) >= 1.5 or bold and float(size.group(1)) >= 1.17)


def text_pairs():
    """(selector, text colour, background, needed ratio) for every rule that sets either."""
    pairs = []
    for selector, declarations in RULES:
        text = colour_of(declarations, "color")
        background = background_of(declarations)
        if not text and not background or declarations.get("content") in ('""', "''"):
            continue  # no colour, or a drawn shape (a timeline dot) that holds no text
        if not text:
            text = inherited(selector, lambda d: colour_of(d, "color")) or "--text"
        backgrounds = [background] if background else surrounding_backgrounds(selector)
        needed = LARGE_TEXT if is_large(declarations) else TEXT
        pairs += [(selector, text, each, needed) for each in backgrounds]
    return pairs


def line_pairs():
    """(selector, line colour, background) for focus rings and the borders of controls; the
    line sits outside the element, on what surrounds it."""
    pairs = []
    for selector, declarations in RULES:
        lines = []
        if ":focus" in selector:
            lines.append(colour_of(declarations, "outline", "outline-color"))
        if CONTROLS.search(selector):
            lines.append(colour_of(declarations, "border", "border-color"))
        for line in filter(None, lines):
            pairs += [(selector, line, each) for each in surrounding_backgrounds(selector)]
    return pairs


def test_the_calculation_matches_the_known_ratio_of_the_old_muted_grey():
    assert round(contrast("#6b7280", "#f5f6f8"), 2) == 4.47
    assert round(contrast("#000", "#fff"), 0) == 21


def test_colours_are_named_in_the_palette_and_nowhere_else():
    literals = [
        f"{selector} {{ {name}: {value} }}"
        for selector, declarations in RULES
        for name, value in declarations.items()
        if COLOUR_PROPERTIES.match(name) and COLOUR_LITERAL.search(value)
    ]
    assert literals == []
    used = {name for _, decl in RULES for value in decl.values() for name in VAR.findall(value)}
    assert used - set(PALETTE) == set(), "var() of a colour the palette does not define"


def test_the_sweep_of_pairs_covers_the_muted_text_on_the_page_background():
    pairs = {(text, background) for _, text, background, _ in text_pairs()}
    assert ("--muted", "--bg") in pairs
    assert ("--on-dark", "--primary-dark") in pairs
    assert len(LIGHT_BACKGROUNDS) >= 5


def test_text_is_readable_on_its_background():
    too_faint = [
        f"{selector}: {text} on {background} is {ratio:.2f}:1, needs {needed}:1"
        for selector, text, background, needed in text_pairs()
        if (ratio := contrast(PALETTE[text], PALETTE[background])) < needed
    ]
    assert too_faint == []


def test_focus_rings_and_control_borders_stand_out():
    too_faint = [
        f"{selector}: {line} against {background} is {ratio:.2f}:1, needs {NON_TEXT}:1"
        for selector, line, background in line_pairs()
        if (ratio := contrast(PALETTE[line], PALETTE[background])) < NON_TEXT
    ]
    assert too_faint == []
    assert any(":focus" in selector for selector, _, _ in line_pairs())
