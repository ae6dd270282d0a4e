# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GraviteeModule: the Ansible side every module of the collection shares.

* the connection options (documented once in the ``apim`` / ``am`` doc fragments), each with its environment
  fallback so that an AWX/Controller credential can inject it;
* one client session per run (``module.client``), read-only in check mode;
* what may be shown to the user: secrets masked, server-owned churn left out;
* errors turned into one ``fail_json`` sentence, never a traceback, never a secret.

What a module manages, and how it is brought to the state asked for, is in ``managed.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import (
    SECRET_MASK,
    GraviteeClient,
    GraviteeError,
    is_http_url,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.errors import ModuleError

# Keys whose values are secrets wherever they appear in an object (request, response, diff).
SECRET_KEYS = frozenset(
    ("clientSecret", "client_secret", "password", "secret", "token", "access_token", "refresh_token", "apiKey",
     "registration_access_token")
)

# Fields the server owns: never a difference, never shown in a diff (they churn on every write).
SERVER_OWNED_KEYS = frozenset(
    ("createdAt", "updatedAt", "_links", "links", "disabledAt", "definitionContext", "primaryOwner", "deployedAt",
     "closedAt", "publishedAt", "needRedeployAt", "commentRequired", "order")
)

PRODUCTS = {"apim": "APIM", "am": "AM"}


def http_argument_spec():
    """TLS, timeout and retries options of every module (doc fragment ``mcpgate.gravitee.connection``)."""
    return dict(
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["GRAVITEE_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["GRAVITEE_CA_PATH"])),
        timeout=dict(type="int", default=30),
        retries=dict(type="int", default=3),
    )


def connection_argument_spec(product):
    """Connection options of the APIM or AM Management API, each with its environment fallback."""
    prefix = "GRAVITEE_%s_" % PRODUCTS[product]
    return dict(
        http_argument_spec(),
        url=dict(type="str", fallback=(env_fallback, [prefix + "URL"])),
        username=dict(type="str", fallback=(env_fallback, [prefix + "USERNAME"])),
        password=dict(type="str", no_log=True, fallback=(env_fallback, [prefix + "PASSWORD"])),
        token=dict(type="str", no_log=True, fallback=(env_fallback, [prefix + "TOKEN"])),
        organization=dict(type="str", default="DEFAULT", aliases=["org"], fallback=(env_fallback, [prefix + "ORG"])),
        environment=dict(type="str", default="DEFAULT", aliases=["env"], fallback=(env_fallback, [prefix + "ENV"])),
        # Mutual TLS. Paths, not secrets (no_log=False says so to the sanity test that flags names with "key"); the
        # key file itself is never read into a result, and an encrypted key is refused (no passphrase option).
        client_cert=dict(type="path", fallback=(env_fallback, [prefix + "CLIENT_CERT"])),
        client_key=dict(type="path", no_log=False, fallback=(env_fallback, [prefix + "CLIENT_KEY"])),
    )


# A URL given with the API's own prefix is accepted: the client adds the prefix itself.
_MANAGEMENT_SUFFIX_RE = re.compile(r"/management(/v2)?/*$")


def server_root(url, option="url"):
    """``https://apim.example.com/management/v2/`` -> ``https://apim.example.com``; validates the URL."""
    if not is_http_url(url):
        raise ModuleError("%s must be an http(s) URL such as https://apim.example.com, got %r" % (option, url), option)
    return _MANAGEMENT_SUFFIX_RE.sub("", url.strip().rstrip("/"))


def is_mask(value):
    """A secret as a server or this collection shows it: asterisks only."""
    return isinstance(value, str) and bool(value) and set(value) == {"*"}


def mask_secrets(value, secret_keys=SECRET_KEYS):
    """A deep copy of ``value`` with every secret replaced by a mask."""
    if isinstance(value, dict):
        return dict(
            (key, SECRET_MASK if key in secret_keys and item not in (None, "") else mask_secrets(item, secret_keys))
            for key, item in value.items()
        )
    if isinstance(value, list):
        return [mask_secrets(item, secret_keys) for item in value]
    return value


def nested_secret_values(value, secret_keys=SECRET_KEYS):
    """The non-empty string values held under a secret key anywhere inside ``value`` (masks excepted)."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in secret_keys and isinstance(item, str) and item and not is_mask(item):
                found.add(item)
            else:
                found.update(nested_secret_values(item, secret_keys))
    elif isinstance(value, list):
        for item in value:
            found.update(nested_secret_values(item, secret_keys))
    return found


def without_server_owned(value):
    if isinstance(value, dict):
        return dict((k, without_server_owned(v)) for k, v in value.items() if k not in SERVER_OWNED_KEYS)
    if isinstance(value, list):
        return [without_server_owned(item) for item in value]
    return value


def present(obj):
    """An object as it may be shown to the user: secrets masked, server-owned churn removed."""
    if obj is None:
        return None
    return mask_secrets(without_server_owned(obj))


class GraviteeModule(object):
    """An AnsibleModule for one Gravitee product ("apim" or "am") with the shared behaviour."""

    def __init__(self, product, argument_spec, **kwargs):
        spec = connection_argument_spec(product)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.ansible = AnsibleModule(argument_spec=spec, **kwargs)
        # A secret inside a dict option (a plugin configuration) is no_log too: Ansible then hides its value
        # in the result, the diff, errors and the invocation shown at -vvv, as for a no_log option.
        self.ansible.no_log_values.update(nested_secret_values(self.ansible.params))
        self.product = product
        self.params = self.ansible.params
        self.check_mode = self.ansible.check_mode
        self.changed = False
        self.diff = None
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self):
        params, name = self.params, PRODUCTS[self.product]
        prefix = "GRAVITEE_%s_" % name
        if not params["url"]:
            raise ModuleError("url is required: set the url option or the %sURL environment variable" % prefix, "url")
        root = server_root(params["url"])
        # An empty value counts as unset: AWX injects an empty string for a credential field left blank.
        token = params["token"] or None
        username, password = params["username"] or None, params["password"] or None
        if not token and not (username and password):
            raise ModuleError(
                "no %s credentials: set token (or %sTOKEN), or username and password (or %sUSERNAME and %sPASSWORD)"
                % (name, prefix, prefix, prefix), "token"
            )
        if not params["validate_certs"]:
            self.warn("TLS certificate verification is disabled (validate_certs: false); use it only with a test server")
            silence_insecure_request_warning()
        return GraviteeClient(
            root,
            username=username,
            password=password,
            token=token,
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            # An empty value counts as unset (AWX injects "" for a credential without a certificate).
            client_cert=params["client_cert"] or None,
            client_key=params["client_key"] or None,
            timeout=params["timeout"],
            retries=params["retries"],
            token_exchange_path="/management/auth/token" if self.product == "am" and not token else None,
            on_retry=self.warn,
            read_only=self.check_mode,
        )

    def warn(self, message):
        self.ansible.warn(message)

    def fail(self, message, **extra):
        self.ansible.fail_json(msg=message, changed=False, **extra)

    def exit(self, **result):
        if self.diff is not None and self.ansible._diff:
            result["diff"] = self.diff
        self.ansible.exit_json(changed=self.changed, **result)

    def run(self, main):
        """Run ``main(self)``; any GraviteeError or ModuleError becomes a clear failure."""
        try:
            main(self)
        except GraviteeError as exc:
            self.fail(str(exc), status=exc.status, code=exc.code, **({"option": exc.option} if exc.option else {}))
        except ModuleError as exc:
            self.fail(str(exc), **({"option": exc.option} if exc.option else {}))


def silence_insecure_request_warning():
    try:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    except ImportError:  # pragma: no cover
        pass
