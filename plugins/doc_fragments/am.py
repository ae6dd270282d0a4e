# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options of the Gravitee AM Management API, shared by the AM modules."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Gravitee AM Management API, for example C(https://am.example.com).
      - A URL that already ends with C(/management) is accepted too.
      - If not set, the environment variable E(GRAVITEE_AM_URL) is used. One of the two is required.
    type: str
  username:
    description:
      - User name for HTTP Basic authentication, exchanged once per run for a Bearer token at C(/management/auth/token).
      - If not set, the environment variable E(GRAVITEE_AM_USERNAME) is used.
      - Give O(username) and O(password), or O(token).
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, the environment variable E(GRAVITEE_AM_PASSWORD) is used.
    type: str
  token:
    description:
      - Bearer token for the AM Management API, such as an account access token of a user or service account, or a token from C(/management/auth/token).
      - Takes precedence over O(username) and O(password).
      - If not set, the environment variable E(GRAVITEE_AM_TOKEN) is used.
    type: str
  organization:
    description:
      - Id of the AM organization.
      - If not set, the environment variable E(GRAVITEE_AM_ORG) is used, else C(DEFAULT).
    type: str
    default: DEFAULT
    aliases: [org]
  environment:
    description:
      - Id of the AM environment.
      - If not set, the environment variable E(GRAVITEE_AM_ENV) is used, else C(DEFAULT).
    type: str
    default: DEFAULT
    aliases: [env]
  client_cert:
    description:
      - PEM file of the TLS client certificate to present to the AM Management API, for a server (or a proxy in front of it) that requires mutual TLS.
      - The file may hold the private key too; else give O(client_key).
      - If not set, the environment variable E(GRAVITEE_AM_CLIENT_CERT) is used.
    type: path
  client_key:
    description:
      - PEM file of the private key of O(client_cert), when that file does not hold it.
      - The key must not be encrypted (a passphrase cannot be given); an encrypted key is refused before any connection.
      - Keep the file readable only by the user running the module.
      - The path is not a secret and is shown in results like any option; the key itself is never read into a result or a message.
      - If not set, the environment variable E(GRAVITEE_AM_CLIENT_KEY) is used.
    type: path
attributes:
  action_group:
    description: Use C(group/mcpgate.gravitee.am) or C(group/mcpgate.gravitee.gravitee) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - mcpgate.gravitee.am
      - mcpgate.gravitee.gravitee
"""
