"""livemount command line interface (import name: livemount_cli)."""
