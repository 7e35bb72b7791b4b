"""What an admin page shows, read from its template context: a page that answers 200 but lost a
field, an inline or its row is still a broken page."""


def form_fields(response) -> list[str]:
    """The fields of a change or add form as its fieldsets lay them out, editable and read-only."""
    names = []
    for fieldset in response.context["adminform"]:
        for line in fieldset:
            for field in line:
                names.append(field.field["name"] if field.is_readonly else field.field.name)
    return names


def readonly_fields(response) -> set[str]:
    """The fields shown on the form but not editable there."""
    return {
        field.field["name"]
        for fieldset in response.context["adminform"]
        for line in fieldset
        for field in line
        if field.is_readonly
    }


def inline_models(response) -> list[str]:
    """The model names of the change page's inlines, in page order."""
    return [inline.opts.model._meta.model_name for inline in response.context["inline_admin_formsets"]]


def listed(response) -> list:
    """The rows a changelist shows."""
    return list(response.context["cl"].result_list)


def assert_change_page(response, *, shows: list[str], editable: set[str] | None, inlines: list[str]) -> None:
    """The change form shows at least `shows`, lets exactly `editable` be edited (None: not
    pinned), and has exactly `inlines`, in order."""
    assert set(shows) <= set(form_fields(response))
    if editable is not None:
        assert set(form_fields(response)) - readonly_fields(response) == editable
    assert inline_models(response) == inlines
