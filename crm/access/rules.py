"""Row rules and action permissions for every model the screens reach."""

from sqlalchemy import exists, false, or_, select, true

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
from crm.mail.models import (
    Attachment,
    EmailAddressStatus,
    EmailStatusChange,
    EmailTemplate,
    Message,
    MessageClick,
    MessageLink,
    MessageOpen,
)
from crm.sales.models import InvoiceCounter, Order, OrderLine, Product, Transaction
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


def contact_criterion(user, action):
    """The visibility rule of the issue as one SQL criterion on Contact.

    Visible when the user is an administrator, may view all, owns the
    contact, manages a team that contains the owner, or holds a grant
    directly or through a team. Editable by the same rule with the edit
    scope and edit-level grants.
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
    granted = exists().where(
        ContactShare.contact_id == Contact.id,
        or_(ContactShare.user_id == user.id, ContactShare.team_id.in_(my_teams)),
    )
    if action != policy.VIEW:
        # Every grant allows viewing; only edit-level grants allow editing.
        granted = granted.where(ContactShare.level == EDIT_LEVEL)
    return or_(
        Contact.owner_id == user.id,
        Contact.owner_id.in_(managed_owners),
        granted,
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


def order_criterion(user, action):
    """Orders: the contact is visible (or editable), and the orders area's
    scope allows (all orders, or only those of contacts the user owns)."""
    if user.is_admin:
        return true()
    perms = services.permissions_for(user, "orders")
    scope = perms["view_scope"] if action == policy.VIEW else perms["edit_scope"]
    contacts = select(Contact.id).where(contact_criterion(user, action))
    if scope != ALL:
        contacts = contacts.where(Contact.owner_id == user.id)
    return Order.contact_id.in_(contacts)


@policy.rule(Order)
def order_rows(user, action):
    return order_criterion(user, action)


def _follows_order(model):
    def rows(user, action):
        return model.order_id.in_(select(Order.id).where(order_criterion(user, action)))

    return rows


for _order_child in (OrderLine, Transaction):
    policy.rule(_order_child)(_follows_order(_order_child))


@policy.rule(Product)
def product_rows(user, action):
    return true()


@policy.rule(InvoiceCounter)
def invoice_counter_rows(user, action):
    return false()


@policy.permission(Order)
def order_actions(user, action):
    return services.area_allows(user, "orders", action)


@policy.permission(OrderLine, Transaction)
def order_child_actions(user, action):
    # Lines are edited with their order; money moves only through the services.
    if action == "export":
        return services.area_allows(user, "orders", "export")
    return action in (policy.VIEW, policy.EDIT, "create", "delete")


@policy.permission(InvoiceCounter)
def invoice_counter_actions(user, action):
    # Only the services move the counter, never a screen.
    return False


@policy.permission(Product)
def product_actions(user, action):
    # The catalogue is reference data: everyone reads it, administrators
    # change it (like tags and link types).
    return action == policy.VIEW or user.is_admin


@policy.rule(ImportJob)
def import_job_rows(user, action):
    # A user sees the imports they started; administrators see all.
    return true() if user.is_admin else ImportJob.user_id == user.id


@policy.permission(ImportJob)
def import_job_actions(user, action):
    return services.area_allows(user, "contacts", "import")


# E-mail: messages follow their contact (a system message to a user has no
# contact and is seen by administrators only); an address's status is seen
# by whoever sees a contact holding that address.
@policy.rule(Message)
def message_rows(user, action):
    if user.is_admin:
        return true()
    return Message.contact_id.in_(policy.visible_ids(Contact, user, action))


def _follows_message(model):
    def rows(user, action):
        return model.message_id.in_(
            select(Message.id).where(message_rows(user, action))
        )

    return rows


for _mail_child in (MessageLink, MessageOpen, MessageClick, Attachment):
    policy.rule(_mail_child)(_follows_message(_mail_child))


@policy.rule(EmailAddressStatus)
def address_status_rows(user, action):
    if user.is_admin:
        return true()
    return exists().where(
        ContactEmail.normalized == EmailAddressStatus.address,
        ContactEmail.contact_id.in_(policy.visible_ids(Contact, user, action)),
    )


@policy.rule(EmailStatusChange)
def status_change_rows(user, action):
    return EmailStatusChange.status_id.in_(
        select(EmailAddressStatus.id).where(address_status_rows(user, action))
    )


@policy.rule(EmailTemplate)
def template_rows(user, action):
    return true()


@policy.permission(
    Message,
    MessageLink,
    MessageOpen,
    MessageClick,
    Attachment,
    EmailAddressStatus,
    EmailStatusChange,
)
def mail_actions(user, action):
    # Messages and statuses are written by the mail services (send, tracking,
    # unsubscribe, opt-in with a reason), never edited through a screen.
    return action == policy.VIEW


@policy.permission(EmailTemplate)
def template_actions(user, action):
    # Everyone writes e-mails from templates; administrators maintain them.
    return action == policy.VIEW or user.is_admin


# Owner changes are checked and audited on every flush, whatever the path.
services.install_hooks()
