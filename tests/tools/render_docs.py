"""Render the generated documentation: docs/collection/ (antsibull-docs) and CHANGELOG.md (antsibull-changelog).

    python -m tests.tools.render_docs           # regenerate both in the tree (`make docs`)
    python -m tests.tools.render_docs --check   # fail if either differs from what the sources give

docs/collection/ holds one page per module and role (and an index), in antsibull-docs' simplified RST,
which GitHub renders. CHANGELOG.md is rendered from changelogs/changelog.yaml and, while the version in
galaxy.yml is not released yet, from the pending fragments as that version: the same text
`antsibull-changelog release` will write at the release, computed on a scratch copy so that the
fragments and changelog.yaml in the tree stay as they are until then.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
COLLECTION = f"{GALAXY['namespace']}.{GALAXY['name']}"
DOCS_DIR = REPO_ROOT / "docs" / "collection"
CHANGELOG = REPO_ROOT / "CHANGELOG.md"
# What a copy of the tree leaves out: local state that is neither source nor needed by the tools.
COPY_EXCLUDE = (".venv", ".cache", ".ansible", "tests/output", ".pytest_cache")


def _env(collections_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    env["ANSIBLE_HOME"] = str(collections_path / ".ansible-home")
    return env


def _run(args: list[str], **kwargs) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")


def copy_tree(scratch: Path) -> Path:
    """The tree's files (tracked, and untracked but not ignored) at scratch/ansible_collections/<ns>/<name>."""
    dest = scratch / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if name.startswith(COPY_EXCLUDE) or not source.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name)
    return dest


def render_module_docs(dest: Path, scratch: Path) -> None:
    """antsibull-docs pages of every module and role of the copy in ``scratch`` into ``dest`` (created)."""
    dest.mkdir(mode=0o755, parents=True)
    _run(
        [str(VENV_BIN / "antsibull-docs"), "collection", "--use-current", "--squash-hierarchy",
         "--output-format", "simplified-rst", "--no-add-antsibull-docs-version", "--fail-on-error",
         "--dest-dir", str(dest), COLLECTION],
        env=_env(scratch),
    )


def render_changelog(dest: Path, collection: Path, scratch: Path) -> None:
    """CHANGELOG.md for the version in galaxy.yml, rendered on the copy ``collection`` (which it changes)."""
    tool = str(VENV_BIN / "antsibull-changelog")
    released = (yaml.safe_load((collection / "changelogs" / "changelog.yaml").read_text()) or {}).get("releases") or {}
    if GALAXY["version"] in released:
        _run([tool, "generate"], cwd=collection, env=_env(scratch))
    else:
        _run([tool, "release", "--version", GALAXY["version"]], cwd=collection, env=_env(scratch))
    shutil.copy2(collection / "CHANGELOG.md", dest)


def render_all(out: Path) -> tuple[Path, Path]:
    """Render into ``out`` (an empty folder); returns (docs folder, changelog file)."""
    scratch = out / "scratch"
    collection = copy_tree(scratch)
    docs, changelog = out / "docs", out / "CHANGELOG.md"
    render_module_docs(docs, scratch)
    render_changelog(changelog, collection, scratch)
    return docs, changelog


def differences(docs: Path, changelog: Path) -> list[str]:
    """How the tree's generated files differ from freshly rendered ones, as unified diffs and file lists."""
    problems = []
    pairs = [(changelog, CHANGELOG)] + [(docs / name, DOCS_DIR / name) for name in sorted(os.listdir(docs))]
    for fresh, current in pairs:
        if not current.exists():
            problems.append(f"{current.relative_to(REPO_ROOT)} is missing")
        elif not filecmp.cmp(fresh, current, shallow=False):
            problems.extend(difflib.unified_diff(
                current.read_text().splitlines(), fresh.read_text().splitlines(),
                str(current.relative_to(REPO_ROOT)), "regenerated", lineterm="", n=1,
            ))
    if DOCS_DIR.exists():
        problems.extend(f"{(DOCS_DIR / name).relative_to(REPO_ROOT)} is not generated any more"
                        for name in sorted(set(os.listdir(DOCS_DIR)) - set(os.listdir(docs))))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the tree instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcpgate-docs-") as tmp:
        docs, changelog = render_all(Path(tmp))
        if args.check:
            problems = differences(docs, changelog)
            print("\n".join(problems) or "docs/collection/ and CHANGELOG.md are up to date")
            return 1 if problems else 0
        shutil.rmtree(DOCS_DIR, ignore_errors=True)
        shutil.copytree(docs, DOCS_DIR)
        shutil.copy2(changelog, CHANGELOG)
        print(f"wrote {DOCS_DIR.relative_to(REPO_ROOT)}/ and {CHANGELOG.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
