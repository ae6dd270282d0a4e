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
  - The module does not deploy the API. Publishing a plan, closing or deleting a plan that has left STAGING, or
    changing the security settings of such a plan reaches the gateway only at the next deployment, and the task
    returns RV(needs_redeploy) true; deploy with M(mcpgate.gravitee.apim_api),
    O(mcpgate.gravitee.apim_api#module:state=started), giving O(mcpgate.gravitee.apim_api#module:force_deploy) the
    value of RV(needs_redeploy) (see the last example).
  - APIM does not count a deleted plan as a change to deploy (the API still reads C(DEPLOYED)), while the gateway
    keeps serving the plan until the next deployment. So after deleting a published plan, deploy the API with
    O(mcpgate.gravitee.apim_api#module:force_deploy=true) when RV(needs_redeploy) is true; the module warns.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.apim
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
  mcp_acl:
    description:
      - Per-tool access control with the APIM C(mcp-acl) policy ("AI - MCP ACL", an enterprise plugin of APIM 4.10 and
        later, MCP proxy APIs only). The module manages one flow of the plan, named C(MCP ACL), whose request step is the
        policy; the plan's other flows are left as they are.
      - Once the policy is on the plan, what no rule allows is denied, for every feature (Gravitee's documentation,
        "Default Behavior (Implicit Deny)"); MCP clients still connect, the lists of tools, resources and prompts come
        back filtered, and the calls no rule allows are refused.
      - When not set, the plan's flows are left as they are.
      - The policy's source and schema are not public. What this option sends is what its documentation states; the
        rest (how a refusal looks, what V(EXPRESSION) patterns mean, what V(LITERAL) compares for resources, how several
        C(mcp-acl) steps combine) is not confirmed, and the module never sends it unless asked.
      - The server reads the whole plan (flows included) back, so a change reaches the gateway at the next deployment
        (RV(needs_redeploy)).
    type: dict
    suboptions:
      state:
        description:
          - V(present) puts the C(MCP ACL) flow on the plan with O(mcp_acl.authorizations); V(absent) removes it (the
            plan then lets every token use every tool).
        type: str
        choices: [present, absent]
        default: present
      authorizations:
        description:
          - The rules (the policy's C(authorizations)), each a set of allowed features that applies when its condition
            holds. A request is allowed when one applicable rule allows it.
          - V([]) (the default) denies everything.
          - Compared in order.
        type: list
        elements: dict
        default: []
        suboptions:
          scopes:
            description:
              - The rule applies when the token carries every one of these scopes. The module writes the condition
                V({#context.attributes['user.roles'].contains('<scope>'\) && ...}), on the OAuth2 policy's
                word that it puts the token's scopes in the C(user.roles) attribute (its source, C(Oauth2Policy.java)).
                That the C(mcp-acl) policy evaluates its condition on that attribute is inferred, not confirmed by
                Gravitee's documentation.
              - Mutually exclusive with O(mcp_acl.authorizations[].condition).
            type: list
            elements: str
          condition:
            description:
              - The rule's condition, a Gravitee Expression Language expression such as
                V({#context.attributes['user.roles'].contains('weather:read'\)}); the rule is ignored when it is false.
              - When neither this nor O(mcp_acl.authorizations[].scopes) is set, the rule applies to every request.
            type: str
          authorized_features:
            description:
              - What the rule allows (the policy's C(authorizedFeatures)).
            type: list
            elements: dict
            required: true
            suboptions:
              type:
                description:
                  - The MCP feature.
                type: str
                required: true
                choices: [TOOLS, RESOURCES, PROMPTS]
              methods:
                description:
                  - The MCP methods allowed, for example V(TOOLS_LIST) (the tool appears in C(tools/list)) and
                    V(TOOLS_CALL) (C(tools/call) is allowed). The documentation names C(TOOLS_LIST), C(TOOLS_CALL),
                    C(RESOURCES_LIST), C(RESOURCES_READ), C(RESOURCES_SUBSCRIBE), C(RESOURCES_TEMPLATES_LIST),
                    C(PROMPTS_LIST), C(PROMPTS_GET); the complete list is not confirmed and the server checks it.
                  - Default the policy's documented default, the list method of O(mcp_acl.authorizations[].authorized_features[].type)
                    (for example V([TOOLS_LIST])); the module sends it explicitly.
                type: list
                elements: str
              pattern_type:
                description:
                  - V(ANY) matches every tool (resource, prompt); V(LITERAL) only the one named O(mcp_acl.authorizations[].authorized_features[].pattern_value)
                    (for tools and prompts, their name).
                  - V(EXPRESSION) is accepted by the policy but what it means is not documented; it is sent as given.
                type: str
                choices: [ANY, LITERAL, EXPRESSION]
                default: ANY
              pattern_value:
                description:
                  - The name (or expression) to match, required with V(LITERAL) and V(EXPRESSION).
                type: str
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
      - In check mode, a plan of an API that does not exist yet (an earlier task would create it) is predicted
        created; the task warns.
    type: str
    choices: [present, published, deprecated, closed, absent]
    default: present
seealso:
  - module: mcpgate.gravitee.apim_api
  - module: mcpgate.gravitee.apim_resource
"""

EXAMPLES = r"""
# The guide's switch to OAuth2, in an order that never serves the API without a token: publish the OAuth2 plan,
# delete the keyless plan of the guide's first test if there is one (the role mcpgate.gravitee.secure_mcp makes
# one), then one deployment.
- name: The OAuth2 plan, with tokens checked by the AM resource of the API; only tokens with the mcp:tools scope see and call get_weather
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: OAuth2
    description: MCP clients authenticated by Gravitee AM
    security: oauth2
    oauth_resource: AM authorization server
    mcp_acl:  # per-tool access control (the mcp-acl policy, an enterprise plugin); leave it out for none
      authorizations:
        - scopes: [mcp:tools]  # the scope the mcpgate.gravitee.am_mcp_server example gives the tool
          authorized_features:
            - type: TOOLS
              methods: [TOOLS_LIST, TOOLS_CALL]
              pattern_type: LITERAL
              pattern_value: get_weather
    state: published
  register: oauth2_plan

- name: Delete the keyless test plan, if any, so that no request gets in without a token
  mcpgate.gravitee.apim_plan:
    api: /weather-mcp
    name: Keyless test
    state: absent
  register: keyless_removal

- name: Deploy and start the API with what changed (APIM does not count a deleted plan as a change to deploy)
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp
    state: started
    force_deploy: "{{ oauth2_plan.needs_redeploy or keyless_removal.needs_redeploy }}"
"""

RETURN = r"""
plan:
  description:
    - The plan as the server now has it (in check mode, as it would have it), secrets masked.
    - Server-owned fields such as C(createdAt), C(updatedAt), C(publishedAt), C(closedAt), C(needRedeployAt),
      C(order) and C(_links) are left out.
  returned: when the plan exists (or would, in check mode)
  type: dict
  sample:
    id: 5e8b3c1a-9d2f-4e7a-8b3c-1a9d2f4e7a8b
    name: OAuth2
    description: MCP clients authenticated by Gravitee AM
    apiId: 4b1d0e5c-2f3e-4c6b-9d1d-0e5c2f3e4c6b
    definitionVersion: V4
    status: PUBLISHED
    mode: STANDARD
    validation: AUTO
    security:
      type: OAUTH2
      configuration: {oauthResource: AM authorization server, modeStrict: true, propagateAuthHeader: true,
                      checkRequiredScopes: false, extractPayload: false}
    flows: []
id:
  description: Id of the plan.
  returned: when the plan exists; not in check mode when the plan would be created
  type: str
status:
  description: Status of the plan, C(STAGING), C(PUBLISHED), C(DEPRECATED) or C(CLOSED).
  returned: when the plan exists (or would, in check mode)
  type: str
  sample: PUBLISHED
mcp_acl:
  description:
    - The plan's C(MCP ACL) flow as compared (O(mcp_acl)), in the server's form - C(enabled), C(selectors) and the
      policy's C(authorizations); null when the plan has none. Predicted in check mode.
  returned: when the plan exists (or would, in check mode)
  type: dict
  sample:
    enabled: true
    selectors: [{type: MCP, methods: []}]
    authorizations:
      - condition: "{#context.attributes['user.roles'].contains('weather:read')}"
        authorizedFeatures: [{type: TOOLS, methods: [TOOLS_CALL, TOOLS_LIST], patternType: LITERAL, patternValue: get_forecast}]
needs_redeploy:
  description:
    - "Whether what this task did reaches the gateway only at the next deployment of the API: it published a plan
      (one it created too), closed or deleted a plan that had left STAGING, or changed the security settings or the
      flows (O(mcp_acl)) of such a plan; or the server already reported the API out of sync (C(NEED_REDEPLOY)).
      Deprecating a plan, changing its name or description, and anything done to a plan in STAGING need no
      deployment."
    - It is not the server's C(deploymentState), which does not count a deleted plan. Give it to the
      O(mcpgate.gravitee.apim_api#module:force_deploy) option of M(mcpgate.gravitee.apim_api), as the last example
      does.
  returned: always
  type: bool
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    ACTIVE_PLAN_STATUSES,
    MCP_PROXY_TYPE,
    SECURITY_TYPES,
    WWW_AUTHENTICATE,
    ApimApi,
    describe_api,
    describe_plan,
    find_api,
    missing_api,
    plan_security_type,
    require_plugin,
    require_v4,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.mcp_acl import (
    MCP_ACL_POLICY,
    get_mcp_acl,
    normalize_mcp_acl,
    other_mcp_acl_steps,
    put_mcp_acl,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

OAUTH2 = ("security", "configuration")
DESCRIPTION = Description(
    Field("name", key=["name"]),
    Field("description", key=["description"], normalize=lambda text: text.strip() or None),
    # The oauth2 policy's configuration (policy-oauth2 schema-form.json).
    Field("oauth_resource", key=OAUTH2 + ("oauthResource",)),
    Field("required_scopes", key=OAUTH2 + ("requiredScopes",), type="list", elements="str", unordered=True),
    Field("check_required_scopes", key=OAUTH2 + ("checkRequiredScopes",), type="bool"),
    Field("mode_strict", key=OAUTH2 + ("modeStrict",), type="bool"),
    Field("propagate_auth_header", key=OAUTH2 + ("propagateAuthHeader",), type="bool"),
    Field("extract_payload", key=OAUTH2 + ("extractPayload",), type="bool"),
    Field("add_www_authenticate_header", key=OAUTH2 + (WWW_AUTHENTICATE,), type="bool"),
    # The plan's "MCP ACL" flow (module_utils/mcp_acl.py: what the mcp-acl policy documents, and what it does not).
    Field("mcp_acl", get=get_mcp_acl, put=put_mcp_acl, normalize=normalize_mcp_acl, type="dict", options=dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        authorizations=dict(type="list", elements="dict", default=[], options=dict(
            scopes=dict(type="list", elements="str"),
            condition=dict(type="str"),
            authorized_features=dict(type="list", elements="dict", required=True, options=dict(
                type=dict(type="str", required=True, choices=["TOOLS", "RESOURCES", "PROMPTS"]),
                methods=dict(type="list", elements="str"),
                pattern_type=dict(type="str", choices=["ANY", "LITERAL", "EXPRESSION"], default="ANY"),
                pattern_value=dict(type="str"),
            )),
        )),
    )),
)
OAUTH2_OPTIONS = tuple(field.option for field in DESCRIPTION.fields if (field.key or ())[:2] == OAUTH2)
MOVES = {"published": ("publish", "PUBLISHED"), "deprecated": ("deprecate", "DEPRECATED"), "closed": ("close", "CLOSED")}


class Plan(Managed):
    description = DESCRIPTION
    leaving_states = ("absent", "closed")

    def __init__(self, module):
        super(Plan, self).__init__(module)
        self.apim = ApimApi.of(module)
        self.security = SECURITY_TYPES.get(self.params["security"])
        self.api = None
        self.plans = []
        oauth2_set = [option for option in OAUTH2_OPTIONS if option in self.wanted]
        if oauth2_set and self.security == "KEY_LESS":
            raise ModuleError("%s only apply to security: oauth2" % ", ".join(oauth2_set), oauth2_set[0])

    def find(self):
        self.api = find_api(self.apim, self.params["api"])
        if self.api is None:
            # Without its API a plan is absent, and closed as good as.
            self.missing_parent(missing_api(self.apim, self.params["api"]), "API %r" % self.params["api"])
            self.api = {}
            return None
        require_v4(self.api)
        self.plans = self.apim.plans(self.api["id"])
        if self.params["id"]:
            plan = next((p for p in self.plans if p.get("id") == self.params["id"]), None)
            if plan is None and self.state not in ("closed", "absent"):
                raise ModuleError("id: API %s has no plan with id %s" % (describe_api(self.api), self.params["id"]), "id")
            return plan
        matches = [p for p in self.plans if p.get("name") == self.params["name"]]
        if len(matches) > 1:
            raise ModuleError(
                "name: %d plans of API %s are named %r: %s; set id to choose one, or rename or delete the others"
                % (len(matches), describe_api(self.api), self.params["name"], ", ".join(describe_plan(p) for p in matches)),
                "name"
            )
        return matches[0] if matches else None

    def leave(self, current):
        if self.state == "closed":
            return [self.move(current, "closed")] if current.get("status") != "CLOSED" else []
        return [self.delete(current)]

    def after(self, current, predicted):
        return [self.move(predicted, self.state)] if self.state in MOVES and predicted.get("status") != MOVES[self.state][1] else []

    # -- checks before any write ------------------------------------------------------------------
    def prepare(self, current):
        """Decide addWwwAuthenticateHeader from the server's own policy schema."""
        explicit = self.wanted.get("add_www_authenticate_header")
        if (plan_security_type(current) or self.security) == "OAUTH2" and (current is None or explicit is not None):
            schema = self.apim.plugin_schema("policies", "oauth2")
            if WWW_AUTHENTICATE in (schema.get("properties") or {}):
                # Only policy 5.0-5.1 (APIM 4.10.0-4.10.11) has it, and MCP clients get no challenge without it.
                self.wanted["add_www_authenticate_header"] = True if explicit is None else explicit
            elif explicit is not None:
                del self.wanted["add_www_authenticate_header"]
                self.module.warn("add_www_authenticate_header is ignored: the OAuth2 policy of this APIM always sends "
                                 "the WWW-Authenticate challenge and has no such setting")

    def check(self, current):
        if self.state in self.leaving_states:
            return
        label = self.params["name"] or self.params["id"]
        kind = plan_security_type(current) or self.security
        if current is not None and self.security and plan_security_type(current) != self.security:
            raise ModuleError(
                "security: plan %r is a %s plan; the security type of a plan can not change: create a new plan with "
                "another name (and close this one)" % (current.get("name"), plan_security_type(current)), "security"
            )
        if current is None and kind is None:
            raise ModuleError("security is required to create plan %r (keyless or oauth2)" % label, "security")
        oauth2_set = [option for option in OAUTH2_OPTIONS if option in self.wanted]
        if oauth2_set and kind != "OAUTH2":
            raise ModuleError("%s only apply to oauth2 plans; plan %r is a %s plan" % (", ".join(oauth2_set), label, kind),
                              oauth2_set[0])
        status = (current or {}).get("status")
        if status == "CLOSED" and (self.state in MOVES or self.description.differences(self.wanted, current)):
            raise ModuleError("plan %r is closed; a closed plan cannot be changed or reopened: create a new plan with "
                              "another name" % label, "state")
        if self.state == "published" and status == "DEPRECATED":
            raise ModuleError("plan %r is deprecated; a deprecated plan cannot be published again: create a new plan "
                              "with another name" % label, "state")
        if self.state == "deprecated" and status in (None, "STAGING"):
            raise ModuleError("plan %r is %s; only a published plan can be deprecated: publish it first (state: "
                              "published)" % (label, "not created yet" if status is None else "in staging"), "state")
        if kind == "OAUTH2":
            self.check_oauth2(current)
        if self.wanted.get("mcp_acl") is not None and (current is None or "mcp_acl" in self.description.differences(self.wanted, current)):
            self.check_mcp_acl(current)
        if self.state == "published" and kind == "KEY_LESS" and status != "PUBLISHED":
            self.check_keyless(current)

    def check_oauth2(self, current):
        """The OAuth2 resource exists in the API."""
        name = self.wanted.get("oauth_resource")
        if current is None and not name:
            raise ModuleError("oauth_resource is required to create an oauth2 plan: the name of the API's OAuth2 resource",
                              "oauth_resource")
        if name is None or not self.api:
            return
        resources = self.api.get("resources")
        if resources is None:  # a search result may not carry them
            resources = (self.apim.get_api(self.api["id"])[0] or {}).get("resources") or []
        resource = next((r for r in resources if r.get("name") == name), None)
        if resource is None:
            raise ModuleError("oauth_resource %r is not a resource of API %s: create it first with "
                              "mcpgate.gravitee.apim_resource" % (name, describe_api(self.api)), "oauth_resource")
        if not str(resource.get("type", "")).startswith("oauth2"):
            raise ModuleError("oauth_resource %r of API %s is a %s resource, not an OAuth2 resource"
                              % (name, describe_api(self.api), resource.get("type")), "oauth_resource")

    def check_mcp_acl(self, current):
        """The mcp-acl policy runs on MCP proxy APIs only, and must be installed and allowed by the licence."""
        if self.api and self.api.get("type") != MCP_PROXY_TYPE:
            raise ModuleError("mcp_acl: the mcp-acl policy applies to MCP proxy APIs only; API %s is a %s API"
                              % (describe_api(self.api), self.api.get("type")), "mcp_acl")
        require_plugin(self.apim, "policies", MCP_ACL_POLICY, "mcp_acl", needed_by="per-tool access control")
        others = other_mcp_acl_steps(current)
        if others:
            self.module.warn("plan %r has other flows with an mcp-acl step (%s); how several mcp-acl steps combine is not "
                             "documented, and this module manages only the flow named 'MCP ACL'"
                             % (current.get("name"), ", ".join(others)))

    def check_keyless(self, current):
        """One KEY_LESS plan PUBLISHED or DEPRECATED per API (400 plan.keyless.exists, facts §4.2)."""
        others = [p for p in self.plans if plan_security_type(p) == "KEY_LESS" and p.get("status") in ACTIVE_PLAN_STATUSES
                  and p.get("id") != (current or {}).get("id")]
        if others:
            raise ModuleError("API %s already has a published keyless plan %s; only one keyless plan may be published "
                              "per API: close it first (state: closed)" % (describe_api(self.api), describe_plan(others[0])),
                              "state")
        secured = [p for p in self.plans if plan_security_type(p) != "KEY_LESS" and p.get("status") in ACTIVE_PLAN_STATUSES]
        if secured:
            self.module.warn(
                "API %s also has the published plan %s: once deployed, requests without a token are served by the "
                "keyless plan, so MCP clients never get the 401 challenge that leads them to the authorization server"
                % (describe_api(self.api), describe_plan(secured[0]))
            )

    # -- steps ------------------------------------------------------------------------------------
    def create(self, wanted):
        body = self.description.apply(
            {"definitionVersion": "V4", "mode": "STANDARD", "validation": "AUTO", "flows": [],
             "security": {"type": self.security}}, wanted
        )
        # CreatePlanV4: a plan is always created in STAGING (facts §4.1).
        return Step(lambda _nothing: dict(body, status="STAGING"),
                    lambda _nothing: self.apim.create_plan(self.api["id"], body))

    def update(self, current, options):
        # PUT /plans/{id} takes the whole plan back (UpdatePlanV4 ignores read-only fields such as status).
        return Step(lambda plan: self.description.apply(plan, self.wanted, options),
                    lambda plan: self.apim.update_plan(self.api["id"], plan["id"], self.description.apply(plan, self.wanted, options)))

    def move(self, plan, state):
        action, status = MOVES[state]
        return Step(lambda p: dict(p, status=status), lambda p: self.act(p, action, status))

    def act(self, plan, action, status):
        """POST _publish, _deprecate or _close; a plan another run moved there first is where it was asked to be."""
        try:
            return self.apim.plan_action(self.api["id"], plan["id"], action)
        except GraviteeError as exc:
            if exc.status == 400 and exc.code == "plan." + status.lower():
                return None
            raise

    def delete(self, current):
        def run(plan):
            # A published or deprecated plan is closed first (which closes its subscriptions); STAGING, CLOSED and
            # keyless plans, which have no subscriptions, are deleted as they are (facts section 4.2).
            if plan.get("status") in ACTIVE_PLAN_STATUSES and plan_security_type(plan) != "KEY_LESS":
                self.act(plan, "close", "CLOSED")
            try:
                self.apim.delete_plan(self.api["id"], plan["id"])
            except GraviteeError as exc:
                if exc.status != 404:  # another run deleted it first: absent is what was asked for
                    raise

        return Step(lambda _plan: None, run)


def needs_redeploy(api, before, after):
    """Whether the gateway gets this change only at the next deployment (ApiStateServiceImpl.isSynchronized, plus the
    deleted plan it does not count): a plan out of STAGING published, closed, deleted or re-secured."""
    if (api or {}).get("deploymentState") == "NEED_REDEPLOY":
        return True
    if before == after:
        return False
    if before is None:  # created in this task: the gateway gets it once it is published and deployed
        return after.get("status") != "STAGING"
    if after is None:
        return before.get("status") != "STAGING"
    if after.get("status") == "STAGING":
        return False
    if before.get("status") != after.get("status"):
        return after.get("status") != "DEPRECATED"
    return before.get("security") != after.get("security") or get_mcp_acl(before) != get_mcp_acl(after)


def run(module):
    plan = Plan(module)
    before, after = plan.ensure()
    result = dict(needs_redeploy=needs_redeploy(plan.api, before, after))
    if after is None and before is not None and before.get("status") in ACTIVE_PLAN_STATUSES \
            and plan.api.get("state") == "STARTED":
        module.warn(
            "plan %s is deleted, but the gateway keeps serving it until the API %s is deployed again, and APIM does not "
            "report the API out of sync for a deleted plan: deploy it (mcpgate.gravitee.apim_api with state: started "
            "and force_deploy: true)" % (describe_plan(before), describe_api(plan.api))
        )
    if after is not None:
        result.update(plan=plan.shown(after), status=after.get("status"), mcp_acl=get_mcp_acl(after))
        if after.get("id"):
            result["id"] = after["id"]
    module.exit(**result)


def main():
    spec = dict(
        DESCRIPTION.argument_spec(),
        api=dict(type="str", required=True),
        id=dict(type="str"),
        security=dict(type="str", choices=sorted(SECURITY_TYPES)),
        state=dict(type="str", default="present", choices=["present", "published", "deprecated", "closed", "absent"]),
    )
    module = GraviteeModule("apim", spec, required_one_of=[("name", "id")])
    module.run(run)


if __name__ == "__main__":
    main()
