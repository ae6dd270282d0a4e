# Copyright: mcpgate maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into each virtual environment it creates by running a get-pip script
fetched from a host this project's machines cannot reach, unless a script is cached at
``~/.ansible/test/cache/get_pip_<pip version>.py``.  ``make sanity`` places this file there.

ansible-test runs it (through its quiet_pip wrapper, with a trimmed environment) as::

    python get_pip.py --disable-pip-version-check pip==X.Y [--no-setuptools] [--no-wheel]

This script installs the pip bundled with CPython (ensurepip, no network), then upgrades it with
that pip from the package index.  The trimmed environment drops PIP_CERT and friends, so the CA
bundle is passed explicitly, and it is also written to the environment's own pip.conf so the
later ``pip install`` runs of ansible-test in this environment verify TLS the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys

SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

# Options of the real get-pip script that pip's own "install" command does not accept.
GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def find_ca_bundle() -> str | None:
    """Return the CA bundle pip should trust: PIP_CERT, the system bundle, or certifi's."""
    for candidate in (os.environ.get('PIP_CERT'), os.environ.get('REQUESTS_CA_BUNDLE'), SYSTEM_CA_BUNDLE):
        if candidate and os.path.isfile(candidate):
            return candidate

    try:
        import certifi  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None

    return certifi.where()


def write_site_pip_conf(ca_bundle: str) -> None:
    """Make every later pip run inside this virtual environment use the CA bundle."""
    if sys.prefix == sys.base_prefix:
        return  # not a virtual environment: leave the interpreter's configuration alone

    with open(os.path.join(sys.prefix, 'pip.conf'), 'w', encoding='utf-8') as conf:
        conf.write('[global]\ncert = %s\n' % ca_bundle)


def run(*args: str) -> None:
    """Run a command with this interpreter and stop on failure."""
    print('get_pip: %s' % ' '.join((sys.executable,) + args), file=sys.stderr, flush=True)
    subprocess.run((sys.executable,) + args, check=True)


def main() -> None:
    """Bootstrap pip, then install what the caller asked for."""
    requested = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]

    run('-m', 'ensurepip', '--default-pip')

    ca_bundle = find_ca_bundle()
    cert_options = ['--cert', ca_bundle] if ca_bundle else []

    if ca_bundle:
        write_site_pip_conf(ca_bundle)

    run('-m', 'pip', 'install', '--upgrade', *cert_options, *requested)

    # ensurepip also installs setuptools on older Pythons; the real get-pip leaves it out when asked.
    if '--no-setuptools' in sys.argv[1:]:
        run('-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools')


if __name__ == '__main__':
    main()
