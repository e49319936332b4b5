"""The click group every ``zkmargin`` command hangs on, with the exception wrapper around all of them.

Commands live in ``cli/commands_*.py`` modules that decorate functions with ``@cli.command()``;
``cli/main.py`` imports each module once (one line per module), which registers its commands.

May import :mod:`zkmargin.crypto.backends` and :mod:`.errors`. Used by every command module and
:mod:`.main`.
"""

from __future__ import annotations

import sys

import click

from zkmargin.crypto.backends import BACKENDS
from zkmargin.errors import ZkMarginError

from . import errors, output

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class ZkMarginGroup(click.Group):
    """A click group whose commands never print a traceback.

    ``invoke`` turns every exception a command raises into one stderr line and an exit code
    (:mod:`zkmargin.cli.errors`); ``main`` does the same for click's own usage errors, which keep
    click's exit code 2. ``ZKMARGIN_DEBUG=1`` lets exceptions through."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - the one place that maps every error
            if errors.debug_enabled():
                raise
            code = errors.report(exc)
            error_document(exc, code)
            raise click.exceptions.Exit(code) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        raw = list(sys.argv[1:] if args is None else args)
        output.start_invocation(json_requested="--json" in raw[: raw.index("--")] if "--" in raw
                                else "--json" in raw)
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else errors.EXIT_OK
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except click.exceptions.ClickException as exc:
            errors.say_error(errors.usage_line(exc))
            code = exc.exit_code
            error_document(exc, code)
        except click.exceptions.Abort:
            errors.say_error("interrupted")
            code = errors.EXIT_INTERRUPTED
        if standalone_mode:
            sys.exit(code)
        return code


def error_document(exc: BaseException, code: int) -> None:
    """With ``--json``, a failed command whose JSON document was not written yet writes the error
    as one (so stdout always holds exactly one document; issue 11). Never raises."""
    try:
        if not output.json_pending():
            return
        source = field = None
        if isinstance(exc, click.ClickException):
            message, kind = errors.usage_line(exc), "UsageError"
        elif isinstance(exc, ZkMarginError):
            message, kind = exc.one_line(), type(exc).__name__
            source, field = exc.source, exc.field
        else:
            message, kind = errors.message_for(exc)[0], type(exc).__name__
        output.emit_json({"ok": False, "exit_code": code, "error": message, "error_type": kind,
                          "file": source, "field": field})
    except Exception:  # noqa: BLE001 - the exit code must survive a failing error document
        pass


def backend_from(ctx: click.Context):
    """The ``--backend`` chosen on the group (None: ``$ZKMARGIN_BACKEND`` or the default)."""
    obj = ctx.find_root().obj or {}
    return obj.get("backend")


@click.group(name="zkmargin", cls=ZkMarginGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--backend", type=click.Choice(sorted(BACKENDS)), default=None,
              help="Group backend: arkworks (native, default) or py_ecc (pure-Python reference). "
                   "Default: $ZKMARGIN_BACKEND, else arkworks.")
@click.option("--quiet", "-q", is_flag=True,
              help="No notes or progress on stderr (errors are still printed).")
@click.version_option(package_name="zkmargin", prog_name="zkmargin")
@click.pass_context
def cli(ctx: click.Context, backend, quiet):
    """Prove in zero knowledge that a hidden derivatives account meets a venue's margin
    requirement; verify such proofs; re-check them.

    \b
    trader:    check, prove, open, receipt, import-account, reconcile
    custodian: custodian-keygen, attest, commit
    venue:     venue-keygen, challenge, verify, verify-batch, serve, client-add, client-remove,
               log-head, scenarios, generate-scenarios, dynamic-margin, import-venue,
               import-market
    auditor:   audit, log-head, open --check, verify-batch, inspect
    anyone:    demo, bench, policy-info

    A file argument of '-' is standard input (one per command); '-o -' writes a public document
    to standard output. Exit codes: 0 success (valid proof, account meets the requirement); 1
    rejected (invalid proof, account below the requirement); 2 usage or input error; 130
    interrupted. Shell completion: eval "$(_ZKMARGIN_COMPLETE=bash_source zkmargin)" (zsh_source,
    fish_source for the other shells).
    """
    ctx.ensure_object(dict)
    ctx.obj["backend"] = backend
    ctx.obj["quiet"] = quiet
