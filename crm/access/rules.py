"""Row rules and action permissions for every model the screens reach."""

from flask import g, has_request_context
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
from crm.automation.models import (
    Campaign,
    Enrollment,
    Goal,
    GoalAchievement,
    Sequence,
    Step,
    StepAttempt,
    StepRun,
)
from crm.contacts.models import (
    Company,
    Contact,
    ContactAddress,
    ContactEmail,
    ContactPhone,
    SocialAccount,
)
from crm.customfields.models import CustomField, CustomHeader, CustomTab, CustomValue
from crm.extensions import db
from crm.files.models import ContactFile
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
from crm.opportunities.models import (
    ChecklistCheck,
    ChecklistItem,
    Opportunity,
    OpportunityField,
    OpportunityValue,
    Stage,
    StageMove,
    StageReason,
)
from crm.partners.models import (
    Commission,
    CommissionRule,
    PartnerSettings,
    Referral,
    ReferralPartner,
    TrackingDestination,
)
from crm.sales.models import InvoiceCounter, Order, OrderLine, Product, Transaction
from crm.scoring.models import ScoreEntry, ScoreRule, ScoreSetting
from crm.tags.models import ContactTag, Tag, TagCategory
from crm.tasks.models import (
    ActivityField,
    ActivityFieldValue,
    Appointment,
    Note,
    Task,
)
from crm.tracking.models import PageView, TrackedSite, Visitor, WebSession
from crm.webforms.models import (
    ProductCheckout,
    Purchase,
    Submission,
    SubmissionFile,
    WebForm,
    WebFormField,
)

REFERENCE_MODELS = (
    Tag,
    TagCategory,
    LinkType,
    CustomTab,
    CustomHeader,
    CustomField,
    ActivityField,
)
CONTACT_CHILDREN = (
    ContactEmail,
    ContactPhone,
    ContactAddress,
    SocialAccount,
    ContactTag,
    CustomValue,
    Task,
    Appointment,
    Note,
    ActivityFieldValue,
)
ADMIN_MODELS = (UserPermission, DefaultPermission, AuditEntry, LoginFailure)
# A manager's id lists get one arm per member up to this many members, and a
# member's one arm per team up to this many teams; beyond, one arm for all
# (SQLite refuses a compound SELECT of more than 500 terms).
MAX_OWNER_ARMS = 40
MAX_TEAM_ARMS = 40


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
    if _sees_every_contact(user, action):
        return true()

    # A list request asks for the same rule several times (its query, its
    # count, the side panels); it is built once per request and user.
    memo = _rule_memo()
    key = (user.id, action, id(contact_id))
    hit = memo.get(key)
    if hit is not None and hit[0] is contact_id:
        return hit[1]
    criterion = _restricted_criterion(user, action, contact_id)
    memo[key] = (contact_id, criterion)
    return criterion


def _sees_every_contact(user, action) -> bool:
    if user.is_admin:
        return True
    perms = services.permissions_for(user, "contacts")
    scope = perms["view_scope"] if action == policy.VIEW else perms["edit_scope"]
    return scope == ALL


def _rule_memo() -> dict:
    # One request only: the id form holds the user's team and member ids as
    # read, and a scheduler job or CLI command keeps its context for hours.
    if not has_request_context():
        return {}
    if "crm_contact_rules" not in g:
        g.crm_contact_rules = {}
    return g.crm_contact_rules


def _team_subqueries(user):
    """The user's teams, and the members of the teams the user manages."""
    memo = _rule_memo()
    key = ("teams", user.id)
    if key not in memo:
        my_teams = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
        managed_teams = my_teams.where(TeamMember.is_manager.is_(True))
        managed_owners = select(TeamMember.user_id).where(
            TeamMember.team_id.in_(managed_teams)
        )
        memo[key] = (my_teams, managed_owners)
    return memo[key]


def _restricted_criterion(user, action, contact_id):
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
        my_teams, managed_owners = _team_subqueries(user)
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
    # The grants are one probe: the contact's few grants are read once by
    # its id and tested for the user or one of the user's teams.
    team_ids, owner_ids = _principals(user)
    principal = ContactShare.user_id == user.id
    if team_ids:
        principal = or_(principal, ContactShare.team_id.in_(team_ids))
    probes = [
        _owned(contact_id, lambda owner: owner == user.id),
        granted(contact_id, principal),
    ]
    if owner_ids:
        probes.append(_owned(contact_id, lambda owner: owner.in_(owner_ids)))
    return or_(*probes)


