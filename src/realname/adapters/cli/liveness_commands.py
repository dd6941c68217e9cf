"""``realname liveness``: analyse a recorded clip offline (for benchmarks, tuning and store-terminal checks).

The JSON output is a fixed contract that scripts depend on::

    realname liveness detect CLIP --json
      {"actions_detected": [{"action", "start_s", "end_s"}], "faces_max": int, "spoof_suspected": bool, "reasons": [...]}
    realname liveness check CLIP --actions blink,turn_left,turn_right --json
      {"passed": bool, "reasons": [...], "actions_detected": [...], "spoof_suspected": bool}

Action names are the subject's own directions (``turn_left`` = the person turns to their own left). A decided
clip exits 0 when it passed and 1 when it was rejected (checked, negative); ``detect`` exits 0 once it has listed
what it saw; an unusable clip (2) or a missing model (6) exits with the error's code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import click

from realname.adapters.cli.errors import exit_negative, reports_errors
from realname.adapters.cli.input_files import read_input_file
from realname.app.liveness import LivenessChecker
from realname.domain.liveness import Action, LivenessResult
from realname.domain.policy import Policy


class LivenessServices(Protocol):
    """What these commands need from ``ctx.obj`` (the composition root's container provides it)."""

    def liveness_checker(self) -> LivenessChecker: ...

    def policy(self) -> Policy: ...


def _services() -> LivenessServices:
    services: LivenessServices = click.get_current_context().obj
    return services


def _read_clip(clip: Path) -> bytes:
    """The clip file, refused before reading when it is not a regular file of at most the upload limit."""
    return read_input_file(clip, max_bytes=_services().policy().max_upload_bytes, what="clip")


def _actions_text(result: LivenessResult) -> str:
    if not result.actions_detected:
        return "  (none)"
    return "\n".join(f"  {a.action.value:<10} {a.start_s:6.2f}–{a.end_s:6.2f} s" for a in result.actions_detected)


@click.group(name="liveness")
def liveness_group() -> None:
    """Analyse liveness clips (WebM/MP4, at most 10 s and 20 MB)."""


@liveness_group.command(name="detect")
@click.argument("clip", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@reports_errors
def detect_command(clip: Path, as_json: bool) -> None:
    """List every action seen in CLIP, the most faces at once, and any clip-level rejection reasons."""
    result = _services().liveness_checker().detect(_read_clip(clip))
    payload = {
        "actions_detected": [a.as_dict() for a in result.actions_detected],
        "faces_max": result.faces_max,
        "spoof_suspected": result.spoof_suspected,
        "reasons": [r.value for r in result.reasons],
    }
    if as_json:
        click.echo(json.dumps(payload))
        return
    click.echo(f"actions:\n{_actions_text(result)}")
    click.echo(f"faces at most: {result.faces_max}")
    click.echo(f"spoof suspected: {'yes' if result.spoof_suspected else 'no'}")
    click.echo(f"reasons: {', '.join(payload['reasons']) or 'none'}")  # type: ignore[arg-type]


@liveness_group.command(name="check")
@click.argument("clip", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--actions",
    "actions_text",
    required=True,
    help="Comma-separated actions in the required order: blink, turn_left, turn_right, nod.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@reports_errors
def check_command(clip: Path, actions_text: str, as_json: bool) -> None:
    """Decide whether CLIP performs ACTIONS in the given order, by one live person. Exits 0 when it does, 1 when
    the clip is rejected."""
    actions = Action.parse_list(actions_text)
    result = _services().liveness_checker().check(_read_clip(clip), actions).result
    payload = {
        "passed": result.passed,
        "reasons": [r.value for r in result.reasons],
        "actions_detected": [a.as_dict() for a in result.actions_detected],
        "spoof_suspected": result.spoof_suspected,
    }
    if as_json:
        click.echo(json.dumps(payload))
    else:
        click.echo("PASSED" if result.passed else "REJECTED")
        if result.reasons:
            click.echo("reasons: " + ", ".join(r.value for r in result.reasons))
        click.echo(f"actions:\n{_actions_text(result)}")
    if not result.passed:
        exit_negative()
