"""livemount schema: print the profile JSON Schema."""


def add_arguments(p):
    """Add this command's options (none)."""


def run(args, out):
    """Return 0 after printing the schema the engine validates against."""
    import json

    from .common import engine_module

    out.text(json.dumps(engine_module("profile.schema_data").SCHEMA, indent=2) + "\n")
    return 0
