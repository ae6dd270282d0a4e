# make bench, diagnostic only: put on PYTHONPATH, this makes the ansible-playbook process (and the workers it
# forks for each task) run Python's cyclic garbage collector far less often. Comparing the no-op run and its
# floor with and without it shows how much of their wall time is the collector walking the controller's
# heap in each task's worker (for instance while Ansible builds a module's AnsiballZ payload): Ansible's own
# cost, which grows with the size of the play (its tasks, variables and registered results).
import gc

gc.set_threshold(200000, 50, 50)
