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
attributes:
  action_group:
    description: Use C(group/mcpgate.gravitee.am) or C(group/mcpgate.gravitee.gravitee) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - mcpgate.gravitee.am
      - mcpgate.gravitee.gravitee
"""
