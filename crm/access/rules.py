"""Row rules and action permissions for every model the screens reach."""

from sqlalchemy import column, exists, false, literal_column, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import TableClause

from crm.access import policy, services
from crm.access.models import (
    ALL,
    EDIT_LEVEL,
    AuditEntry,
    ContactShare,
    DefaultPermission,
    Team,
    TeamMember,
    UserPermission,
)
from crm.activity.models import ActivityEvent
from crm.auth.models import LoginFailure, User
from crm.contacts.models import (
    Company,
    Contact,
    ContactAddress,
    ContactEmail,
    ContactPhone,
    SocialAccount,
)
from crm.customfields.models import CustomField, CustomHeader, CustomTab, CustomValue
from crm.imports.models import ImportJob
from crm.links.models import ContactLink, LinkType
from crm.tags.models import ContactTag, Tag, TagCategory

REFERENCE_MODELS = (Tag, TagCategory, LinkType, CustomTab, CustomHeader, CustomField)
CONTACT_CHILDREN = (
    ContactEmail,
    ContactPhone,
    ContactAddress,
    SocialAccount,
    ContactTag,
    CustomValue,
)
ADMIN_MODELS = (UserPermission, DefaultPermission, AuditEntry, LoginFailure)


def contact_criterion(user, action, contact_id=None):
    """The visibility rule of the issue as one SQL criterion on Contact.

    Visible when the user is an administrator, may view all, owns the
    contact, manages a team that contains the owner, or holds a grant
    directly or through a team. Editable by the same rule with the edit
    scope and edit-level grants.

    ``contact_id`` states the same rule on another column that holds the
    contact's id (a tag link's, the search index's rowid). The owner is then
    read from the owner index instead of the contact's row, so a list driven
    by that other index checks each candidate without reading the rows it
    leaves out: at 1M contacts the row reads were most of a restricted
    user's capped count.
    """
    if user.is_admin:
        return true()
    perms = services.permissions_for(user, "contacts")
    scope = perms["view_scope"] if action == policy.VIEW else perms["edit_scope"]
    if scope == ALL:
        return true()

    my_teams = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
    managed_teams = my_teams.where(TeamMember.is_manager.is_(True))
    managed_owners = select(TeamMember.user_id).where(
        TeamMember.team_id.in_(managed_teams)
    )

    # A correlated EXISTS probes the (contact, principal) unique indexes row by
    # row, so a list page stops after its rows instead of first collecting
    # every grant of the user's teams.
    def granted(subject, principal):
        probe = exists().where(ContactShare.contact_id == subject, principal)
        if action != policy.VIEW:
            # Every grant allows viewing; only edit-level grants allow editing.
            probe = probe.where(ContactShare.level == EDIT_LEVEL)
        return probe

    if contact_id is None:
        return or_(
            Contact.owner_id == user.id,
            Contact.owner_id.in_(managed_owners),
            granted(
                Contact.id,
                or_(
                    ContactShare.user_id == user.id,
                    ContactShare.team_id.in_(my_teams),
                ),
            ),
        )
    # Index probes only, cheapest and likeliest first; each stops at a match.
    return or_(
        _owned(contact_id, lambda owner: owner == user.id),
        granted(contact_id, ContactShare.user_id == user.id),
        granted(contact_id, ContactShare.team_id.in_(my_teams)),
        _owned(contact_id, lambda owner: owner.in_(managed_owners)),
    )


class _OwnerIndexed(TableClause):
    """``contacts AS owned``, which SQLite reads through the owner index."""

    inherit_cache = True


@compiles(_OwnerIndexed)
def _owner_indexed(element, compiler, **kw):
    if compiler.dialect.name == "sqlite":
        return "contacts AS owned INDEXED BY ix_contacts_owner_id"
    return "contacts AS owned"


def _owned(contact_id, owner_test):
    """EXISTS: the contact with this id has an owner that passes ``owner_test``.

    SQLite answers an equality on the row id from the table itself, reading
    the whole row; naming the owner index makes it seek (owner, id) in that
    small index instead.
    """
    owned = _OwnerIndexed("owned", column("id"), column("owner_id"))
    return exists(
        select(literal_column("1"))
        .select_from(owned)
        .where(owner_test(owned.c.owner_id), owned.c.id == contact_id)
    )


@policy.rule(Contact)
def contact_rows(user, action):
    return contact_criterion(user, action)


def _follows_contact(model):
    def rows(user, action):
        return model.contact_id.in_(policy.visible_ids(Contact, user, action))

    return rows


for _child in (*CONTACT_CHILDREN, ContactShare, ActivityEvent):
    policy.rule(_child)(_follows_contact(_child))


@policy.rule(ContactLink)
def link_rows(user, action):
    # A link is visible only when both of its contacts are.
    ids = policy.visible_ids(Contact, user, action)
    return ContactLink.contact1_id.in_(ids) & ContactLink.contact2_id.in_(ids)


@policy.rule(Company, *REFERENCE_MODELS)
def reference_rows(user, action):
    return true()


@policy.rule(User)
def user_rows(user, action):
    if action == policy.VIEW or user.is_admin:
        return true()
    return User.id == user.id


@policy.rule(Team, TeamMember)
def team_rows(user, action):
    # Everyone sees the teams (they are share targets); administrators edit them.
    return true() if action == policy.VIEW or user.is_admin else false()


@policy.rule(*ADMIN_MODELS)
def admin_rows(user, action):
    return true() if user.is_admin else false()


@policy.permission(Contact)
def contact_actions(user, action):
    return services.area_allows(user, "contacts", action)


@policy.permission(*CONTACT_CHILDREN, ContactLink, ContactShare)
def child_actions(user, action):
    # Adding or removing a child is an edit of its contact, which the row
    # rule (edit scope) decides; exporting follows the contact export right.
    if action == "export":
        return services.area_allows(user, "contacts", "export")
    return action in (policy.VIEW, policy.EDIT, "create", "delete")


@policy.permission(ActivityEvent)
def activity_actions(user, action):
    # History is written by the services that record it, never through a screen.
    return action == policy.VIEW


@policy.permission(Company)
def company_actions(user, action):
    # Companies are created from the contact form by anyone who adds contacts.
    return True


@policy.permission(*REFERENCE_MODELS)
def reference_actions(user, action):
    # Everyone reads tags, link types and custom field definitions; only
    # administrators change them (users may still create a tag on the record).
    return action == policy.VIEW or user.is_admin


@policy.permission(User, Team, TeamMember)
def user_actions(user, action):
    return action == policy.VIEW or user.is_admin


@policy.permission(AuditEntry)
def audit_actions(user, action):
    # The log is read and exported, never written or edited through a screen.
    return user.is_admin and action in (policy.VIEW, "export")


@policy.permission(UserPermission, DefaultPermission, LoginFailure)
def admin_actions(user, action):
    return user.is_admin


@policy.rule(ImportJob)
def import_job_rows(user, action):
    # A user sees the imports they started; administrators see all.
    return true() if user.is_admin else ImportJob.user_id == user.id


@policy.permission(ImportJob)
def import_job_actions(user, action):
    return services.area_allows(user, "contacts", "import")


# Owner changes are checked and audited on every flush, whatever the path.
services.install_hooks()
