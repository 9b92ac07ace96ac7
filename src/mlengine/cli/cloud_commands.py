"""gcloud ml-engine's commands that only exist on Google Cloud (IAM policies, project set-up,
regions): accepted with any arguments, and refused in one line that says so, so a script that
runs them stops with a reason rather than a usage error."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import typer

from mlengine.cli.output import fail

_IAM = (
    "a local registry has no IAM policies (MLENGINE_API_TOKEN guards the server's management "
    "calls)."
)
# (group, command) → why it cannot run here; group "" is the top level.
CLOUD_COMMANDS: Mapping[tuple[str, str], str] = {
    ("models", "get-iam-policy"): _IAM,
    ("models", "set-iam-policy"): _IAM,
    ("models", "add-iam-policy-binding"): _IAM,
    ("models", "remove-iam-policy-binding"): _IAM,
    ("", "init-project"): (
        "it gives a Cloud project's ML Engine service account access; mlengine needs no set-up."
    ),
    ("locations", "list"): "locations are Google Cloud's regions; mlengine runs on this machine.",
    ("locations", "describe"): (
        "locations are Google Cloud's regions; mlengine runs on this machine."
    ),
}
_EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}

locations_app = typer.Typer(help="Google Cloud regions (none here).", no_args_is_help=True)


def _refusal(path: str, reason: str) -> Callable[[], None]:
    def refuse() -> None:
        command = " ".join(path.split(".")[1:])
        raise fail(path, f"`{command}` needs Google Cloud: {reason}")

    refuse.__doc__ = f"Google Cloud only: refused with the reason. {reason}"
    return refuse


def register(groups: Mapping[str, typer.Typer]) -> None:
    """Add the Cloud-only commands to their groups (``""``: the top level), hidden from help."""
    for (group, name), reason in CLOUD_COMMANDS.items():
        path = ".".join(filter(None, ("mlengine", group, name)))
        groups[group].command(name, hidden=True, context_settings=_EXTRA_ARGS)(
            _refusal(path, reason)
        )


__all__ = ["CLOUD_COMMANDS", "locations_app", "register"]
