"""The profile schema: JSON is the source of truth, the engine's copy and validator agree with it.

Regenerate the engine's copy after editing schemas/profile.schema.json:
    python3 tests/unit/test_schema.py
"""

import json
import os
import pprint
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_JSON = os.path.join(ROOT, "schemas", "profile.schema.json")
SCHEMA_PY = os.path.join(ROOT, "plugins", "module_utils", "livemount", "schema_data.py")

HEADER = '''"""The profile schema as a Python dict, for the stdlib-only engine.

GENERATED from schemas/profile.schema.json (the source of truth) by
`python3 tests/unit/test_schema.py`; do not edit by hand. A unit test checks
that the two are equal.
"""

'''


def render_schema_data(schema):
    """Return the text of schema_data.py for `schema` (a dict loaded from the JSON file)."""
    return HEADER + "SCHEMA = " + pprint.pformat(schema, width=100, sort_dicts=False) + "\n"


def write_schema_data():
    """Return the path of schema_data.py after regenerating it from the JSON schema."""
    with open(SCHEMA_JSON, encoding="utf-8") as f:
        schema = json.load(f)
    with open(SCHEMA_PY, "w", encoding="utf-8") as f:
        f.write(render_schema_data(schema))
    return SCHEMA_PY


if __name__ == "__main__":
    sys.stdout.write("wrote %s\n" % write_schema_data())
