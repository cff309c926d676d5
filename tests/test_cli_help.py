"""What --help shows (issue 13): each default once, the commands once, and only objectives the command
line can run."""

import re

import pytest

from saddle.experiments.cli import COMMANDS, build_parser


def _help(*argv):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])


def test_each_default_is_printed_once(capsys):
    """Our help strings name their defaults; argparse must not add its own "(default: ...)" after them."""
    _help("escape")
    text = capsys.readouterr().out
    assert "(default: None)" not in text
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["escape"]
    assert sub.formatter_class.__name__ == "HelpFormatter"  # not ArgumentDefaultsHelpFormatter
    for action in sub._actions:
        assert (action.help or "").count("default") <= 1, action.option_strings


def test_the_commands_are_listed_once(capsys):
    _help()
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert len(re.findall(rf"^\s+{name}\s", text, flags=re.M)) == 1, name


def test_objective_user_is_not_offered_on_the_command_line(capsys):
    _help("escape")
    flat = re.sub(r"\s+", " ", capsys.readouterr().out)
    offered = re.search(r"--objective \{(.*?)\}", flat).group(1)
    assert "spike" in offered and "teacher-student" in offered and "user" not in offered.split(",")
