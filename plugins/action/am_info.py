# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the module am_info (plugins/plugin_utils/module_action.py says why it has an action)."""

from __future__ import annotations

from ansible_collections.mcpgate.gravitee.plugins.plugin_utils.module_action import ActionModule  # noqa: F401 pylint: disable=unused-import
