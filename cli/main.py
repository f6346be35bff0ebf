"""Entry point of the `livemount` command.

Placeholder so packaging and the dev runner can be exercised before the real
CLI lands; the CLI owner replaces this file.
"""

import sys

USAGE = "usage: livemount <command> [options]\n\ncommands are not implemented yet\n"


def main(argv=None):
    """Return the process exit status after printing usage."""
    sys.stdout.write(USAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
