"""``patch_module_args`` for every supported ansible-core: Ansible's own from 2.19, the same thing before it.

ansible.module_utils.testing appeared in ansible-core 2.19; before it, AnsibleModule reads its arguments from
``ansible.module_utils.basic._ANSIBLE_ARGS`` (JSON bytes) as well, which is what the fallback patches.
"""

from __future__ import annotations

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16 to 2.18
    import contextlib
    import json
    from unittest import mock

    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose the given module args to `AnsibleModule` instances created within this context."""
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()):
            yield

__all__ = ["patch_module_args"]
