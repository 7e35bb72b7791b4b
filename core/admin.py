"""The System section of the admin, and django-q2's admin with its resubmit action gated by a
permission."""

from django import forms
from django.contrib import admin
from django_q import admin as django_q_admin
from django_q.models import Failure, Success

from core.admin_forms import secret_field
from core.admin_lists import STOPPED_FILTER_PARAM, recent_filter
from core.models import ConfigType, SystemConfig, parse_config_value
from core.services import config_set


class SystemConfigForm(forms.ModelForm):
    """Values are typed in `new_value`, or in the write-only `new_secret` when sensitive."""

    new_value = forms.CharField(
        label="Value",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Checked against the type. Leave empty to keep the current value.",
    )
    new_secret = secret_field("Secret value")

    class Meta:
        model = SystemConfig
        fields = ["key", "type", "is_sensitive", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.instance.is_sensitive:
            self.fields["new_value"].initial = self.instance.value

    def clean(self):
        cleaned = super().clean()
        sensitive = cleaned.get("is_sensitive", False)
        field = "new_secret" if sensitive else "new_value"
        value = cleaned.get(field) or None
        if value is None and self.instance.pk and self.instance.is_sensitive == sensitive:
            value = self.instance.raw_value
        if value is None and sensitive:
            self.add_error(field, "A sensitive setting needs its value entered here.")
        elif value is not None:
            try:
                parse_config_value(value, cleaned.get("type") or ConfigType.STRING)
            except (ValueError, TypeError) as exc:
                self.add_error(field, f"Not a valid {cleaned.get('type')}: {exc}")
        self.value_to_store = value
        return cleaned


@admin.register(SystemConfig)
class SystemConfigAdmin(admin.ModelAdmin):
    form = SystemConfigForm
    list_display = ["key", "type", "shown_value", "is_sensitive", "updated_at"]
    list_filter = ["type", "is_sensitive"]
    search_fields = ["key", "description"]
    fields = [
        "key",
        "type",
        "is_sensitive",
        "new_value",
        "new_secret",
        "shown_value",
        "description",
        "created_at",
        "updated_at",
    ]
    ordering = ["key"]

    def get_readonly_fields(self, request, obj=None):
        # A key is the setting's identity; renaming would leave the old one behind.
        fixed = ["shown_value", "created_at", "updated_at"]
        return ["key", *fixed] if obj else fixed

    @admin.display(description="Current value")
    def shown_value(self, obj: SystemConfig) -> str:
        text = obj.display_value
        return text if len(text) <= 80 else text[:77] + "…"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = config_set(
            key=obj.key,
            value=form.value_to_store,
            value_type=data["type"],
            is_sensitive=data["is_sensitive"],
            description=data.get("description"),
        )
        obj.pk = saved.pk


# --- django-q2 -----------------------------------------------------------------------------------
# Its "resubmit" action runs the selected tasks' functions again, and on failures deletes the record;
# django-q2 offers it to anyone who can open the list. Here it needs the change permission.


@admin.action(description="Resubmit selected tasks to the queue", permissions=["change"])
def resubmit_selected(modeladmin, request, queryset):
    django_q_admin.resubmit_task(modeladmin, request, queryset)


class SuccessAdmin(django_q_admin.TaskAdmin):
    actions = [resubmit_selected]


class FailureAdmin(django_q_admin.FailAdmin):
    actions = [resubmit_selected]
    # The dashboard links to failures of the last 24 hours.
    list_filter = (
        recent_filter("stopped", title="stopped", parameter=STOPPED_FILTER_PARAM),
        *django_q_admin.FailAdmin.list_filter,
    )


for _model, _model_admin in ((Success, SuccessAdmin), (Failure, FailureAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)
