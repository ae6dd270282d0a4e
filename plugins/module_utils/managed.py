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
    value the server means when it leaves the key out (its model's default).  ``spec``: the rest of the option's
    argument spec (``type``, ``elements``, ``choices``...).
    """

    def __init__(self, option, key=None, get=None, put=None, normalize=None, unordered=False, subset=False,
                 secret=False, create_only=False, missing=None, **spec):
        self.option = option
        self.key = tuple(key) if key else (None if get else (option,))
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

    def patch(self, wanted, options):
        """The partial body holding only ``options`` of ``wanted`` (for a PATCH)."""
        return self.apply({}, wanted, options)


class Managed(object):
    """One object a module manages; subclasses say how to find it and what each step sends.

    The module calls ``ensure()``, which returns the object as it was found and as it is afterwards (predicted in
    check mode).
    Subclasses implement ``find()`` and ``steps(current)``, and may use ``self.wanted`` (what the user set) and the
    generic steps below.
    """

    description = Description()

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

    def steps(self, current):
        """What it takes to bring ``current`` to the asked state, checked before any is run (ModuleError)."""
        raise NotImplementedError

    # -- the state machine --------------------------------------------------------------------------
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
        """The object as it may be shown: secrets masked, server-owned fields left out."""
        return present(obj)

    # -- steps most objects share ---------------------------------------------------------------------
    def converge(self, current, create, update, delete, update_secrets=False):
        """The create, update or delete step ``current`` needs, as a list (empty when nothing differs).

        ``create(wanted)`` -> Step; ``update(current, options)`` -> Step for the options that differ;
        ``delete(current)`` -> Step.
        """
        if self.state == "absent":
            return [delete(current)] if current is not None else []
        if current is None:
            return [create(self.wanted)]
        self.changed_options = self.description.differences(self.wanted, current, update_secrets)
        return [update(current, self.changed_options)] if self.changed_options else []
