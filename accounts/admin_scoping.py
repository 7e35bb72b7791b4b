"""Row scoping for the admin: the same rule as the API's (`accounts.selectors`), on every admin URL.

Every ModelAdmin of a model that belongs to a user lists `OwnerScopedAdmin` first in its bases and
names the path from its model to that user (the same path the app's selectors and API use):

    @admin.register(Draft)
    class DraftAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
        owner_field = "workflow__user"
        review_queue = True  # only for the review queues (docs/roles.md)

What it does (docs/roles.md has the table it follows):

- Rows: `get_queryset` goes through `visible_queryset`: `visible_to` (moderators and admins see
  everyone's rows, every other role their own). A review queue (`review_queue = True`: caption
  images, drafts and what a draft's review shows) uses `reviewable_by` instead: reviewers see
  everyone's rows there too and act on them through the review actions, but delete only their own
  and get no bulk delete.
- One object: `get_object` is a 404 for an id that is missing or outside the caller's rows, so
  change, delete, history and an app's own object views (which load through `get_object`) answer
  another user's object exactly as a missing one (Django's admin would redirect to the index with
  "doesn't exist", which tells a missing id from a forbidden one no better, and is no 404).
- Choices: for roles that see only their own, a foreign key offers the related model's rows the
  caller may see (through that model's admin, if it is scoped; the user model: only the caller),
  as a plain select, never a raw-id or autocomplete box (a raw-id box names whatever object's id is
  typed into it). Raw-id popups and autocomplete answer from the related admin's `get_queryset`,
  scoped by this mixin too.
- List filters: for those roles, a filter on a relation to users is not shown and other relation
  filters offer only the related rows found among the caller's own rows. A custom
  `SimpleListFilter` that lists rows of another model must scope them itself.

Admins of models no user owns (users, sessions, keys, audit log, system config, django-q, axes)
do not use it: only moderators and admins hold permissions on them, and both see everyone.
tests/admin_isolation.py walks every registered ModelAdmin and holds each to this.

New admin views of an owned model (a review page, a start-work form) load their object through
`self.get_object(request, unquote(object_id))` (a 404 when out of scope) and their lists through
`self.get_queryset(request)`; a form that picks a related object takes its choices from
`self.related_choices(request, Model)`. A count shown elsewhere in the admin (the index's
"Needs attention") counts `admin_rows(Model, user=...)`, the rows the linked changelist shows.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.http import Http404

from accounts.permissions import reviews_everyone, sees_everyone
from accounts.selectors import OwnerPath, reviewable_by, visible_to


class OwnerScopedAdmin:
    """List it first in the bases of every ModelAdmin of a user-owned model (see the module)."""

    owner_field: OwnerPath = "user"
    review_queue: bool = False

    # --- rows --------------------------------------------------------------------------------

    def visible_queryset(self, request, queryset: QuerySet) -> QuerySet:
        """The rows of `queryset` the caller may see here."""
        return self.visible_to_user(queryset, user=request.user)

    def visible_to_user(self, queryset: QuerySet, *, user) -> QuerySet:
        if self.review_queue:
            return reviewable_by(queryset, user=user, owner_field=self.owner_field)
        return visible_to(queryset, user=user, owner_field=self.owner_field)

    def owned_queryset(self, request, queryset: QuerySet) -> QuerySet:
        """The rows of `queryset` the caller may change beyond reviewing them: their own
        (moderators and admins: everyone's). Actions other than review ones narrow to these."""
        return visible_to(queryset, user=request.user, owner_field=self.owner_field)

    def sees_beyond_own(self, request) -> bool:
        """Whether the caller sees others' rows here that they may only review (a reviewer)."""
        return self.review_queue and reviews_everyone(request.user) and not sees_everyone(request.user)

    def get_queryset(self, request):
        return self.visible_queryset(request, super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return obj

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        if allowed and obj is not None and self.sees_beyond_own(request):
            return self.owned_queryset(request, type(obj)._default_manager.filter(pk=obj.pk)).exists()
        return allowed

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.sees_beyond_own(request):
            actions.pop("delete_selected", None)  # the selection may hold others' rows
        return actions

    # --- choices -----------------------------------------------------------------------------

    def related_choices(self, request, model) -> QuerySet | None:
        """The rows of `model` the caller may pick; None when `model` is not scoped by owner."""
        if model is get_user_model():
            return model._default_manager.filter(pk=request.user.pk)
        related_admin = self.admin_site._registry.get(model)
        if isinstance(related_admin, OwnerScopedAdmin):
            return related_admin.visible_queryset(request, model._default_manager.all())
        return None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not sees_everyone(request.user):
            choices = self.related_choices(request, db_field.remote_field.model)
            if choices is not None:
                kwargs["queryset"] = choices
                kwargs["widget"] = forms.Select
                if db_field.remote_field.model is get_user_model() and not db_field.blank:
                    kwargs["empty_label"] = None  # the caller is the one choice: chosen already
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- list filters ------------------------------------------------------------------------

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if sees_everyone(request.user):
            return filters
        scoped = (self._scoped_list_filter(spec) for spec in filters)
        return [spec for spec in scoped if spec is not None]

    def _scoped_list_filter(self, spec):
        if isinstance(spec, str):
            path, filter_class = spec, None
        elif isinstance(spec, (tuple, list)):
            path, filter_class = spec
        else:
            return spec  # a SimpleListFilter: scopes its own options
        try:
            last = get_fields_from_path(self.model, path)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return spec
        if not last.is_relation:
            return spec
        if last.related_model is get_user_model():
            return None  # would list other users
        if filter_class is None or filter_class is admin.RelatedFieldListFilter:
            return (path, admin.RelatedOnlyFieldListFilter)
        return spec


def admin_rows(model, *, user) -> QuerySet:
    """The rows of `model` that `user` finds in its admin changelist, before the list's filters:
    scoped as its ModelAdmin scopes them (models no user owns: every row)."""
    queryset = model._default_manager.all()
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, OwnerScopedAdmin):
        return model_admin.visible_to_user(queryset, user=user)
    return queryset
