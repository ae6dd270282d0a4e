"""Every text of the documentation parses as Ansible markup, and no markup ends early.

ansible-doc and antsibull-docs end ``C(...)`` at the first ``)``: ``C(contains('a'))`` shows as
``contains('a'`` followed by a stray ``)``. The parser accepts that silently, so this test parses each
description, note and return-value text of the modules, the doc fragments and the role's argument specs with
antsibull-docs-parser (strictly: an unknown or unclosed markup is an error) and fails when the content of a
markup holds unbalanced brackets or quotes. A value with ``)`` in it belongs in ``V()``, which takes ``\\)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from antsibull_docs_parser import dom
from antsibull_docs_parser.parser import Context, parse

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
FRAGMENTS = sorted(p for p in (REPO_ROOT / "plugins" / "doc_fragments").glob("*.py") if p.name != "__init__.py")
ROLE_SPECS = sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml"))

# Keys whose values are rendered as markup (a string or a list of strings).
MARKUP_KEYS = frozenset(("description", "short_description", "notes", "requirements", "seealso", "todo"))
PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {closer: opener for opener, closer in PAIRS.items()}


def _doc_strings(path: Path) -> dict[str, str]:
    """The module-level string constants of a plugin file (DOCUMENTATION, RETURN, a fragment's extra ones)."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.ClassDef):  # a doc fragment: class ModuleDocFragment, DOCUMENTATION = r"""..."""
            for item in node.body:
                if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str):
                    found.update((t.id, item.value.value) for t in item.targets if isinstance(t, ast.Name))
            continue
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.update((t.id, node.value.value) for t in targets if isinstance(t, ast.Name))
    return {name: text for name, text in found.items() if name != "EXAMPLES" and name.isupper()}


def _markup_texts(value, where: str):
    """(where, text) for every string under a markup key, anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}"
            if key in MARKUP_KEYS:
                yield from _strings(item, here)
            if isinstance(item, (dict, list)):
                yield from _markup_texts(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _markup_texts(item, f"{where}[{index}]")


def _strings(value, where: str):
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield f"{where}[{index}]", item
            elif isinstance(item, dict) and isinstance(item.get("description"), str):
                yield f"{where}[{index}].description", item["description"]


def _all_texts():
    for path in MODULES + FRAGMENTS:
        for name, text in _doc_strings(path).items():
            doc = yaml.safe_load(text)
            yield from ((f"{path.relative_to(REPO_ROOT)} {name}{where}", s) for where, s in _markup_texts(doc, ""))
    for path in ROLE_SPECS:
        doc = yaml.safe_load(path.read_text())
        yield from ((f"{path.relative_to(REPO_ROOT)}{where}", s) for where, s in _markup_texts(doc, ""))


def unbalanced(text: str) -> str | None:
    """Why the content of a markup looks cut short (brackets or quotes that do not pair up), or None."""
    stack = []
    for char in text:
        if char in PAIRS:
            stack.append(char)
        elif char in CLOSERS:
            if not stack or stack.pop() != CLOSERS[char]:
                return f"{char!r} closes nothing"
    if stack:
        return f"{stack[-1]!r} is never closed"
    for quote in ("'", '"', "`"):
        if text.count(quote) % 2:
            return f"an odd number of {quote}"
    return None


def _contents(part) -> list[str]:
    """The texts a markup part shows as code or a value (where a cut-short content matters)."""
    if isinstance(part, dom.CodePart):
        return [part.text]
    if isinstance(part, dom.EnvVariablePart):
        return [part.name]
    if isinstance(part, dom.OptionValuePart):
        return [part.value]
    if isinstance(part, (dom.OptionNamePart, dom.ReturnValuePart)):
        return [part.name] + ([part.value] if part.value is not None else [])
    return []


def markup_problems(text: str) -> list[str]:
    """What is wrong with the markup of one text: a parser error, or a markup whose content is cut short."""
    try:
        paragraphs = parse(text, Context(), errors="exception", strict=True)
    except ValueError as exc:
        return [str(exc)]
    problems = []
    for paragraph in paragraphs:
        for part in paragraph:
            for content in _contents(part):
                why = unbalanced(content)
                if why:
                    problems.append(f"{part.type.name} content {content!r}: {why} (a ')' ends the markup early?)")
    return problems


TEXTS = list(_all_texts())


def test_the_documentation_has_texts_to_check():
    assert len(MODULES) >= 10 and len(FRAGMENTS) >= 3 and ROLE_SPECS
    assert len(TEXTS) > 300


def test_every_documentation_text_parses_and_no_markup_is_cut_short():
    problems = [f"{where}: {problem}" for where, text in TEXTS for problem in markup_problems(text)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    "text",
    [
        "such as C({#context.attributes['user.roles'].contains('weather:read')}).",  # the bug this test was made for
        "C(f(x)",
        "V([a, b)",
        "I(unclosed",
        "L(a link without its URL)",
    ],
)
def test_a_cut_short_or_broken_markup_is_reported(text):
    assert markup_problems(text)


@pytest.mark.parametrize(
    "text",
    [
        r"such as V({#context.attributes['user.roles'].contains('weather:read'\)}).",
        "C(GET /apis/{id}) and O(mcp_acl.authorizations[].scopes) with E(GRAVITEE_APIM_URL).",
        "a plain sentence (with brackets) and 'quotes'.",
    ],
)
def test_balanced_markup_passes(text):
    assert markup_problems(text) == []
