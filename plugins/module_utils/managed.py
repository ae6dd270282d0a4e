# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a module manages, described once, and the one state machine that brings it to the state asked for.

A ``Description`` lists the ``Field`` s of one kind of object: which module option is which key of the server's
JSON, how the two compare, which is a secret.  From it come the argument spec, the values the user asked for, the
comparison with what the server holds, and the bodies of the writes.

A ``Managed`` object (one per module) finds its object on the server and says, as ``Step`` s, what it would take to
reach the asked state: create, update, delete, and lifecycle moves such as publish or start.  ``Managed.ensure()``
runs them: it is the only place that decides ``changed``, the diff, and check mode (where each step's outcome is
predicted and nothing is sent; the client refuses any write as well).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from collections import namedtuple
from urllib.parse import quote

from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import SECRET_KEYS, is_mask, present

# One move towards the asked state: ``predict(obj)`` is the object after it (check mode, or what the server does
# not return), ``run(obj)`` sends it and returns the object the server answered (or None).  ``verify(obj)``, in
# check mode only, asks the server what the real write checks by itself (a refused write writes nothing), so that
# the prediction is true: whether a context path is free.


class Step(namedtuple("Step", "predict run verify")):
    def __new__(cls, predict, run, verify=None):
        return super(Step, cls).__new__(cls, predict, run, verify)


def unknown(secret):
    """A secret the server did not return: absent, empty or masked."""
    return secret in (None, "") or is_mask(secret)


def words(values):
    """A list of words as compared: stripped, without blanks or repeats, sorted."""
    return sorted(set(value.strip() for value in values or [] if value and value.strip()))


