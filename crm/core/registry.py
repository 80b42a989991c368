"""Builds the admin: one Admin per app, every view from its domain package."""

from pathlib import Path

from flask_admin import Admin
from flask_admin.babel import lazy_gettext as admin_lazy_gettext
from flask_admin.theme import Bootstrap4Theme

from crm.core.admin import SecuredIndexView, SecuredModelView, SecuredView
from crm.core.menu import main_menu
from crm.core.security import csp_nonce


def _domain_views():
    from crm.auth.admin import views as auth_views
    from crm.automation.admin import views as automation_views
    from crm.contacts.admin import views as contact_views
    from crm.customfields.admin import views as custom_views
    from crm.files.admin import views as file_views
    from crm.imports.admin import views as import_views
    from crm.links.admin import views as link_views
    from crm.mail.admin import views as mail_views
    from crm.opportunities.admin import views as opportunity_views
    from crm.partners.admin import views as partner_views
    from crm.sales.admin import views as sales_views
    from crm.scoring.admin import views as scoring_views
    from crm.tags.admin import views as tag_views
    from crm.tasks.admin import views as task_views
    from crm.tracking.admin import views as tracking_views
    from crm.webforms.admin import views as webform_views

    for factory in (
        contact_views,
        import_views,
        tag_views,
        link_views,
        task_views,
        custom_views,
        mail_views,
        partner_views,
        scoring_views,
        opportunity_views,
        sales_views,
        auth_views,
        automation_views,
        file_views,
        tracking_views,
        webform_views,
    ):
        yield from factory()


def _stock_templates(app) -> None:
    """Make Flask-Admin's own templates reachable as ``flask_admin_stock/...``.

    Our overrides of a few macro files (the ones with inline handlers the CSP
    refuses) import the stock file under that prefix for the macros they keep.
    """
    import flask_admin
    from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader

    stock = Path(flask_admin.__file__).parent / "templates" / "bootstrap4"
    app.jinja_loader = ChoiceLoader(
        [
            app.jinja_loader,
            PrefixLoader({"flask_admin_stock": FileSystemLoader(str(stock))}),
        ]
    )


def build_admin(app) -> Admin:
    """Create the Admin for ``app`` and add every domain's views to it."""
    import crm.access.rules  # noqa: F401  (registers the row rules)

    admin = Admin(
        name="CRM",
        url="/admin",
        # "Home" is Flask-Admin's own msgid, so its catalog translates it.
        index_view=SecuredIndexView(url="/admin", name=admin_lazy_gettext("Home")),
        theme=Bootstrap4Theme(base_template="admin/crm_base.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    for view in _domain_views():
        if not isinstance(view, (SecuredModelView, SecuredView)):
            raise TypeError(f"{view!r} does not derive from the secured admin base")
        admin.add_view(view)
    admin.init_app(app)
    _stock_templates(app)
    app.add_template_global(main_menu, "crm_main_menu")
    app.extensions["crm_admin"] = admin
    return admin
