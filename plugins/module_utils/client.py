# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP for the Gravitee Management APIs: one ``requests.Session`` per module run.

It owns authentication (APIM Basic or personal access token; AM Basic exchanged for a Bearer token,
or a given token), TLS (``validate_certs``, ``ca_path``, a client certificate for mutual TLS), the timeout,
retries with exponential backoff, and turns Gravitee's error bodies into one exception, ``GraviteeError``.

Proxies come from the environment, as for any ``requests`` program: the session keeps ``trust_env``, so
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` are used and ``NO_PROXY`` is honoured.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# requests (and urllib3) are imported on the first session, not with this file: a module that fails on its input
# before any request does not pay their import time.
_REQUESTS = {}


def _requests():
    """The requests module and the retry class, imported once; GraviteeError when requests is missing."""
    if not _REQUESTS:
        try:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry
        except ImportError:
            raise GraviteeError("the Python library 'requests' is required on the host running the module")
        _REQUESTS.update(requests=requests, HTTPAdapter=HTTPAdapter, WarningRetry=_warning_retry_class(Retry))
    return _REQUESTS


# Statuses a retry can cure: rate limiting and a gateway/load balancer in front of the API that
# could not reach it for a moment.  500 is not retried: Gravitee answers 500 for real bugs too.
RETRY_STATUSES = frozenset((429, 502, 503, 504))

# Methods whose replay cannot duplicate an object.  PATCH is here because this collection only
# sends PATCH bodies of absolute values (AM domain settings, MCP server fields): replayed, they
# converge.  POST is left out: a POST whose request reached the server is never replayed (it may
# have created the object); urllib3 still retries it when the connection failed before sending.
RETRY_METHODS = frozenset(("GET", "HEAD", "PUT", "PATCH", "DELETE"))

SECRET_MASK = "********"

# An http(s) URL: a scheme, a host, a path; a query string only where one is allowed.
_URL_RE = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
_URL_WITH_QUERY_RE = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?(\?[^\s#]*)?$")


def is_http_url(value, query=False):
    """Whether ``value`` is an http(s) URL (with a query string only when ``query``)."""
    return bool(value) and bool((_URL_WITH_QUERY_RE if query else _URL_RE).match(value.strip()))


class GraviteeError(Exception):
    """A failed call to a Gravitee API, carrying what a person needs to act on it."""

    def __init__(self, message, status=None, code=None, method=None, url=None, details=None, hint=None, option=None):
        super(GraviteeError, self).__init__(message)
        self.option = option  # the module option at fault, when the answer names one (set where the call is made)
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.url = url
        self.details = details or []
        self.hint = hint

    def __str__(self):
        """One sentence: which call, the HTTP status, Gravitee's message and code, what to do."""
        text = self.message
        if self.code:
            text = "%s [%s]" % (text, self.code)
        if self.details:
            text = "%s (%s)" % (text, "; ".join(self.details))
        if self.method and self.status:
            text = "%s %s returned HTTP %s: %s" % (self.method, self.url, self.status, text)
        elif self.method:
            text = "%s %s failed: %s" % (self.method, self.url, text)
        if self.hint:
            text = "%s. %s" % (text.rstrip("."), self.hint)
        return text


def error_from_response(response):
    """Build a GraviteeError from an error response of APIM (v2 model), AM, or a bare status."""
    status = response.status_code
    method = response.request.method if response.request is not None else None
    url = _path_of(response.url)
    try:
        body = response.json()
    except ValueError:
        body = None
    message, code, details = None, None, []
    if isinstance(body, dict):
        # APIM Management API v2: httpStatus, message, technicalCode, parameters, details[].
        # AM Management API: message, http_status.  OAuth endpoints: error, error_description.
        message = body.get("message") or body.get("error_description") or body.get("error")
        code = body.get("technicalCode") or (body.get("error") if body.get("error_description") else None)
        for detail in body.get("details") or []:
            if isinstance(detail, dict) and detail.get("message"):
                location = detail.get("location")
                details.append("%s%s" % ("%s: " % location if location else "", detail["message"]))
    if not message:
        message = _STATUS_TEXT.get(status) or (response.reason or "unexpected answer")
    hint = _STATUS_HINTS.get(status)
    return GraviteeError(message, status=status, code=code, method=method, url=url, details=details, hint=hint)


_STATUS_TEXT = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
}

_STATUS_HINTS = {
    401: "Check the credentials (username/password or token, or the GRAVITEE_*_USERNAME / _PASSWORD / _TOKEN "
    "environment variables) and that the token has not expired",
    403: "The credentials are valid but lack the permission for this call: grant the user or service account "
    "the needed role in this organization/environment",
}


def _path_of(url):
    """The URL as shown in messages: no query string, no user:password@ part."""
    return _without_userinfo((url or "").split("?", 1)[0])


def _without_userinfo(text):
    return re.sub(r"//[^/@\s]*@", "//", text)


def _warning_retry_class(retry_class):
    """urllib3 Retry that reports each retry through a callback (shown as an Ansible warning)."""

    class WarningRetry(retry_class):
        def __init__(self, *args, **kwargs):
            self.on_retry = kwargs.pop("on_retry", None)
            super(WarningRetry, self).__init__(*args, **kwargs)

        def new(self, **kwargs):
            kwargs.setdefault("on_retry", self.on_retry)
            return super(WarningRetry, self).new(**kwargs)

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            new_retry = super(WarningRetry, self).increment(method, url, response, error, _pool, _stacktrace)
            if self.on_retry:
                reason = "HTTP %s" % response.status if response is not None and response.status else _first_line(error)
                self.on_retry("%s %s: %s, retrying (%d left)" % (method, _path_of(url), reason, _retries_left(new_retry)))
            return new_retry

    return WarningRetry


def _retries_left(retry):
    return max(0, retry.total) if isinstance(retry.total, int) else 0


class GraviteeClient:
    """A session on one Gravitee Management API (APIM or AM) for the duration of a module run.

    ``base_url`` is the server root (``https://apim.example.com``); paths passed to ``request`` are
    absolute (``/management/v2/...``).
    """

    def __init__(
        self,
        base_url,
        username=None,
        password=None,
        token=None,
        validate_certs=True,
        ca_path=None,
        client_cert=None,
        client_key=None,
        timeout=30,
        retries=3,
        backoff_factor=0.5,
        token_exchange_path=None,
        on_retry=None,
        user_agent="mcpgate.gravitee",
        read_only=False,
    ):
        if timeout is None or timeout <= 0:
            raise GraviteeError("timeout must be a number of seconds greater than 0, got %r" % (timeout,))
        if retries is None or retries < 0:
            raise GraviteeError("retries must be 0 or more, got %r" % (retries,))
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.username = username
        self.password = password
        self.token = token
        # AM: Basic credentials are exchanged once per run for a Bearer token at this path.
        self.token_exchange_path = token_exchange_path
        # Passed on every request: requests lets REQUESTS_CA_BUNDLE override a session-level setting.
        self.verify = ca_path if (ca_path and validate_certs) else bool(validate_certs)
        # Mutual TLS: requests' cert= takes the certificate file, or (certificate, key) when the key is apart.
        self.cert = client_certificate(client_cert, client_key)
        self.retry = dict(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=RETRY_METHODS,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_factor,
            respect_retry_after_header=True,
            raise_on_status=False,
            on_retry=on_retry,
        )
        self.user_agent = user_agent
        # Check mode: a request that could change the server is a bug of the caller, refused before it is sent.
        self.read_only = read_only
        self.session = None  # opened by the first request: a run that sends none does not import requests
        self.exceptions = None
        self._bearer = None
        # Headers of the last answer (e.g. an ETag to send back in If-Match), whatever its status.
        self.last_headers = {}

    # -- authentication ---------------------------------------------------------------------------
    def _authorization(self):
        if self.token:
            return "Bearer %s" % self.token
        if self.token_exchange_path:
            if self._bearer is None:
                self._bearer = self._exchange_token()
            return "Bearer %s" % self._bearer
        return None  # Basic, set on the request

    def _basic(self):
        return (self.username, self.password) if self.username is not None else None

    def _exchange_token(self):
        """AM: POST /management/auth/token with HTTP Basic returns a Bearer token (JWT); it changes nothing."""
        response = self._send("POST", self.token_exchange_path, auth=self._basic(), headers={})
        if response.status_code != 200:
            raise error_from_response(response)
        try:
            return response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise GraviteeError(
                "the token endpoint answered without an access_token",
                status=response.status_code,
                method="POST",
                url=self.base_url + self.token_exchange_path,
            )

    # -- requests ---------------------------------------------------------------------------------
    def _open(self):
        """The session, with retries on every http(s) URL, made at the first request."""
        if self.session is None:
            lib = _requests()
            self.exceptions = lib["requests"].exceptions
            session = lib["requests"].Session()
            session.headers.update({"Accept": "application/json", "User-Agent": self.user_agent})
            adapter = lib["HTTPAdapter"](max_retries=lib["WarningRetry"](**self.retry))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self.session = session
        return self.session

    def _send(self, method, path, auth=None, headers=None, **kwargs):
        url = _path_of(self.base_url + path)
        session = self._open()
        try:
            return session.request(
                method, self.base_url + path, auth=auth, headers=headers, timeout=self.timeout, verify=self.verify,
                cert=self.cert, **kwargs
            )
        except self.exceptions.SSLError as exc:
            if _client_certificate_refused(exc):
                raise GraviteeError(_client_certificate_message(exc, self.cert), method=method, url=url)
            if _HANDSHAKE_CUT.search(str(exc)):
                raise GraviteeError(_handshake_cut_message(exc, self.cert), method=method, url=url)
            if _client_certificate_unusable(exc):
                raise GraviteeError(
                    "the client certificate could not be used (%s): client_key must be the private key of client_cert"
                    % _first_line(exc),
                    method=method,
                    url=url,
                )
            raise GraviteeError(
                "TLS verification failed (%s). Set ca_path to the CA bundle that signed the server certificate "
                "(or GRAVITEE_CA_PATH); only for a test server, validate_certs: false disables verification"
                % _first_line(exc),
                method=method,
                url=url,
            )
        except self.exceptions.Timeout:
            raise GraviteeError(
                "no answer within %s seconds; raise timeout if the server is slow" % self.timeout, method=method, url=url
            )
        except self.exceptions.RetryError as exc:
            raise GraviteeError("gave up after retries: %s" % _first_line(exc), method=method, url=url)
        except self.exceptions.ProxyError as exc:
            raise GraviteeError(
                "the proxy refused or failed the connection (%s); check HTTPS_PROXY / HTTP_PROXY, or list the server "
                "in NO_PROXY to reach it directly" % _first_line(exc),
                method=method,
                url=url,
            )
        except self.exceptions.ConnectionError as exc:
            if _client_certificate_refused(exc):
                # TLS 1.3: the server checks the certificate after the handshake, so its refusal can arrive as a reset.
                raise GraviteeError(_client_certificate_message(exc, self.cert), method=method, url=url)
            if _sent_before_failure(exc):
                raise GraviteeError(
                    "the connection was closed before an answer came (%s); the request may have been applied, "
                    "run again to converge" % _first_line(exc),
                    method=method,
                    url=url,
                )
            raise GraviteeError(
                "could not connect (%s); check the URL and that the server is reachable from this host"
                % _first_line(exc),
                method=method,
                url=url,
            )
        except self.exceptions.RequestException as exc:
            raise GraviteeError("request failed: %s" % _first_line(exc), method=method, url=url)
        except (IOError, OSError) as exc:
            # requests checks the CA bundle and the client certificate files before connecting: a bare OSError.
            options = "ca_path" if "CA certificate bundle" in str(exc) else "client_cert and client_key"
            raise GraviteeError("%s; check %s" % (_first_line(exc), options), method=method, url=url)

    def raw(self, method, path, headers=None, **kwargs):
        """Send a request with this session's TLS, timeout and retries; return the response, any status.

        For endpoints that are not a Management API (a gateway, an MCP server), where the caller
        reads statuses and headers itself.  Connection and TLS failures still raise GraviteeError.
        """
        return self._send(method, path, headers=headers or {}, **kwargs)

    def request(self, method, path, json_body=None, params=None, expected=(200, 201, 202, 204), headers=None, safe=None):
        """Send a request; return the decoded JSON body (None when empty) or raise GraviteeError.

        ``safe``: the request changes nothing (a GET, or a POST that only searches or checks); only safe requests
        are sent by a read-only client.
        """
        if safe is None:
            safe = method in ("GET", "HEAD")
        if self.read_only and not safe:
            raise GraviteeError("internal error: %s %s would change the server in check mode" % (method, _path_of(path)))
        request_headers = dict(headers or {})
        authorization = self._authorization()
        if authorization:
            request_headers["Authorization"] = authorization
        kwargs = {"params": params}
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            request_headers["Content-Type"] = "application/json"
        response = self._send(method, path, auth=None if authorization else self._basic(), headers=request_headers, **kwargs)
        if response.status_code == 401 and self._bearer is not None and not self.token:
            # The exchanged AM token expired during the run: exchange once more, retry once.
            self._bearer = None
            request_headers["Authorization"] = self._authorization()
            response = self._send(method, path, headers=request_headers, **kwargs)
        self.last_headers = response.headers
        if response.status_code not in expected:
            raise error_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def get(self, path, params=None, expected=(200,)):
        return self.request("GET", path, params=params, expected=expected)

    def get_or_none(self, path, params=None):
        """GET that returns None on 404 (the object does not exist)."""
        try:
            return self.request("GET", path, params=params, expected=(200,))
        except GraviteeError as exc:
            if exc.status == 404:
                return None
            raise

    def post(self, path, json_body=None, params=None, expected=(200, 201, 202, 204), safe=False):
        return self.request("POST", path, json_body=json_body, params=params, expected=expected, safe=safe)

    def put(self, path, json_body, params=None, expected=(200,), headers=None):
        return self.request("PUT", path, json_body=json_body, params=params, expected=expected, headers=headers)

    def patch(self, path, json_body, params=None, expected=(200,)):
        return self.request("PATCH", path, json_body=json_body, params=params, expected=expected)

    def delete(self, path, params=None, expected=(200, 204)):
        return self.request("DELETE", path, params=params, expected=expected)


def client_certificate(client_cert=None, client_key=None):
    """requests' ``cert=`` for a client certificate file and its key file (or a file holding both), else None.

    The key must not be encrypted: requests (and urllib3) take no passphrase, and OpenSSL would ask for it on the
    terminal. An encrypted key is refused here, before any connection, with the command that decrypts it.
    """
    client_cert, client_key = client_cert or None, client_key or None
    if client_key and not client_cert:
        raise GraviteeError("client_key is set without client_cert: give the client certificate too")
    if not client_cert:
        return None
    for path in (client_key, client_cert):
        if path and _is_encrypted_key(path):
            raise GraviteeError(
                "the private key in %s is encrypted, and a passphrase cannot be given: decrypt it (openssl pkey -in %s "
                "-out client.key), keep that file readable only by the user running the modules, and set client_key "
                "to it" % (path, path)
            )
    return (client_cert, client_key) if client_key else client_cert


def _is_encrypted_key(path):
    try:
        with open(path, "rb") as pem:
            text = pem.read(1 << 20)
    except (IOError, OSError):
        return False  # requests reports a missing file with its own words, caught in _send
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or b"Proc-Type: 4,ENCRYPTED" in text


# What OpenSSL says when the server refuses the client's certificate (or wanted one and got none), by TLS version.
_CERTIFICATE_REFUSED = re.compile(
    r"certificate required|CERTIFICATE_REQUIRED|alert bad certificate|BAD_CERTIFICATE|alert unknown ca|UNKNOWN_CA"
    r"|alert handshake failure|HANDSHAKE_FAILURE|alert certificate unknown|CERTIFICATE_UNKNOWN"
    r"|alert access denied|ACCESS_DENIED",
    re.I,
)
_CERTIFICATE_UNUSABLE = re.compile(r"KEY_VALUES_MISMATCH|PEM lib|NO_START_LINE|no certificate or crl found", re.I)


# The server closed the connection in the handshake without saying why (some servers refuse a client certificate so).
_HANDSHAKE_CUT = re.compile(r"EOF occurred in violation of protocol|UNEXPECTED_EOF", re.I)


def _handshake_cut_message(exc, cert):
    if cert:
        advice = "if it refused the client certificate, check that client_cert is signed by a CA it trusts"
    else:
        advice = (
            "if it requires a TLS client certificate, set client_cert and client_key (or the GRAVITEE_APIM_CLIENT_CERT "
            "/ GRAVITEE_AM_CLIENT_CERT and _CLIENT_KEY environment variables)"
        )
    return "the server closed the connection during the TLS handshake (%s); %s" % (_first_line(exc), advice)


def _client_certificate_refused(exc):
    return bool(_CERTIFICATE_REFUSED.search(str(exc)))


def _client_certificate_unusable(exc):
    return bool(_CERTIFICATE_UNUSABLE.search(str(exc)))


def _client_certificate_message(exc, cert):
    if cert:
        return (
            "the server refused the TLS client certificate (%s): check that client_cert is signed by a CA the server "
            "trusts and that client_key is its key" % _first_line(exc)
        )
    advice = (
        "set client_cert and client_key (or the GRAVITEE_APIM_CLIENT_CERT / GRAVITEE_AM_CLIENT_CERT and _CLIENT_KEY "
        "environment variables)"
    )
    if re.search(r"certificate required|CERTIFICATE_REQUIRED", str(exc), re.I):
        return "the server asks for a TLS client certificate (%s): %s" % (_first_line(exc), advice)
    # TLS 1.2 servers refuse a missing certificate with a bare handshake_failure, which other mismatches give too.
    return "the server refused the TLS handshake (%s): if it requires a TLS client certificate, %s" % (
        _first_line(exc), advice)


def _sent_before_failure(exc):
    """True when the request had been sent when the connection broke (so it may have been applied)."""
    text = str(exc)
    return "RemoteDisconnected" in text or "Connection aborted" in text or "Connection reset" in text


_ROOT_CAUSES = (
    re.compile(r"\[SSL: [^\]]+\] ([^(]+?)\s*\("),  # certificate verify failed: unable to get local issuer ...
    re.compile(r"(\[Errno -?\d+\] [^'\")]+)"),  # [Errno 111] Connection refused
    re.compile(r"(RemoteDisconnected\([^)]*\))"),
    re.compile(r"(EOF occurred in violation of protocol)"),
)


def _first_line(exc):
    """The root cause of a requests/urllib3 exception, without its wrapping ("Max retries exceeded ...")."""
    text = _without_userinfo(str(exc)).strip()
    for pattern in _ROOT_CAUSES:
        found = pattern.search(text)
        if found:
            return found.group(1).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


class ManagementApi(object):
    """A Management API (APIM's or AM's) of one organization and environment, on one client session."""

    def __init__(self, client, organization="DEFAULT", environment="DEFAULT"):
        self.client = client
        self.organization = organization
        self.environment = environment

    @classmethod
    def of(cls, module):
        """The API for a module's connection options."""
        return cls(module.client, module.params["organization"], module.params["environment"])
