"""Entry point of the ``zkmargin`` command (``zkmargin.cli.main:main``).

Adding commands: write ``cli/commands_<topic>.py`` whose functions are decorated with
``@cli.command()`` (``from .app import cli``), then add ONE import line below.

Imports the group and every command module. Used by the ``zkmargin`` script.
"""

from __future__ import annotations

from . import (
    commands_clients,  # noqa: F401,E402  client-add client-remove
    commands_core,  # noqa: F401,E402  demo check prove verify verify-batch challenge inspect bench
    commands_custodian,  # noqa: F401,E402  custodian-keygen attest commit open
    commands_db,  # noqa: F401,E402  db-migrate
    commands_import,  # noqa: F401,E402  import-venue import-market import-account reconcile
    commands_info,  # noqa: F401,E402  policy-info
    commands_log,  # noqa: F401,E402  venue-keygen log-head receipt audit
    commands_risk,  # noqa: F401,E402  generate-scenarios
    commands_service,  # noqa: F401,E402  serve
    commands_venue,  # noqa: F401,E402  scenarios dynamic-margin
)
from .app import cli

__all__ = ["cli", "main"]


def main(argv=None) -> None:
    """Run the command line (exits with the command's exit code)."""
    from .streams import ensure_std_streams

    ensure_std_streams()  # a closed stderr must not turn a success into exit 1
    cli.main(args=argv, prog_name="zkmargin")


if __name__ == "__main__":
    main()
