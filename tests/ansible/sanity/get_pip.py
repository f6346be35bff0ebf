"""Offline stand-in for pip's get-pip.py, for ansible-test's sanity venvs.

ansible-test bootstraps pip into each empty sanity venv by downloading
get-pip.py from the internet (ansible_test/_util/target/setup/requirements.py)
unless ~/.ansible/test/cache/get_pip_<version>.py exists. This machine reaches
package indexes but not that host, so the sanity phase seeds the cache with
this script: ensurepip (bundled with CPython) puts a pip into the venv, then
that pip installs the packages ansible-test asked for from the configured index.
"""

import os
import subprocess
import sys

# get-pip.py options that `pip install` does not know.
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main(argv):
    """Return the exit status of installing the requested packages with a freshly ensured pip."""
    env = dict(os.environ)
    # ansible-test runs this file through its quiet_pip wrapper with GET_PIP
    # set; the pip started below must be the real one.
    env.pop("GET_PIP", None)
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env,
                          stdout=subprocess.DEVNULL)
    args = [a for a in argv if a not in GET_PIP_ONLY]
    return subprocess.call([sys.executable, "-m", "pip", "install", "-q"] + args, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
