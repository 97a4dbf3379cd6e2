"""The `grassroots` command: serve, worker, create-admin, export-openapi, migrations."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
from pathlib import Path

from tortoise import Tortoise

from grassroots import db
from grassroots.logs import configure
from grassroots.settings import InsecureSettings, Settings, get_settings

log = logging.getLogger("grassroots")

OPENAPI_PATH = Path("openapi") / "openapi.json"


def _settings_or_exit() -> Settings:
    settings = get_settings()
    # Logging first: a key generated on first start is announced in the JSON log.
    configure(settings.log_level)
    try:
        settings.prepare_secrets()
    except InsecureSettings as exc:
        print(f"grassroots: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings


async def _prepare_database(settings: Settings, *, demo: bool) -> None:
    await db.migrate(settings)
    from services import demo as demo_data
    from services.security import rekey_development_identity_numbers

    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        await rekey_development_identity_numbers(settings=settings)
        if demo:
            await demo_data.load_if_empty(settings=settings)
    finally:
        await Tortoise.close_connections()


def cmd_serve(args: argparse.Namespace) -> None:
    """Migrate, optionally load demo data, and run the API (and the worker unless --no-worker)."""
    import uvicorn

    settings = _settings_or_exit()
    asyncio.run(_prepare_database(settings, demo=args.demo))
    if settings.fcm_credentials is None:
        log.info(
            "GRASSROOTS_FCM_CREDENTIALS is not set: notifications go to inboxes only, no pushes"
        )
    # [push branch, issue 16] the China channels, said once as for FCM.
    if not settings.jpush_enabled:
        log.info("GRASSROOTS_JPUSH_APP_KEY / GRASSROOTS_JPUSH_MASTER_SECRET are not set: no JPush")
    if not settings.sms_enabled:
        log.info("GRASSROOTS_SMS_* are not set: no SMS")
    os.environ["GRASSROOTS_INPROCESS_WORKER"] = "0" if args.no_worker else "1"
    from grassroots import metrics

    metrics.share_between_processes(args.workers)
    uvicorn.run(
        "api.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        # The app decides whom to believe about client addresses (GRASSROOTS_TRUSTED_PROXIES,
        # api.middleware.ClientAddressMiddleware); uvicorn would trust 127.0.0.1 by default.
        proxy_headers=False,
    )


def cmd_worker(_args: argparse.Namespace) -> None:
    """Run the background worker alone until SIGTERM/SIGINT."""
    from services.worker import run_worker

    settings = _settings_or_exit()

    async def main() -> None:
        await db.migrate(settings)
        await Tortoise.init(config=db.tortoise_config(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_worker(stop=stop, settings=settings, announce=True)
        finally:
            await Tortoise.close_connections()

    asyncio.run(main())


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            print("grassroots: passwords differ", file=sys.stderr)
            raise SystemExit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_create_admin(args: argparse.Namespace) -> None:
    """Create an admin at the root org unit; the password comes from stdin or a prompt."""
    from services import bootstrap

    settings = _settings_or_exit()
    password = _read_password()
    if len(password) < 8:
        print("grassroots: the password needs at least 8 characters", file=sys.stderr)
        raise SystemExit(2)

    async def main() -> str:
        await db.migrate(settings)
        await Tortoise.init(config=db.tortoise_config(settings))
        try:
            return await bootstrap.create_admin(
                username=args.username,
                password=password,
                full_name=args.full_name,
                settings=settings,
            )
        finally:
            await Tortoise.close_connections()

    try:
        message = asyncio.run(main())
    except bootstrap.BootstrapError as exc:
        print(f"grassroots: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(message)


def cmd_export_openapi(args: argparse.Namespace) -> None:
    """Write the app's OpenAPI document."""
    from api.app import create_app

    spec = create_app(Settings(), manage_db=False).openapi()
    target = Path(args.output)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {target}")


def cmd_migrate(_args: argparse.Namespace) -> None:
    """Apply the committed migrations."""
    settings = _settings_or_exit()
    asyncio.run(db.migrate(settings))
    print("database is up to date")


def cmd_makemigrations(args: argparse.Namespace) -> None:
    """Write a migration for model changes (developers)."""
    from tortoise.cli.cli import CLIContext, makemigrations

    settings = get_settings()
    config = db.tortoise_config(settings)
    module = sys.modules[__name__]
    module.TORTOISE_CONFIG = config  # type: ignore[attr-defined]
    ctx = CLIContext(config=f"{__name__}.TORTOISE_CONFIG", config_file=None)
    asyncio.run(makemigrations(ctx, (), False, args.name))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="grassroots", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and the worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="API processes")
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    serve.add_argument("--no-worker", action="store_true", help="do not run jobs in this process")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run the background worker alone")
    worker.set_defaults(func=cmd_worker)

    admin = sub.add_parser("create-admin", help="create an admin user")
    admin.add_argument("username")
    admin.add_argument("--full-name", default="系统管理员")
    admin.set_defaults(func=cmd_create_admin)

    export = sub.add_parser("export-openapi", help="write openapi/openapi.json")
    export.add_argument("--output", default=str(OPENAPI_PATH))
    export.set_defaults(func=cmd_export_openapi)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    make = sub.add_parser("makemigrations", help="write a migration for model changes")
    make.add_argument("--name", default=None)
    make.set_defaults(func=cmd_makemigrations)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
