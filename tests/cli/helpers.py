"""Helpers of the CLI tests."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from mlengine.cli.main import app


class Cli:
    """Runs ``mlengine ARGS...`` in-process and checks the exit code."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> Result:
        result = self.runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    def fails(self, *args: str, match: str) -> str:
        """Run a command that must fail with one line on stderr containing ``match``."""
        result = self(*args, code=1)
        lines = result.stderr.strip().splitlines()
        assert len(lines) >= 1 and lines[-1].startswith("ERROR: (mlengine."), result.stderr
        assert match in lines[-1], lines[-1]
        assert "Traceback" not in result.output
        assert result.stdout == ""
        return lines[-1]

    def usage(self, *args: str, match: str) -> str:
        """Run a command that must be refused as a usage error: exit 2, one ERROR line."""
        result = self(*args, code=2)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ERROR: (mlengine"), result.stderr
        assert match in lines[0], lines[0]
        assert result.stdout == ""
        return lines[0]
