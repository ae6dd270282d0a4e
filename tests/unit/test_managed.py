"""managed.py: an object described once (Field, Description) and Managed.ensure(), the one state machine."""

from __future__ import annotations

import json

import pytest
from tests.unit.module_args import patch_module_args

from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

DESCRIPTION = Description(
    Field("name"),
    Field("description", normalize=lambda text: text.strip() or None),
    Field("labels", type="list", elements="str", unordered=True),
    Field("server_url", key=["configuration", "serverURL"]),
    Field("client_secret", key=["configuration", "clientSecret"], secret=True),
    Field("settings", key=["settings"], type="dict", subset=True),
    Field("enabled", type="bool", missing=True),
    Field("given_secret", key=["givenSecret"], secret=True, create_only=True),
)


class Thing(Managed):
    """A stand-in server object: records what would be sent."""

    description = DESCRIPTION

    def __init__(self, module, current):
        super().__init__(module)
        self.current, self.sent = current, []
        self.update_secrets = self.params.get("always")

    def find(self):
        return self.current

    def create(self, wanted):
        body = self.description.apply({}, wanted)
        return Step(lambda _: body, lambda _: self.sent.append(("create", body)) or dict(body, id="new"))

    def update(self, current, options):
        return Step(lambda o: self.description.apply(o, self.wanted, options),
                    lambda o: self.sent.append(("update", self.description.patch(self.wanted, options))))

    def delete(self, current):
        return Step(lambda _: None, lambda o: self.sent.append(("delete", o["id"])))


SPEC = dict(DESCRIPTION.argument_spec(), state=dict(type="str", default="present"), always=dict(type="bool", default=False))


def ensure(args, current):
    with patch_module_args(args):
        module = GraviteeModule("apim", SPEC)
    thing = Thing(module, current)
    before, after = thing.ensure()
    return module, thing, after


CURRENT = {
    "id": "1", "name": "a", "labels": ["y", "x"], "updatedAt": 5, "enabled": None,
    "configuration": {"serverURL": "https://am", "clientSecret": "stored-secret-1", "userClaim": "sub"},
    "settings": {"x": 1, "serverDefault": 2},
}


def test_argument_spec_comes_from_the_description():
    spec = DESCRIPTION.argument_spec()
    assert spec["client_secret"]["no_log"] is True and spec["labels"] == dict(type="list", elements="str")
    nested = Description(Field("dcr.enabled", key=["oidc", "on"], type="bool")).argument_spec()
    assert nested == {"dcr": {"type": "dict", "options": {"enabled": {"type": "bool"}}}}


def test_check_mode_create_sends_nothing_and_predicts_the_object():
    module, thing, after = ensure({"name": "a", "server_url": "https://am", "_ansible_check_mode": True}, None)
    assert thing.sent == [] and module.changed
    assert after == {"name": "a", "configuration": {"serverURL": "https://am"}}


def test_a_real_create_sends_the_body_and_returns_what_the_server_answered():
    module, thing, after = ensure({"name": "a", "given_secret": "given-secret-9"}, None)
    assert thing.sent == [("create", {"name": "a", "givenSecret": "given-secret-9"})]
    assert after["id"] == "new" and module.changed


def test_nothing_differs_when_the_server_adds_defaults_orders_lists_or_stamps_dates():
    args = {"name": "a", "labels": ["x", "y", "x"], "settings": {"x": 1}, "server_url": "https://am", "enabled": True,
            "description": "  ", "given_secret": "not-compared"}
    module, thing, after = ensure(args, CURRENT)
    assert thing.sent == [] and not module.changed and after is CURRENT


def test_update_sends_only_what_differs():
    module, thing, _after = ensure({"name": "b", "labels": ["x", "y"], "settings": {"x": 2}}, CURRENT)
    assert thing.sent == [("update", {"name": "b", "settings": {"x": 2}})]


def test_check_mode_update_predicts_the_object_with_the_change():
    module, thing, after = ensure({"name": "b", "settings": {"x": 2}, "_ansible_check_mode": True}, CURRENT)
    assert thing.sent == [] and module.changed
    assert after["name"] == "b" and after["settings"] == {"x": 2, "serverDefault": 2} and after["labels"] == ["y", "x"]


@pytest.mark.parametrize("stored, given, always, differs", [
    ("stored-secret-1", "stored-secret-1", False, False),
    ("stored-secret-1", "another-secret", False, True),   # APIM returns it in clear: compared
    (None, "another-secret", False, False),               # not returned: cannot be compared
    ("********", "another-secret", False, False),         # masked: cannot be compared
    ("stored-secret-1", "stored-secret-1", True, True),   # always sent again
])
def test_secrets_are_compared_only_when_the_server_returns_them(stored, given, always, differs):
    current = dict(CURRENT, configuration=dict(CURRENT["configuration"], clientSecret=stored))
    module, thing, _after = ensure({"client_secret": given, "always": always}, current)
    assert bool(thing.sent) is differs


def test_absent_deletes_once_and_an_absent_object_stays_absent():
    module, thing, after = ensure({"state": "absent"}, CURRENT)
    assert thing.sent == [("delete", "1")] and after is None and module.changed
    module, thing, after = ensure({"state": "absent"}, None)
    assert thing.sent == [] and not module.changed


