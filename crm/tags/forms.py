"""Forms of the Tags tab on the contact record."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from crm.tags import services


class ApplyTagForm(FlaskForm):
    tag_id = SelectField(
        _l("Tag"),
        validators=[InputRequired(message=_l("Choose a tag to apply."))],
        validate_choice=False,
    )

    def fill(self, applied_ids=()):
        """Offer the tags not yet applied, one option group per category."""
        choices = []
        for category, tags in services.grouped_tags(exclude_ids=set(applied_ids)):
            group = category if category is not None else str(_l("No category"))
            choices += [SelectChoice(str(t.id), t.name, optgroup=group) for t in tags]
        # No tag is picked until the user picks one: applying a tag can start
        # a campaign, so a careless click must not apply the first of the list.
        if choices:
            choices.insert(0, SelectChoice("", str(_l("Choose a tag"))))
        self.tag_id.choices = choices
        return self


class NewTagForm(FlaskForm):
    name = StringField(
        _l("New tag"),
        validators=[
            InputRequired(message=_l("Type the name of the new tag.")),
            Length(max=services.NAME_LIMIT),
        ],
    )
    category_id = SelectField(_l("Category"), validate_choice=False)
    new_category = StringField(
        _l("or a new category"),
        validators=[Optional(), Length(max=services.NAME_LIMIT)],
    )

    def fill(self):
        """Offer the existing categories (and none) for the new tag."""
        choices = [SelectChoice("", str(_l("No category")))]
        choices += [SelectChoice(str(c.id), c.name) for c in services.categories()]
        self.category_id.choices = choices
        return self
