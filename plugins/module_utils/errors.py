# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error a module reports for its input or for what it found: no Ansible import, so that the REST classes and
everything below the module base raise it too."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleError(Exception):
    """A problem with the module's input or with what it found, phrased for the user.

    ``option``: the module option at fault, or None; a path into it (``tools[0].key``, ``cimd.template``) is kept as
    ``path`` and reduced to the option itself (``tools``, ``cimd``), its name in the argument spec. A module returns
    both with the failure, so that a caller (the role) names its own variable without reading the message.
    """

    def __init__(self, message, option=None):
        super(ModuleError, self).__init__(message)
        self.path = option
        self.option = option.split(".")[0].split("[")[0] if option else None
