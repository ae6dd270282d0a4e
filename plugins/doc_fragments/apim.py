# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options of the Gravitee APIM Management API, shared by the APIM modules."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Gravitee APIM Management API, for example C(https://apim.example.com).
      - A URL that already ends with C(/management/v2) is accepted too.
      - If not set, the environment variable E(GRAVITEE_APIM_URL) is used. One of the two is required.
    type: str
  username:
    description:
      - User name for HTTP Basic authentication.
      - If not set, the environment variable E(GRAVITEE_APIM_USERNAME) is used.
      - Give O(username) and O(password), or O(token).
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, the environment variable E(GRAVITEE_APIM_PASSWORD) is used.
    type: str
  token:
    description:
      - Personal access token of an APIM user or service account, sent as a Bearer token.
      - Takes precedence over O(username) and O(password).
      - If not set, the environment variable E(GRAVITEE_APIM_TOKEN) is used.
    type: str
  organization:
    description:
      - Id of the APIM organization.
      - If not set, the environment variable E(GRAVITEE_APIM_ORG) is used, else C(DEFAULT).
    type: str
    default: DEFAULT
    aliases: [org]
  environment:
    description:
      - Id of the APIM environment.
      - If not set, the environment variable E(GRAVITEE_APIM_ENV) is used, else C(DEFAULT).
    type: str
    default: DEFAULT
    aliases: [env]
attributes:
  action_group:
    description: Use C(group/mcpgate.gravitee.apim) or C(group/mcpgate.gravitee.gravitee) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - mcpgate.gravitee.apim
      - mcpgate.gravitee.gravitee
"""

    # The hand-off of what an earlier task of the play read (apim_api, apim_plan, apim_resource).
    KNOWN = r"""
options:
  known_api:
    description:
      - The API as an earlier task of the same play returned it (the RV(ignore:api) return value of
        M(mcpgate.gravitee.apim_info), M(mcpgate.gravitee.apim_api) or M(mcpgate.gravitee.apim_resource)), so that this
        task does not read it again.
      - The module decides what to change from it and sends no read when nothing needs to change. A change of the API
        definition still reads the API first and writes it back with its ETag (C(If-Match)), so a change made in
        between fails with HTTP 412 instead of being overwritten.
      - It must be the API that the module's API option names, else the task fails before any request.
      - An empty dict says the earlier task found no such API (M(mcpgate.gravitee.apim_info) returns V(null) for it,
        so pass C({{ info.api or {} }})). M(mcpgate.gravitee.apim_api) then creates the API without looking it up again.
        A run that created it meanwhile makes the create fail on the taken context path, and nothing is written.
      - Leave it out to read the API from the server (the default). Pass only what the same play just read or wrote.
    type: dict
  known_plans:
    description:
      - All the plans of that API, whatever their status, as an earlier task of the same play returned them (the
        RV(ignore:plans) return value of M(mcpgate.gravitee.apim_info) or M(mcpgate.gravitee.apim_plan)), so that this
        task does not list them again. An empty list says the API has no plan (a new API).
      - Before creating a plan that is not in the list, M(mcpgate.gravitee.apim_plan) lists the plans once from the
        server (plan names are not unique, and another run may have created the plan since).
      - Leave it out to list the plans from the server (the default).
    type: list
    elements: dict
"""
