"""Fetch the pinned Gravitee artifacts of the real tier with Maven (tests/real/maven/*/pom.xml) into .cache/real/.

Each component is one Maven run of one of our poms. Its outcome is kept next to the files, in
``.cache/real/<component>-<version>/resolved.json``: ``ok`` and, when Maven refused, the resolver's own words
(its ``[ERROR]`` lines) and the coordinates it could not resolve. Tests read that record to say exactly why a
server is not there; nothing stands in for a missing server.

    python -m tests.real.artifacts                  every component (AM 4.10.20, APIM 4.10.9)
    python -m tests.real.artifacts apim-gateway     some of them
    python -m tests.real.artifacts --strict ...     exit 1 when a component could not be had

Maven's local repository is ``.cache/real/m2`` (never ~/.m2; ``MCPGATE_REAL_CACHE`` moves ``.cache/real``). It is
also the tier's own repository: what Maven Central lacks (tests/real/README.md lists it) is built from Gravitee's
source in a session and installed there, and Maven takes it from there before asking Central. A fresh clone has
none of it, so its components are reported with Maven's own words and their tests skip.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
POMS = Path(__file__).resolve().parent / "maven"
CACHE = Path(os.environ.get("MCPGATE_REAL_CACHE", REPO_ROOT / ".cache" / "real"))
M2 = CACHE / "m2"

# The pins (tests/real/maven/pom.xml says the same to Maven).
VERSIONS = {"am": "4.10.20", "apim": "4.10.9"}
COMPONENTS = ("am", "apim-rest-api", "apim-gateway", "plugin-schemas")
MAVEN_TIMEOUT = 1200  # seconds for one component (the first APIM download is a few hundred jars)


@dataclass
class Fetched:
    """One component's artifacts: ``home`` holds them when ``ok``; otherwise ``refused`` says why."""

    component: str
    version: str
    home: Path
    ok: bool
    refused: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reason(self) -> str:
        """One line: Maven's own words for the first artifact it could not find, and where the whole record is."""
        words = " ".join(self.refused)
        found = re.search(r"Could not find artifact \S+ in \S+ \([^)]*\)", words)
        said = found.group(0) if found else (words[:300] or "unknown")
        return (f"{self.component} {self.version} is neither in the tier's Maven repository ({M2}) nor on Maven Central: "
                f"Maven said \"{said}\" ({len(self.missing)} artifact(s) missing, listed in {self.home / 'resolved.json'}; "
                "tests/real/README.md says what to build and install)")


def version_of(component: str) -> str:
    return VERSIONS["am" if component == "am" else "apim"]


def home_of(component: str) -> Path:
    return CACHE / f"{component}-{version_of(component)}"


def load(component: str) -> Fetched | None:
    """The recorded outcome of an earlier fetch, if any."""
    record = home_of(component) / "resolved.json"
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    return Fetched(component, data["version"], home_of(component), data["ok"], data["refused"], data["missing"], data["seconds"])


def _maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise SystemExit("mvn not found: the real tier fetches its artifacts with Maven (apt-get install maven)")
    return mvn


def fetch(component: str, force: bool = False) -> Fetched:
    """Run our pom for ``component``; reuse a complete earlier layout unless ``force``."""
    earlier = load(component)
    if earlier and earlier.ok and not force:
        return earlier
    home = home_of(component)
    version = version_of(component)
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    M2.mkdir(parents=True, exist_ok=True)
    # -U: ask Central again for what an earlier run did not find, instead of Maven's cached "was not found".
    command = [_maven(), "-B", "-U", "-f", str(POMS / component / "pom.xml"), f"-Dmaven.repo.local={M2}", f"-Dreal.home={staging}"]
    command += ["package"]
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=MAVEN_TIMEOUT, stdin=subprocess.DEVNULL, check=False
        )
        output, rc = completed.stdout + completed.stderr, completed.returncode
    except subprocess.TimeoutExpired as expired:
        output, rc = f"{expired.stdout or ''}\n[ERROR] mvn did not finish within {MAVEN_TIMEOUT} s", 124
    seconds = round(time.monotonic() - started, 1)
    (staging / "maven.log").write_text(output)
    refused = [w.strip() for w in output.splitlines() if w.startswith("[ERROR] Failed") or w.startswith("[ERROR] mvn did not")]
    if rc and not refused:
        refused = [w.strip() for w in output.splitlines() if w.startswith("[ERROR]")][:3] or [f"mvn exited {rc}"]
    missing: list[str] = []
    for words in refused:
        tail = words.split("could not be resolved: ", 1)[1] if "could not be resolved: " in words else words
        for coordinate in re.findall(r"[\w.\-]+:[\w.\-]+:[\w.\-]+:[\w.\-]*\w", tail):
            if coordinate not in missing and not coordinate.startswith("mcpgate.gravitee.real:"):
                missing.append(coordinate)
    result = Fetched(component, version, home, rc == 0, refused, missing, seconds)
    record = {"version": version, "ok": result.ok, "refused": refused, "missing": missing, "seconds": seconds,
              "command": " ".join(["mvn", *command[1:]])}
    (staging / "resolved.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("components", nargs="*", help=f"some of {', '.join(COMPONENTS)} (default: all)")
    parser.add_argument("--force", action="store_true", help="run Maven again even for a complete earlier download")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a component could not be had")
    args = parser.parse_args(argv)
    unknown = set(args.components) - set(COMPONENTS)
    if unknown:
        parser.error(f"unknown component(s): {', '.join(sorted(unknown))}")
    failed = 0
    for component in args.components or COMPONENTS:
        result = fetch(component, args.force)
        if result.ok:
            print(f"{component} {result.version}: fetched into {result.home} ({result.seconds} s)")
        else:
            failed += 1
            print(f"{component} {result.version}: NOT AVAILABLE ({result.seconds} s). Maven said:")
            for words in result.refused:
                print(f"    {words}")
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
