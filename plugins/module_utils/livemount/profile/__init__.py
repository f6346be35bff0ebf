"""The profile format: text in (forms, yaml_load, fstab), validated against the
JSON Schema (schema_data, jsonschema_lite: its keywords in jsonschema_keywords,
their fused checks in jsonschema_fused, JSON values in jsonschema_values)
and livemount's own rules (load, paths), and the Ansible argument spec
generated from the same schema (ansible_spec).
Pure: nothing here touches the system."""