def test_diff_masks_secrets_and_leaves_out_server_owned_fields(capsys):
    args = {"name": "b", "client_secret": "new-secret-2", "_ansible_diff": True, "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        module = GraviteeModule("apim", SPEC)
        Thing(module, CURRENT).ensure()
        module.exit()
    result = json.loads(capsys.readouterr().out)
    assert "stored-secret-1" not in json.dumps(result) and "new-secret-2" not in json.dumps(result)
    assert result["diff"]["before"]["configuration"]["clientSecret"] == "********"
    assert result["diff"]["after"]["name"] == "b" and "updatedAt" not in result["diff"]["before"]


def test_check_mode_asks_the_server_what_a_real_write_checks_by_itself():
    asked = []

    class Checked(Thing):
        def steps(self, current):
            return [Step(lambda _: {"name": "a"}, lambda _: asked.append("run"), lambda _: asked.append("verify"))]

    for check_mode, expected in ((True, ["verify"]), (False, ["run"])):
        asked.clear()
        with patch_module_args({"name": "a", "_ansible_check_mode": check_mode}):
            module = GraviteeModule("apim", SPEC)
        Checked(module, None).ensure()
        assert asked == expected


# -- the default writes, on a collection path ----------------------------------------------------------
class Recorder:
    """A client that records the requests it is asked for."""

    def __init__(self):
        self.sent = []

    def post(self, path, body, expected=None):
        self.sent.append(("POST", path, body))
        return dict(body, id="new")

    def request(self, method, path, body, expected=None):
        self.sent.append((method, path, body))
        return None

    def delete(self, path):
        self.sent.append(("DELETE", path, None))


class Plain(Managed):
    """A plain CRUD object: its fields, how to find it, and its collection."""

    description = DESCRIPTION

    def __init__(self, module, current):
        super().__init__(module)
        self.current = current

    def find(self):
        return self.current

    def collection(self):
        return "/things"


def plain(args, current):
    with patch_module_args(args):
        module = GraviteeModule("am", SPEC)
    module._client = Recorder()
    thing = Plain(module, current)
    before, after = thing.ensure()
    return module, after


def test_a_plain_object_is_created_updated_and_deleted_on_its_collection():
    module, after = plain({"name": "a", "description": "old"}, None)
    assert module.client.sent == [("POST", "/things", {"name": "a", "description": "old"})] and after["id"] == "new"
    module, after = plain({"name": "a", "description": "new"}, {"id": "x/1", "name": "a", "description": "old"})
    assert module.client.sent == [("PATCH", "/things/x%2F1", {"description": "new"})] and after["description"] == "new"
    module, after = plain({"name": "a", "state": "absent"}, {"id": "x1", "name": "a"})
    assert module.client.sent == [("DELETE", "/things/x1", None)] and after is None
    module, after = plain({"name": "a", "state": "absent"}, None)
    assert module.client.sent == [] and not module.changed


def test_put_sends_the_whole_object_back():
    class Whole(Plain):
        update_method = "PUT"

    with patch_module_args({"name": "a", "description": "new"}):
        module = GraviteeModule("apim", SPEC)
    module._client = Recorder()
    Whole(module, {"id": "1", "name": "a", "description": "old", "other": True}).ensure()
    assert module.client.sent == [("PUT", "/things/1", {"id": "1", "name": "a", "description": "new", "other": True})]


def test_leaving_states_never_create_and_lifecycle_moves_follow_the_write():
    class Lifecycle(Plain):
        leaving_states = ("absent", "closed")

        def leave(self, current):
            return [Step(lambda o: dict(o, status="CLOSED"), lambda o: self.module.client.sent.append(("CLOSE",)))]

        def after(self, current, predicted):
            return [Step(lambda o: dict(o, status="PUBLISHED"), lambda o: self.module.client.sent.append(("PUBLISH",)))] \
                if self.state == "published" and predicted.get("status") != "PUBLISHED" else []

    for state, current, sent in (("closed", None, []), ("closed", {"id": "1", "name": "a"}, [("CLOSE",)]),
                                 ("published", None, [("POST", "/things", {"name": "a"}), ("PUBLISH",)]),
                                 ("published", {"id": "1", "name": "a", "status": "PUBLISHED"}, [])):
        with patch_module_args({"name": "a", "state": state}):
            module = GraviteeModule("am", SPEC)
        module._client = Recorder()
        Lifecycle(module, current).ensure()
        assert module.client.sent == sent, state


def test_a_missing_parent_fails_predicts_in_check_mode_or_is_absent():
    error = ModuleError("api: no API with context path '/x': create it first", "api")
    for args, outcome in (({"name": "a"}, "fails"), ({"name": "a", "_ansible_check_mode": True}, "warns"),
                          ({"name": "a", "state": "absent"}, "absent")):
        with patch_module_args(args):
            module = GraviteeModule("am", SPEC)
        warnings = []
        module.warn = warnings.append
        thing = Plain(module, None)
        if outcome == "fails":
            with pytest.raises(ModuleError, match="create it first"):
                thing.missing_parent(error, "API '/x'")
        else:
            thing.missing_parent(error, "API '/x'")
            assert bool(warnings) == (outcome == "warns")
