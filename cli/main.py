"""Entry point of the ``zkmargin`` command (``zkmargin.cli.main:main``).

Adding commands: write ``cli/commands_<topic>.py`` whose functions are decorated with
``@cli.command()`` (``from .app import cli``), then add ONE import line below.
"""

from __future__ import annotations

from .app import cli
from . import commands_core  # noqa: F401,E402  demo check prove verify verify-batch challenge inspect bench
from . import commands_custodian  # noqa: F401,E402  custodian-keygen attest commit open
from . import commands_log  # noqa: F401,E402  venue-keygen log-head receipt audit
from . import commands_service  # noqa: F401,E402  serve
from . import commands_venue  # noqa: F401,E402  scenarios dynamic-margin
from . import commands_clients  # noqa: F401,E402  client-add client-remove
from . import commands_import  # noqa: F401,E402  import-venue import-market import-account reconcile

__all__ = ["cli", "main"]


def main(argv=None) -> None:
    """Run the command line (exits with the command's exit code)."""
    cli.main(args=argv, prog_name="zkmargin")


if __name__ == "__main__":
    main()
