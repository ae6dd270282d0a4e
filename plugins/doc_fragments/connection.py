# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """TLS, timeout and retries: how every module of the collection talks HTTP."""

    DOCUMENTATION = r"""
options:
  validate_certs:
    description:
      - Verify the server's TLS certificate.
      - Set to V(false) only for a test server; the module then warns.
      - If not set, the environment variable E(GRAVITEE_VALIDATE_CERTS) is used, else V(true).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates that sign the server's certificate, when it is not signed by a public CA.
      - If not set, the environment variable E(GRAVITEE_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
    type: int
    default: 30
  retries:
    description:
      - How many times a request is retried, with exponential backoff, after HTTP 429, 502, 503 or 504 or a connection error.
      - GET, PUT, PATCH and DELETE are retried; a POST only when the connection failed before the request was sent, so an object is never created twice.
      - Each retry is reported as a warning.
    type: int
    default: 3
notes:
  - >-
    Proxies are taken from the environment, as by any program using C(requests), on the host that runs the module
    (with C(connection: local), the controller): E(HTTPS_PROXY) for C(https://) URLs, E(HTTP_PROXY) for C(http://) URLs
    (or E(ALL_PROXY)), and E(NO_PROXY), a comma-separated list of host names, domains and addresses reached directly.
    Set them with the task's or play's C(environment) keyword, or in the environment of C(ansible-playbook).
requirements:
  - requests
"""
