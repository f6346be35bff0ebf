"""livemount schema: print the profile JSON Schema."""


def add_arguments(p):
    """Add this command's options (none)."""


def run(args, out):
    """Return 0 after printing the schema the engine validates against."""
    import json

    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.schema_data import SCHEMA

    out.text(json.dumps(SCHEMA, indent=2) + "\n")
    return 0
