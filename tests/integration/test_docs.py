"""The generated documentation: no broken references, and docs/collection/ and CHANGELOG.md up to date.

`make docs` regenerates both (tests/tools/render_docs.py); this test renders them again from the
sources into a scratch folder and compares.
"""

from __future__ import annotations

import subprocess

from tests.integration.ecosystem_support import tool
from tests.tools import render_docs


def test_the_collection_docs_have_no_broken_references_or_markup_errors(tmp_path):
    collection = render_docs.copy_tree(tmp_path)
    proc = subprocess.run(
        [tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "--validate-collection-refs", "all",
         "--disallow-unknown-collection-refs", str(collection)],
        env=render_docs._env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docs_and_changelog_are_regenerated_from_the_sources(tmp_path):
    docs, changelog = render_docs.render_all(tmp_path)
    assert sorted(p.name for p in docs.iterdir()) == sorted(
        ["index.rst", "secure_mcp_role.rst"]
        + [p.stem + "_module.rst" for p in (render_docs.REPO_ROOT / "plugins" / "modules").glob("*.py")
           if p.name != "__init__.py"]
        + [p.stem + "_filter.rst" for p in (render_docs.REPO_ROOT / "plugins" / "filter").glob("*.yml")]
    )
    problems = render_docs.differences(docs, changelog)
    assert problems == [], "run `make docs` and commit the result:\n" + "\n".join(problems)
