"""Row rules and action permissions for every model the screens reach."""

from sqlalchemy import true

from crm.access import policy
from crm.auth.models import User
from crm.contacts.models import (
    Company,
    Contact,
    ContactAddress,
    ContactEmail,
    ContactPhone,
    SocialAccount,
)
from crm.customfields.models import CustomField, CustomHeader, CustomTab, CustomValue
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


@policy.rule(Contact)
def contact_rows(user, action):
    # Every active user sees every contact until per-user access lands.
    return true()


def _follows_contact(model):
    def rows(user, action):
        return model.contact_id.in_(policy.visible_ids(Contact, user, action))

    return rows


for _child in CONTACT_CHILDREN:
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


@policy.permission(Contact, Company, *CONTACT_CHILDREN, ContactLink)
def contact_actions(user, action):
    return True


@policy.permission(*REFERENCE_MODELS)
def reference_actions(user, action):
    # Everyone reads tags, link types and custom field definitions; only
    # administrators change them (users may still create a tag on the record).
    return action == policy.VIEW or user.is_admin


@policy.permission(User)
def user_actions(user, action):
    return action == policy.VIEW or user.is_admin