def contact_id_streams(user, action):
    """The same rule as ``contact_criterion``, as the ids it lets through.

    One SELECT per way of seeing a contact (owning it, a direct grant, a
    team grant, managing its owner), each an index range read in id order,
    so SQLite can merge them (``UNION``) and intersect them with another id
    list without sorting. Their union is exactly the set of contacts the
    criterion selects. None when the user may act on every contact.
    """
    if _sees_every_contact(user, action):
        return None

    def owned_by(owner_test):
        owned = _OwnerIndexed("owned", column("id"), column("owner_id"))
        return select(owned.c.id).where(owner_test(owned.c.owner_id))

    def granted(principal):
        ids = select(ContactShare.contact_id).where(principal)
        if action != policy.VIEW:
            ids = ids.where(ContactShare.level == EDIT_LEVEL)
        return ids

    # One arm per team and per managed owner: each is then a range of one
    # index in id order, which SQLite merges without sorting.
    team_ids, owner_ids = _principals(user)
    streams = [
        owned_by(lambda owner: owner == user.id),
        granted(ContactShare.user_id == user.id),
    ]
    if len(team_ids) <= MAX_TEAM_ARMS:
        streams += [granted(ContactShare.team_id == t) for t in team_ids]
    else:
        streams.append(granted(ContactShare.team_id.in_(team_ids)))
    if len(owner_ids) <= MAX_OWNER_ARMS:
        streams += [owned_by(lambda owner, o=o: owner == o) for o in owner_ids]
    else:
        # Past a few dozen arms one sorted range costs less than the merge.
        streams.append(owned_by(lambda owner: owner.in_(owner_ids)))
    return streams


def _principals(user) -> tuple[list[int], list[int]]:
    """The ids of the user's teams and of the other members of the teams the
    user manages, read once per request (never kept beyond one)."""
    memo = _rule_memo()
    key = ("principals", user.id)
    if key not in memo:
        memberships = db.session.execute(
            select(TeamMember.team_id, TeamMember.is_manager).where(
                TeamMember.user_id == user.id
            )
        ).all()
        team_ids = sorted({team_id for team_id, _ in memberships})
        managed = [team_id for team_id, manager in memberships if manager]
        owner_ids = []
        if managed:
            owner_ids = sorted(
                set(
                    db.session.scalars(
                        select(TeamMember.user_id).where(
                            TeamMember.team_id.in_(managed),
                            TeamMember.user_id != user.id,
                        )
                    )
                )
            )
        memo[key] = (team_ids, owner_ids)
    return memo[key]


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


for _child in (*CONTACT_CHILDREN, ContactShare, ActivityEvent, ScoreEntry):
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


@policy.permission(ScoreEntry)
def score_entry_actions(user, action):
    # Points are written by the scoring listener and rule changes, never by hand.
    return action == policy.VIEW


@policy.rule(ScoreRule, ScoreSetting)
def scoring_rows(user, action):
    return true() if user.is_admin else false()


@policy.permission(ScoreRule, ScoreSetting)
def scoring_actions(user, action):
    # Only administrators define how contacts score.
    return user.is_admin


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


AUTOMATION_DEFINITIONS = (Campaign, Sequence, Step, Goal)
AUTOMATION_CHILDREN = (Enrollment, StepRun, GoalAchievement)

for _child in AUTOMATION_CHILDREN:
    policy.rule(_child)(_follows_contact(_child))


@policy.rule(StepAttempt)
def step_attempt_rows(user, action):
    # An attempt follows its run, which follows its contact.
    runs = select(StepRun.id).where(
        StepRun.contact_id.in_(policy.visible_ids(Contact, user, action))
    )
    return StepAttempt.run_id.in_(runs)


@policy.rule(*AUTOMATION_DEFINITIONS)
def automation_definition_rows(user, action):
    return true()


@policy.permission(*AUTOMATION_DEFINITIONS)
def automation_definition_actions(user, action):
    # Everyone reads campaigns and sequences (to start one on a contact);
    # building them is an administrator's job, like the other reference data.
    return action == policy.VIEW or user.is_admin


@policy.permission(*AUTOMATION_CHILDREN, StepAttempt)
def automation_child_actions(user, action):
    # Runs and memberships are written by the automation services; a user
    # acts on them (run now, pause, cancel) as an edit of the contact.
    return action in (policy.VIEW, policy.EDIT)


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


def opportunity_criterion(user, action):
    """An opportunity is visible when its contact is (view, or edit to change it)
    and the opportunities area allows all, or the user owns the opportunity."""
    contact_ok = Opportunity.contact_id.in_(policy.visible_ids(Contact, user, action))
    if user.is_admin:
        return true()
    perms = services.permissions_for(user, "opportunities")
    scope = perms["view_scope"] if action == policy.VIEW else perms["edit_scope"]
    if scope == ALL:
        return contact_ok
    return contact_ok & (Opportunity.owner_id == user.id)


@policy.rule(Opportunity)
def opportunity_rows(user, action):
    return opportunity_criterion(user, action)


def _follows_opportunity(model):
    def rows(user, action):
        visible = select(Opportunity.id).where(opportunity_criterion(user, action))
        return model.opportunity_id.in_(visible)

    return rows


for _child in (StageMove, ChecklistCheck, OpportunityValue):
    policy.rule(_child)(_follows_opportunity(_child))


@policy.rule(Stage, ChecklistItem, StageReason, OpportunityField)
def opportunity_reference_rows(user, action):
    return true()


