"""The Spanish catalogue covers every UI string the site marks for translation."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "survey", method_map, options_map, keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_ui_string_has_a_spanish_translation():
    with (ROOT / "survey/translations/es/LC_MESSAGES/messages.po").open("rb") as po_file:
        catalog = read_po(po_file)
    translated = {
        (message.id[0] if isinstance(message.id, tuple) else message.id): message.string
        for message in catalog
        if message.id
    }
    extracted = _extracted()
    assert len(extracted) > 40  # the extraction itself found the templates and forms
    missing = sorted(message for message in extracted if not translated.get(message))
    assert not missing, f"no Spanish for {missing}; run pybabel extract/update as babel.cfg says"
    for english, spanish in translated.items():
        spanish = spanish[0] if isinstance(spanish, tuple) else spanish
        assert set(PLACEHOLDER.findall(english)) == set(PLACEHOLDER.findall(spanish)), english
