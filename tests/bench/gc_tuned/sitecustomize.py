# make bench, diagnostic only: put on PYTHONPATH, this makes the ansible-playbook process (and the workers it
# forks) run Python's cyclic garbage collector far less often. It shows how much of a module task's cost is
# the collector walking the controller's heap while Ansible builds the module's AnsiballZ payload (it parses
# every module_utils file into an AST): Ansible's cost, which grows with the size of a module's module_utils.
import gc

gc.set_threshold(200000, 50, 50)
