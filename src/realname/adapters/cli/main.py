"""The root ``realname`` command group. Sub-groups live in their own modules and are added here.

Commands get their dependencies from ``ctx.obj``, which the entry point fills with the composition
root's container; each command module states what it needs as a small Protocol.
"""

from __future__ import annotations

import click

from realname.adapters.cli.database_commands import db_group
from realname.adapters.cli.demo_commands import demo_command
from realname.adapters.cli.face_commands import face_group, models_group
from realname.adapters.cli.id_commands import id_group
from realname.adapters.cli.liveness_commands import liveness_group
from realname.adapters.cli.party_commands import party_group
from realname.adapters.cli.privacy_commands import (
    audit_admin_commands,
    audit_verify_command,
    keys_group,
    privacy_group,
    purge_command,
)
from realname.adapters.cli.reader_commands import reader_group
from realname.adapters.cli.registry_commands import (
    audit_group,
    init_command,
    numbers_group,
    outlet_group,
    serve_command,
    staff_group,
)
from realname.adapters.cli.report_commands import evidence_commands, report_group
from realname.adapters.cli.terminal_commands import terminal_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="realname")
def cli() -> None:
    """realname: register phone numbers to real, verified people."""


for command in (
    init_command,
    serve_command,
    outlet_group,
    staff_group,
    terminal_group,
    numbers_group,
    audit_group,
    id_group,
    face_group,
    models_group,
    liveness_group,
    keys_group,
    purge_command,
    privacy_group,
    demo_command,
    db_group,
    party_group,
    reader_group,
    report_group,
):
    cli.add_command(command)

# `audit verify` from the privacy module also checks the signed checkpoints; it replaces the plain one.
for command in (*audit_admin_commands, audit_verify_command, *evidence_commands):
    audit_group.add_command(command)
