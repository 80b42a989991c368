"""A contact-centric CRM for small businesses."""

from flask import Flask


def create_app(config=None):
    """Build the application; ``config`` overrides every other setting."""
    app = Flask(__name__, instance_relative_config=True)

    from crm import config as settings

    settings.load(app, config)

    from crm.core import logs

    logs.configure(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_admin(app)
    _register_cli(app)
    return app


def _init_extensions(app):
    from crm.core import i18n, security
    from crm.core.database import init_database
    from crm.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    init_database(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    security.init_app(app)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _register_blueprints(app):
    from crm.auth.views import bp as auth_bp
    from crm.core.web import bp as web_bp
    from crm.files.views import bp as files_bp
    from crm.mail.views import bp as mail_bp
    from crm.partners.views import bp as partners_bp
    from crm.tracking.views import bp as tracking_bp
    from crm.webforms.views import bp as webforms_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(mail_bp)
    app.register_blueprint(partners_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(tracking_bp)
    app.register_blueprint(webforms_bp)


def _register_admin(app):
    from crm.core.registry import build_admin

    build_admin(app)

    from crm.scoring.admin import init_app as init_scoring

    init_scoring(app)


def _register_cli(app):
    from crm.access.cli import teams_cli
    from crm.auth.cli import users_cli
    from crm.automation.cli import campaigns_cli, scheduler_cli
    from crm.contacts import export_cli  # noqa: F401  (adds "contacts export")
    from crm.contacts.cli import contacts_cli
    from crm.demo.cli import demo_cli
    from crm.mail.cli import mail_cli
    from crm.opportunities.cli import opportunities_cli
    from crm.tasks.cli import tasks_cli
    from crm.tracking.cli import tracking_cli
    from crm.webforms.cli import webforms_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(teams_cli)
    app.cli.add_command(contacts_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(campaigns_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(opportunities_cli)
    app.cli.add_command(tasks_cli)
    app.cli.add_command(tracking_cli)
    app.cli.add_command(webforms_cli)
