"""livemount engine: reconcile a mount table with a declared profile, live.

Standard library only, Python 3.9 syntax: this package is shipped to every
managed host inside Ansible module calls.
"""
