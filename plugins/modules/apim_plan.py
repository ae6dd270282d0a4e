#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apim_plan
short_description: Manage a keyless or OAuth2 plan of a Gravitee APIM API
version_added: 0.1.0
description:
  - Creates, updates, publishes, deprecates, closes and deletes a plan of a V4 API in Gravitee API Management,
    typically the keyless plan used to test an MCP proxy and the OAuth2 plan that secures it with tokens from
    Gravitee Access Management.
  - The plan is found by O(name) within the API given by O(api), or by O(id).
  - Plans follow the server's status machine, STAGING, PUBLISHED, DEPRECATED, CLOSED, and a closed plan cannot be
    reopened. A move the server does not allow (publishing a closed or deprecated plan, deprecating a plan that
    was never published, changing the security type of a plan) fails before any change, saying what to do instead.
  - The module does not deploy the API. Publishing, closing or deleting a plan that left STAGING, or changing its
    security settings, reaches the gateway only at the next deployment (RV(needs_redeploy)); deploy it with
    M(mcpgate.gravitee.apim_api), O(mcpgate.gravitee.apim_api#module:state=started) and
    O(mcpgate.gravitee.apim_api#module:force_deploy=true).
  - APIM does not count a deleted plan as a change to deploy (the API still reads C(DEPLOYED)), while the gateway
    keeps serving the plan until the next deployment. So after deleting a published plan, deploy the API with
    O(mcpgate.gravitee.apim_api#module:force_deploy=true) when RV(needs_redeploy) is true; the module warns.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.apim
  - mcpgate.gravitee.apim.known
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  api:
    description:
      - The API of the plan, by context path (a value starting with C(/), for example C(/weather-mcp)), by id, or
        by name.
    type: str
    required: true
  name:
    description:
      - Name of the plan. Identifies the plan within the API.
      - APIM allows several plans with the same name; when the name matches more than one plan the task fails,
        listing them, and O(id) chooses one.
      - Required unless O(id) is set; with O(id), renames the plan.
    type: str
  id:
    description:
      - Id of the plan, instead of finding it by O(name).
    type: str
  description:
    description:
      - Description of the plan.
    type: str
  security:
    description:
      - How callers are authenticated. V(keyless) lets anyone in; V(oauth2) requires an OAuth2 access token,
        checked with the OAuth2 resource O(oauth_resource) of the API.
      - Required to create the plan. The security type of an existing plan can not change; the task fails and
        says to create a new plan instead.
    type: str
    choices: [keyless, oauth2]
  oauth_resource:
    description:
      - Name of the API resource that validates tokens, for example the Gravitee AM authorization server resource
        created with M(mcpgate.gravitee.apim_resource).
      - Required to create an O(security=oauth2) plan. The resource must exist in the API; if it does not, the task
        fails before any change.
    type: str
  required_scopes:
    description:
      - Scopes the access token must hold. The order does not matter.
    type: list
    elements: str
  check_required_scopes:
    description:
      - Check that the token holds O(required_scopes). APIM's default is V(false).
    type: bool
  mode_strict:
    description:
      - With O(check_required_scopes), require exactly O(required_scopes). APIM's default is V(true).
    type: bool
  propagate_auth_header:
    description:
      - Pass the C(Authorization) header on to the MCP server. APIM's default is V(true).
    type: bool
  extract_payload:
    description:
      - Put the token introspection payload in the C(oauth.payload) attribute for policies. APIM's default is V(false).
    type: bool
  add_www_authenticate_header:
    description:
      - Answer a request without token with a C(WWW-Authenticate) challenge naming the protected resource metadata,
        which MCP clients need to find the authorization server.
      - Only the OAuth2 policy of APIM 4.10.0 to 4.10.11 has this setting; there the module sets it to V(true)
        unless this option says otherwise. Later versions always send the challenge and reject the setting; there
        the module does not send it, and warns when this option is set. The module decides from the policy schema
        the server itself serves, not from a version number.
    type: bool
  known_oauth2_policy:
    description:
      - What the server's OAuth2 policy accepts, as M(mcpgate.gravitee.apim_info) returned it earlier in the play (its
        RV(ignore:oauth2_policy) return value), so that this task does not read the policy schema again to decide
        O(add_www_authenticate_header).
      - Leave it out to read the schema from the server (the default).
    type: dict
  state:
    description:
      - V(present) creates the plan (in STAGING) or updates it; its status does not change.
      - V(published) also publishes it. Only one keyless plan may be published per API; when another one is, the
        task fails before any change and says to close it first.
      - V(deprecated) deprecates a published plan; new subscriptions are refused, existing ones keep working.
      - V(closed) closes the plan (and its subscriptions). Closing is final. A plan that does not exist is left so.
      - V(absent) closes the plan if it is published or deprecated, then deletes it; a keyless plan, which has no
        subscriptions, is deleted without closing it first.
      - With V(closed) and V(absent), an API that does not exist has no such plan, and the task changes nothing.
    type: str
    choices: [present, published, deprecated, closed, absent]
    default: present
seealso:
  - module: mcpgate.gravitee.apim_api
  - module: mcpgate.gravitee.apim_resource
"""

EXAMPLES = r"""
- name: A keyless plan to test the MCP proxy
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: Keyless test
    security: keyless
    state: published

- name: The OAuth2 plan, with tokens checked by the AM resource of the API
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: OAuth2
    description: MCP clients authenticated by Gravitee AM
    security: oauth2
    oauth_resource: am-resource
    state: published
  register: oauth2_plan

- name: Close the keyless plan so that no request gets in without a token
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: Keyless test
    state: closed

- name: Deploy the change
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp
    state: started
  when: oauth2_plan.needs_redeploy

# Many tasks on one API: read it once, then hand each task what the one before returned.
- name: Read the API, its plans and the OAuth2 policy once
  mcpgate.gravitee.apim_info:
    api: /weather-mcp
  register: info

- name: The OAuth2 plan, decided on what the read found (a create still asks the server for the plans first)
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: OAuth2
    security: oauth2
    oauth_resource: am-resource
    state: published
    known_api: "{{ info.api }}"
    known_plans: "{{ info.plans }}"
    known_oauth2_policy: "{{ info.oauth2_policy }}"
  register: oauth2_plan

- name: Delete the keyless plan, on the plans the task before left
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: Keyless test
    state: absent
    known_api: "{{ info.api }}"
    known_plans: "{{ oauth2_plan.plans }}"
"""

RETURN = r"""
plan:
  description: The plan as the server now has it (in check mode, as it would have it).
  returned: when the plan exists
  type: dict
  sample:
    id: 5e8b3c1a-9d2f-4e7a-8b3c-1a9d2f4e7a8b
    name: OAuth2
    status: PUBLISHED
    mode: STANDARD
    validation: AUTO
    security:
      type: OAUTH2
      configuration: {oauthResource: am-resource, modeStrict: true, propagateAuthHeader: true, checkRequiredScopes: false}
id:
  description: Id of the plan. Not known in check mode when the plan would be created.
  returned: when the plan exists
  type: str
status:
  description: Status of the plan, C(STAGING), C(PUBLISHED), C(DEPRECATED) or C(CLOSED).
  returned: when the plan exists
  type: str
  sample: PUBLISHED
needs_redeploy:
  description:
    - Whether the gateway serves this plan as it now is only after the next deployment of the API, because this task
      published, closed or deleted a plan that had left STAGING or changed its security settings, or because the
      server already reported the API out of sync (C(NEED_REDEPLOY)). Deprecating or renaming a plan, or anything
      done to a plan in STAGING, needs no deployment.
    - It is not the server's C(deploymentState), which does not count a deleted plan.
  returned: always
  type: bool
plans:
  description:
    - Every plan of the API as this task leaves them (secrets masked), to pass to the next task as O(known_plans).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    SECURITY_TYPES,
    WWW_AUTHENTICATE,
    Apim,
    check_plan_move,
    check_single_keyless,
    describe_api,
    describe_plan,
    find_resource,
    known_argument_spec,
    plan_security_type,
    select_plan,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError, changed_keys, merge

# Module option -> key of the oauth2 policy configuration (policy-oauth2 schema-form.json).
OAUTH2_OPTIONS = (
    ("oauth_resource", "oauthResource"),
    ("required_scopes", "requiredScopes"),
    ("check_required_scopes", "checkRequiredScopes"),
    ("mode_strict", "modeStrict"),
    ("propagate_auth_header", "propagateAuthHeader"),
    ("extract_payload", "extractPayload"),
)
ACTIONS = {"published": "publish", "deprecated": "deprecate", "closed": "close"}
ACTIONS_STATUS = {"published": "PUBLISHED", "deprecated": "DEPRECATED", "closed": "CLOSED"}


def argument_spec():
    return dict(
        known_argument_spec(),
        api=dict(type="str", required=True),
        name=dict(type="str"),
        id=dict(type="str"),
        description=dict(type="str"),
        security=dict(type="str", choices=sorted(SECURITY_TYPES)),
        oauth_resource=dict(type="str"),
        required_scopes=dict(type="list", elements="str"),
        check_required_scopes=dict(type="bool"),
        mode_strict=dict(type="bool"),
        propagate_auth_header=dict(type="bool"),
        extract_payload=dict(type="bool"),
        add_www_authenticate_header=dict(type="bool"),
        known_oauth2_policy=dict(type="dict"),
        state=dict(type="str", default="present", choices=["present", "published", "deprecated", "closed", "absent"]),
    )


def run(module):
    params, state = module.params, module.params["state"]
    security = SECURITY_TYPES.get(params["security"])
    oauth2_set = [option for option, _key in OAUTH2_OPTIONS + (("add_www_authenticate_header", None),) if params[option] is not None]
    if oauth2_set and params["security"] == "keyless":
        raise ModuleError("%s only apply to security: oauth2" % ", ".join(oauth2_set))
    check_known_oauth2_policy(params["known_oauth2_policy"])

    apim = Apim(module)
    # Without its API a plan is absent, and closed as good as.
    api = apim.require_api(params["api"], missing_ok=state in ("absent", "closed"))
    if api is None:
        return module.exit(needs_redeploy=False, plans=[])
    plans = apim.list_plans(api["id"])
    current = select_plan(plans, params["name"], params["id"])
    if current is None and apim.known_plans is not None and state not in ("closed", "absent"):
        # A plan created on a handed-on "absent" could duplicate one that another run created since (plan names
        # are not unique): the server's list decides a create.
        plans = apim.list_plans(api["id"], fresh=True)
        current = select_plan(plans, params["name"], params["id"])
    if params["id"] and current is None and state not in ("closed", "absent"):
        raise ModuleError("API %s has no plan with id %s" % (describe_api(api), params["id"]))
    label = params["name"] or params["id"]
    if current is not None and security and plan_security_type(current) != security:
        raise ModuleError(
            "plan %r is a %s plan; the security type of a plan can not change: create a new plan with another name "
            "(and close this one)" % (current.get("name"), plan_security_type(current))
        )

    if state == "absent":
        module.ensure(current, None, "absent", None, None, delete=lambda plan: remove(apim, api, plan))
        if current is not None and current.get("status") in ("PUBLISHED", "DEPRECATED") and api.get("state") == "STARTED":
            module.warn(
                "plan %s was deleted, but the gateway keeps serving it until the API %s is deployed again, and APIM does "
                "not report the API out of sync for a deleted plan: deploy it (mcpgate.gravitee.apim_api with state: "
                "started and force_deploy: true)" % (describe_plan(current), describe_api(api))
            )
        return finish(module, apim, api, plans, current, None)
    if state == "closed":
        after = current
        if current is not None and current.get("status") != "CLOSED":
            after = move(module, apim, api, current, "closed")
        return finish(module, apim, api, plans, current, after)

    check_plan_move(current, state)
    if oauth2_set and current is not None and plan_security_type(current) != "OAUTH2":
        raise ModuleError("%s only apply to oauth2 plans; plan %r is a %s plan"
                          % (", ".join(oauth2_set), current.get("name"), plan_security_type(current)))
    if current is None and security is None:
        raise ModuleError("security is required to create plan %r (keyless or oauth2)" % label)
    desired = dict(name=params["name"], description=params["description"])
    if (security or plan_security_type(current)) == "OAUTH2":
        desired["security"] = {"type": "OAUTH2", "configuration": oauth2_configuration(module, apim, api, current)}
    elif current is None:
        desired["security"] = {"type": security}
    desired = dict((k, v) for k, v in desired.items() if v is not None)
    if current is not None and current.get("status") == "CLOSED" and changed_keys(desired, current):
        raise ModuleError(
            "plan %r is closed; a closed plan can not be changed: create a new plan with another name" % label
        )
    if state == "published" and plan_security_type(current or desired) == "KEY_LESS" and (current or {}).get("status") != "PUBLISHED":
        check_single_keyless(plans, current, api)
        secured = [p for p in plans if plan_security_type(p) != "KEY_LESS" and p.get("status") in ("PUBLISHED", "DEPRECATED")]
        if secured:
            module.warn(
                "API %s also has the published plan %s: once deployed, requests without a token are served by the "
                "keyless plan, so MCP clients never get the 401 challenge that leads them to the authorization server"
                % (describe_api(api), describe_plan(secured[0]))
            )

    if current is None:
        # CreatePlanV4: a plan is always created in STAGING (facts §4.1).
        desired.update(definitionVersion="V4", mode="STANDARD", validation="AUTO", flows=[], status="STAGING")
    plan = module.ensure(
        current,
        desired,
        "present",
        create=lambda body: apim.create_plan(api["id"], dict((k, v) for k, v in body.items() if k != "status")),
        # PUT /plans/{id} takes the whole plan back (UpdatePlanV4 ignores read-only fields such as status).
        update=lambda plan, changes: apim.update_plan(api["id"], plan["id"], merge(plan, changes)),
    )
    if state in ACTIONS and plan.get("status") != ACTIONS_STATUS[state]:
        plan = move(module, apim, api, plan, state)
    return finish(module, apim, api, plans, current, plan)


def oauth2_configuration(module, apim, api, current):
    """The oauth2 policy settings the user set, as the plan's security configuration."""
    params = module.params
    configuration = dict((key, params[option]) for option, key in OAUTH2_OPTIONS if params[option] is not None)
    current_configuration = ((current or {}).get("security") or {}).get("configuration") or {}
    scopes = configuration.get("requiredScopes")
    if scopes is not None and sorted(set(scopes)) == sorted(set(current_configuration.get("requiredScopes") or [])):
        configuration["requiredScopes"] = current_configuration.get("requiredScopes") or []
    # addWwwAuthenticateHeader exists only in policy 5.0-5.1 (APIM 4.10.0-4.10.11), which needs it true for MCP
    # clients to get the 401 challenge; later policies always send it and reject the field (facts §4.1, §8).
    if www_authenticate_setting(module, apim):
        explicit = params["add_www_authenticate_header"]
        configuration[WWW_AUTHENTICATE] = True if explicit is None else explicit
    elif params["add_www_authenticate_header"] is not None:
        module.warn(
            "add_www_authenticate_header is ignored: the OAuth2 policy of this APIM always sends the WWW-Authenticate "
            "challenge and has no such setting"
        )
    resource_name = configuration.get("oauthResource") or current_configuration.get("oauthResource")
    if current is None and not resource_name:
        raise ModuleError("oauth_resource is required to create an oauth2 plan: the name of the API's OAuth2 resource")
    check_oauth_resource(apim, api, resource_name)
    return configuration


def check_known_oauth2_policy(known):
    if known is not None and not isinstance(known.get("add_www_authenticate_header"), bool):
        raise ModuleError(
            "known_oauth2_policy must be the oauth2_policy returned by mcpgate.gravitee.apim_info (with "
            "add_www_authenticate_header true or false); got %r" % (known,)
        )


def www_authenticate_setting(module, apim):
    """Whether the server's oauth2 policy has addWwwAuthenticateHeader: as handed on, else from its schema."""
    policy = module.params["known_oauth2_policy"] or apim.oauth2_policy()
    return policy["add_www_authenticate_header"]


def check_oauth_resource(apim, api, name):
    """The plan's resource must be an OAuth2 resource of the API, else the gateway can not check tokens."""
    resource = find_resource(api, name)
    if resource is None and api.get("id"):
        # Search results may not carry resources: confirm with the API itself before failing.
        resource = find_resource(apim.get_api(api["id"]), name)
    if resource is None:
        raise ModuleError(
            "oauth_resource %r is not a resource of API %s: create it first with mcpgate.gravitee.apim_resource"
            % (name, describe_api(api))
        )
    if not str(resource.get("type", "")).startswith("oauth2"):
        raise ModuleError(
            "oauth_resource %r of API %s is a %s resource, not an OAuth2 resource" % (name, describe_api(api), resource.get("type"))
        )


def move(module, apim, api, plan, state):
    """POST _publish / _deprecate / _close; in check mode, the plan with the status it would get."""
    module.changed = True
    after = dict(plan, status=ACTIONS_STATUS[state])
    if not module.check_mode:
        after = apim.plan_action(api["id"], plan["id"], ACTIONS[state]) or after
    module.record_diff(plan, after)
    return after


def remove(apim, api, plan):
    # Close first (which closes its subscriptions): a published or deprecated plan with subscriptions can not be
    # deleted. A plan in STAGING never had any and is deleted as it is, and so is a keyless plan, which has no
    # subscriptions (facts section 4.2: STAGING, CLOSED and keyless plans can be deleted).
    if plan.get("status") not in ("CLOSED", "STAGING") and plan_security_type(plan) != "KEY_LESS":
        apim.plan_action(api["id"], plan["id"], "close")
    apim.delete_plan(api["id"], plan["id"])


def finish(module, apim, api, plans, before, plan):
    if not module.changed:
        needs_redeploy = api.get("deploymentState") == "NEED_REDEPLOY"
    elif not module.check_mode:
        # A plan that left STAGING, or was closed, deleted or re-secured, puts the API out of sync for sure
        # (needRedeployAt); for anything else, what the server now says (one GET).
        needs_redeploy = redeploy_predicted(before, plan) or (
            apim.get_api(api["id"], refresh=True).get("deploymentState") == "NEED_REDEPLOY"
        )
    else:
        needs_redeploy = api.get("deploymentState") == "NEED_REDEPLOY" or redeploy_predicted(before, plan)
    # Every plan of the API as this task leaves them, for the next task's known_plans.
    others = [p for p in plans if before is None or p.get("id") != before.get("id")]
    result = dict(needs_redeploy=needs_redeploy, plans=[module.present(p) for p in others + ([plan] if plan else [])])
    if plan is not None:
        result.update(plan=module.present(plan), id=plan.get("id"), status=plan.get("status"))
    module.exit(**result)


def redeploy_predicted(before, after):
    """Check mode: whether the change puts the API out of sync (ApiStateServiceImpl.isSynchronized).

    A plan out of STAGING whose needRedeployAt is later than the last deployment does: publishing and closing set
    it, as does a change to the security configuration; deprecating and renaming do not, nor does anything done
    to a plan that stays in STAGING (facts section 4.2, FIDELITY.md).
    """
    if after is None:
        return before is not None and before.get("status") != "STAGING"
    if after.get("status") == "STAGING":
        return False
    if before is None or before.get("status") != after.get("status"):
        return after.get("status") != "DEPRECATED"
    return before.get("security") != after.get("security")


def main():
    module = GraviteeModule("apim", argument_spec(), required_one_of=[("name", "id")])
    module.run(run)


if __name__ == "__main__":
    main()
