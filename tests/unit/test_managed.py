"""managed.py: an object described once (Field, Description) and Managed.ensure(), the one state machine."""

from __future__ import annotations

import json

import pytest
from tests.unit.module_args import patch_module_args

from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule

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

    def find(self):
        return self.current

    def steps(self, current):
        def create(wanted):
            body = self.description.apply({}, wanted)
            return Step(lambda _: body, lambda _: self.sent.append(("create", body)) or dict(body, id="new"))

        def update(obj, options):
            return Step(lambda o: self.description.apply(o, self.wanted, options),
                        lambda o: self.sent.append(("update", self.description.patch(self.wanted, options))))

        def delete(obj):
            return Step(lambda _: None, lambda o: self.sent.append(("delete", o["id"])))

        return self.converge(current, create, update, delete, update_secrets=self.params.get("always"))


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
