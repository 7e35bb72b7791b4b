"""Change pages that say what the AI sees: which backend and host receive the owner's images and
text (core.ai.disclosure), above the form."""

from core.ai import ai_disclosure


class AIDisclosureAdminMixin:
    """For a model whose rows belong to a person (`owner_of`); a new row is the signed-in person's."""

    change_form_template = "admin/ai_disclosure_change_form.html"

    def owner_of(self, obj):
        return getattr(obj, "user", None)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        owner = self.owner_of(obj) if obj is not None else None
        context["ai"] = ai_disclosure(user=owner if owner is not None else request.user)
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
