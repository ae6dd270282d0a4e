"""The version profiles the simulator serves, oldest first.

4.10 = APIM 4.10.0-4.10.11 and AM 4.10.x; 4.11 = APIM 4.11.2-4.11.10 and AM 4.11.x; 4.12 = APIM 4.12.x and AM 4.12.4
(FIDELITY.md says what each serves and from which source).
"""

from __future__ import annotations

PROFILES = ("4.10", "4.11", "4.12")


def at_least(profile: str, version: str) -> bool:
    """Whether ``profile`` serves the behaviours of ``version`` and later (at_least("4.12", "4.11") is True)."""
    return PROFILES.index(profile) >= PROFILES.index(version)