@policy.permission(Opportunity)
def opportunity_actions(user, action):
    return services.area_allows(user, "opportunities", action)


@policy.permission(StageMove, ChecklistCheck, OpportunityValue)
def opportunity_child_actions(user, action):
    # Written by the move and save services only, read with the opportunity.
    return action == policy.VIEW


@policy.permission(Stage, ChecklistItem, StageReason, OpportunityField)
def opportunity_reference_actions(user, action):
    # Everyone reads the stages and field definitions; administrators change them.
    return action == policy.VIEW or user.is_admin


# Orders' partner columns and the commission listener (they need both domains).
import crm.partners.sales  # noqa: E402, F401

# Referral partners follow their contact; referrals follow the referred contact.
for _partner_model in (ReferralPartner, Referral):
    policy.rule(_partner_model)(_follows_contact(_partner_model))


@policy.rule(Commission)
def commission_rows(user, action):
    return Commission.partner_id.in_(policy.visible_ids(ReferralPartner, user, action))


@policy.rule(CommissionRule)
def commission_rule_rows(user, action):
    return true() if action == policy.VIEW or user.is_admin else false()


@policy.rule(PartnerSettings, TrackingDestination)
def partner_settings_rows(user, action):
    return true() if user.is_admin else false()


@policy.permission(ReferralPartner)
def partner_actions(user, action):
    return services.area_allows(user, "referral_partners", action)


@policy.permission(Referral)
def referral_actions(user, action):
    # A referral by hand is an edit of the referred contact (its row rule).
    if action == "export":
        return services.area_allows(user, "referral_partners", "export")
    return action in (policy.VIEW, policy.EDIT, "create", "delete")


@policy.permission(Commission)
def commission_actions(user, action):
    # Commissions are written by the order services, never through a screen.
    if action == "export":
        return services.area_allows(user, "referral_partners", "export")
    return action == policy.VIEW


@policy.permission(CommissionRule)
def commission_rule_actions(user, action):
    return action == policy.VIEW or user.is_admin


@policy.permission(PartnerSettings, TrackingDestination)
def partner_settings_actions(user, action):
    return user.is_admin


# Files follow their contact; adding, publishing or removing one is an edit
# of the contact (the row rule's edit scope decides).
policy.rule(ContactFile)(_follows_contact(ContactFile))


@policy.permission(ContactFile)
def file_actions(user, action):
    if action == "export":
        return services.area_allows(user, "contacts", "export")
    return action in (policy.VIEW, policy.EDIT, "create", "delete")


# Rows whose contact may not be known yet (web visitors and their sessions, form
# submissions and purchases) follow that contact once it is; until then only
# administrators see them. Page views follow their session. The public
# endpoints write these rows, never a screen.
def _follows_identified_contact(model):
    def rows(user, action):
        if user.is_admin:
            return true()
        return model.contact_id.in_(policy.visible_ids(Contact, user, action))

    return rows


for _web_model in (Visitor, WebSession):
    policy.rule(_web_model)(_follows_identified_contact(_web_model))


@policy.rule(PageView)
def page_view_rows(user, action):
    sessions = select(WebSession.id).where(
        _follows_identified_contact(WebSession)(user, action)
    )
    return PageView.session_id.in_(sessions)


@policy.permission(Visitor, WebSession, PageView)
def web_actions(user, action):
    return action == policy.VIEW


@policy.rule(TrackedSite)
def site_rows(user, action):
    return true() if user.is_admin else false()


@policy.permission(TrackedSite)
def site_actions(user, action):
    # Registering a site and its origins is an administrator's job.
    return user.is_admin


# Web forms: administrators build forms and order pages and review held
# submissions; a processed submission and a purchase follow their contact
# (a held one has no contact yet, so only administrators see it).
@policy.rule(WebForm, WebFormField, ProductCheckout)
def webform_definition_rows(user, action):
    return true() if user.is_admin else false()


@policy.permission(WebForm, WebFormField, ProductCheckout)
def webform_definition_actions(user, action):
    return user.is_admin


for _submitted in (Submission, Purchase):
    policy.rule(_submitted)(_follows_identified_contact(_submitted))


@policy.permission(Submission)
def submission_actions(user, action):
    # Submissions are written by the public form; approving or discarding a
    # held one is an administrator's review.
    return action == policy.VIEW or user.is_admin


# A file sent with a submission follows its submission; only the public form
# and the processing of the submission write these rows.
@policy.rule(SubmissionFile)
def submission_file_rows(user, action):
    return SubmissionFile.submission_id.in_(
        policy.visible_ids(Submission, user, action)
    )


@policy.permission(SubmissionFile)
def submission_file_actions(user, action):
    return action == policy.VIEW


@policy.permission(Purchase)
def purchase_actions(user, action):
    # Purchases are written by the public order page only.
    return action == policy.VIEW


# Owner changes are checked and audited on every flush, whatever the path.
services.install_hooks()