def get_path(obj, key):
    """The value at ``key`` (a tuple of JSON keys) inside ``obj``, or None."""
    for part in key:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def set_path(obj, key, value):
    """Set the value at ``key`` inside ``obj`` (in place), making the dicts on the way."""
    for part in key[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[key[-1]] = value


class Field(object):
    """One managed value: module option ``option`` (``a.b`` for suboption ``b`` of dict option ``a``) <-> JSON key.

    ``key``: a tuple of JSON keys (default: the option's name); or ``get(obj)`` / ``put(obj, value)`` for values that need finding (the first
    HTTP listener's path).  ``normalize``: the form both sides are compared in (the server's form of the value).
    ``unordered``: a list compared as a set.  ``subset``: a dict of which only the keys given are compared and set
    (a plugin configuration the server completes with its defaults).  ``secret``: ``no_log``, masked when shown; a
    secret the server does not return (absent or masked) can't be compared.  ``create_only``: sent when the object
    is created, never compared nor updated (the server never returns it, or can't change it).  ``missing``: the
    value the server means when it leaves the key out (its model's default).  ``writes``: the JSON keys a ``put``
    writes (default: ``key``), which a partial update copies.  ``create``: where a create body that is not the read
    model holds the value (a tuple of keys; ``create_form`` turns the value into that body's form).  ``view``: the key
    of the value in the object a module returns (the compared form; never a secret).  ``spec``: the rest of the
    option's argument spec (``type``, ``elements``, ``choices``...).
    """

    def __init__(self, option, key=None, get=None, put=None, normalize=None, unordered=False, subset=False,
                 secret=False, create_only=False, missing=None, writes=None, create=None, create_form=None, view=None,
                 **spec):
        self.option = option
        self.key = tuple(key) if key else (None if get else (option,))
        self.writes = [tuple(path) for path in writes] if writes else ([self.key] if self.key else [])
        self.create, self.create_form, self.view = tuple(create) if create else None, create_form, view
        self._get, self._put, self._normalize = get, put, normalize
        self.unordered = unordered
        self.subset = subset
        self.missing = missing
        self.secret = secret
        self.create_only = create_only
        self.spec = dict(spec, type=spec.get("type", "str"))
        if self.secret:
            self.spec["no_log"] = True

    def normalize(self, value):
        if value is None:
            return None
        if self._normalize:
            value = self._normalize(value)
        if self.unordered and isinstance(value, list):
            value = sorted(set(value), key=str)
        return value

    def get(self, obj):
        value = self._get(obj) if self._get else get_path(obj, self.key)
        return self.normalize(self.missing if value is None else value)

    def put(self, obj, value):
        if self._put:
            self._put(obj, value)
        elif self.subset and isinstance(get_path(obj, self.key), dict):
            get_path(obj, self.key).update(copy.deepcopy(value))
        else:
            set_path(obj, self.key, copy.deepcopy(value))

    def differs(self, wanted, obj, update_secrets=False):
        """Whether ``obj`` does not hold ``wanted`` (already normalized)."""
        if self.create_only:
            return False
        current = self.get(obj)
        if self.subset:
            current = current if isinstance(current, dict) else {}
            return any(
                secret_differs(value, current.get(key), update_secrets) if key in SECRET_KEYS else value != current.get(key)
                for key, value in wanted.items()
            )
        if self.secret:
            return secret_differs(wanted, current, update_secrets)
        return wanted != current


def secret_differs(wanted, current, update_secrets):
    """A secret is sent again on every run with ``update_secrets``; otherwise only when the server returned it (APIM
    returns an API resource's secret as stored) and it differs: one it does not return can't be compared."""
    if update_secrets:
        return True
    return not unknown(current) and wanted != current


class Description(object):
    """The fields of one kind of object."""

    def __init__(self, *fields):
        self.fields = fields
        self.by_option = dict((field.option, field) for field in fields)

    def argument_spec(self):
        """The options of the fields, suboptions nested under their dict option."""
        spec = {}
        for field in self.fields:
            parts = field.option.split(".")
            target = spec
            for part in parts[:-1]:
                target = target.setdefault(part, dict(type="dict", options={}))["options"]
            target[parts[-1]] = dict(field.spec)
        return spec

    def param(self, params, option):
        value = params
        for part in option.split("."):
            value = (value or {}).get(part)
        return value

    def wanted(self, params):
        """``{option: value}`` for every field the user set (not None), in the compared form."""
        wanted = {}
        for field in self.fields:
            value = self.param(params, field.option)
            if value is not None:
                wanted[field.option] = field.normalize(value)
        return wanted

    def read(self, obj):
        """``{option: value}`` of every field, as ``obj`` holds it."""
        return dict((field.option, field.get(obj)) for field in self.fields if not field.create_only)

    def differences(self, wanted, obj, update_secrets=False):
        """The options of ``wanted`` that ``obj`` does not hold, in the order of the fields."""
        return [
            field.option for field in self.fields
            if field.option in wanted and field.differs(wanted[field.option], obj, update_secrets)
        ]

    def apply(self, obj, wanted, options=None):
        """A copy of ``obj`` holding ``wanted`` (only ``options`` of it, when given)."""
        result = copy.deepcopy(obj) if obj is not None else {}
        for field in self.fields:
            if field.option in wanted and (options is None or field.option in options):
                field.put(result, wanted[field.option])
        return result

    def patch(self, wanted, options, current=None):
        """The partial body holding only ``options`` of ``wanted`` (for a PATCH); with ``current``, each option's JSON
        keys (``writes``) as ``current`` holds them once ``wanted`` is applied (a value that merges into what is there,
        such as flags kept on the scopes kept)."""
        if current is None:
            return self.apply({}, wanted, options)
        predicted, body = self.apply(current, wanted, options), {}
        for field in self.fields:
            if field.option in options:
                for key in field.writes:
                    set_path(body, key, copy.deepcopy(get_path(predicted, key)))
        return body

    def create_body(self, wanted, body=None):
        """A create body in a model of its own (fields with ``create``): ``body`` holding each such field of ``wanted``."""
        body = dict(body or {})
        for field in self.fields:
            if field.create and wanted.get(field.option) is not None:
                value = wanted[field.option]
                set_path(body, field.create, field.create_form(value) if field.create_form else copy.deepcopy(value))
        return body

    def view(self, obj):
        """``{view key: value}`` of the fields with a view, as ``obj`` holds them (None values left out); None when no
        field has one."""
        viewed = [field for field in self.fields if field.view]
        if not viewed:
            return None
        values = ((field.view, field.get(obj)) for field in viewed)
        return dict((key, value) for key, value in values if value is not None)


class Managed(object):
    """One object a module manages: how to find it, what to check, and what each write sends.

    ``ensure()`` is the one state machine, for every state of every object: ``absent`` (and the other
    ``leaving_states``, such as a plan's ``closed``) only ever move an object that exists; any other state creates the
    object or updates what differs, then adds the object's lifecycle moves (publish, start...). A subclass implements
    ``find()`` and, where its object needs them:

    * ``prepare(current)``: resolve inputs before any check (a name to an id, a default the server decides);
    * ``check(current)``: refuse, before any write, what the server would refuse (ModuleError);
    * ``before(current)`` / ``after(current, predicted)``: steps run before the create or update (scopes it needs),
      and after it (lifecycle moves); ``leave(current)``: the steps of a leaving state (default: delete);
    * ``collection()``: the path of the objects' collection, for the default ``create``, ``update`` and ``delete``;
      or those three themselves, when a write is more than a request.
    """

    description = Description()
    # States that only take an object that exists somewhere (deleted, closed): nothing is created for them.
    leaving_states = ("absent",)
    # The default update: PATCH of the changed fields (AM), or PUT of the whole object (APIM).
    update_method = "PATCH"
    # Whether a secret the server does not return is sent again on every run (see Field.differs).
    update_secrets = False

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.state = module.params.get("state") or "present"
        self.wanted = self.description.wanted(module.params)
        self.changed_options = []  # the options whose value differed, when the object is updated

    # -- to implement -------------------------------------------------------------------------------
    def find(self):
        """The object as the server has it, or None."""
        raise NotImplementedError

    def prepare(self, current):
        """Resolve the inputs that need the server (names to ids, server-decided defaults) into ``self.wanted``."""

    def check(self, current):
        """Refuse, with a ModuleError, what the server would refuse; called before any step is run."""

    def before(self, current):
        """Steps the create or update needs first."""
        return []

    def after(self, current, predicted):
        """Lifecycle steps once the object is as asked (``predicted``): publish, start, a new secret..."""
        return []

    def leave(self, current):
        """The steps of a leaving state, for an object that exists."""
        return [self.delete(current)]

    def collection(self):
        """The path of the objects' collection: ``POST`` creates, ``{path}/{id}`` is one object."""
        raise NotImplementedError("%s writes its own create, update and delete" % type(self).__name__)

    def skeleton(self):
        """What a create body holds besides the fields."""
        return {}

    # -- the state machine --------------------------------------------------------------------------
    def steps(self, current):
        """Every step from ``current`` to the asked state, all checked before the first is run."""
        if self.state in self.leaving_states:
            if current is None:
                return []
            self.check(current)
            return self.leave(current)
        self.prepare(current)
        self.check(current)
        steps = self.before(current)
        if current is None:
            write = [self.create(self.wanted)]
        else:
            self.changed_options = self.description.differences(self.wanted, current, self.update_secrets)
            write = [self.update(current, self.changed_options)] if self.changed_options else []
        predicted = write[0].predict(current) if write else current
        return steps + write + self.after(current, predicted)

    def ensure(self):
        current = self.find()
        after = current
        for step in self.steps(current):
            self.module.changed = True
            predicted = step.predict(after)
            if self.module.check_mode:
                if step.verify is not None:
                    step.verify(after)
                after = predicted
            else:
                answered = step.run(after)
                after = predicted if answered is None else answered
        self.module.diff = {"before": self.shown(current) or {}, "after": self.shown(after) or {}}
        return current, after

    def shown(self, obj):
        """The object as it may be shown: its id and the fields' views, when the fields have views; otherwise the
        object with secrets masked and server-owned fields left out."""
        if obj is None:
            return None
        view = self.description.view(obj)
        if view is None:
            return present(obj)
        return dict({"id": obj["id"]} if obj.get("id") is not None else {}, **view)

    def missing_parent(self, error, parent):
        """The object's ``parent`` (its API, its MCP server) does not exist: then the object is absent, which a leaving
        state accepts; check mode predicts it in the parent an earlier task would create, saying so; otherwise
        ``error`` (a ModuleError) is raised."""
        if self.state in self.leaving_states:
            return
        if not self.module.check_mode:
            raise error
        self.module.warn("in check mode, %s does not exist yet: the prediction assumes an earlier task creates it" % parent)

    # -- the default writes: one request each on the collection ------------------------------------------
    def item(self, obj):
        return "%s/%s" % (self.collection(), quote(str(obj["id"]), safe=""))

    def create(self, wanted):
        body = self.description.apply(self.skeleton(), wanted)
        return Step(lambda _nothing: body, lambda _nothing: self.module.client.post(self.collection(), body, expected=(200, 201)))

    def update(self, current, options):
        def run(obj):
            body = self.description.patch(self.wanted, options) if self.update_method == "PATCH" else \
                self.description.apply(obj, self.wanted, options)
            return self.module.client.request(self.update_method, self.item(obj), body, expected=(200,))

        return Step(lambda obj: self.description.apply(obj, self.wanted, options), run)

    def delete(self, current):
        return Step(lambda _obj: None, lambda obj: self.module.client.delete(self.item(obj)))
