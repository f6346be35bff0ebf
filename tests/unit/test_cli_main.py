"""The `livemount` entry point's parser: argparse's messages and gettext."""

import argparse
import gettext

from livemount_cli import main


def test_argparse_skips_gettext_without_a_catalog(monkeypatch):
    """No catalog for the current domain and languages: argparse's messages pass through `str`, not gettext."""
    monkeypatch.setattr(argparse, "_", gettext.gettext)
    monkeypatch.setattr(gettext, "find", lambda domain, localedir=None, languages=None, all=False: None)
    parser = main.build_parser()
    assert argparse._ is str
    assert "COMMAND" in parser.format_usage()


def test_argparse_keeps_gettext_with_a_catalog(monkeypatch):
    """A catalog for the current domain: argparse keeps translating through gettext."""
    monkeypatch.setattr(argparse, "_", gettext.gettext)
    monkeypatch.setattr(gettext, "find", lambda domain, localedir=None, languages=None, all=False: "/x/messages.mo")
    main.build_parser()
    assert argparse._ is gettext.gettext
