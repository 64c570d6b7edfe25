from leadmagnet.common.formcheck import validate_submission
from leadmagnet.common.models import Form, FormField

FORM = Form(
    slug="demo",
    tenant_id="t",
    workflow_id="w",
    name="Demo",
    fields=[
        FormField(name="name", label="Name", required=True, max_length=10),
        FormField(name="email", label="Email", type="email", required=True),
        FormField(name="size", label="Size", type="select", options=["S", "M"]),
        FormField(name="count", label="Count", type="number"),
        FormField(name="site", label="Site", type="url"),
        FormField(name="agree", label="Agree", type="checkbox"),
        FormField(name="goal", label="Goal", type="textarea"),
    ],
)


def test_valid_submission_is_cleaned() -> None:
    clean, errors = validate_submission(
        FORM,
        {
            "name": "  Ada \u200b ",
            "email": "ada@example.com",
            "size": "M",
            "count": "3",
            "site": "https://acme.example",
            "agree": "on",
            "goal": "line one\nline two\x07",
        },
    )
    assert errors == {}
    assert clean == {
        "name": "Ada",
        "email": "ada@example.com",
        "size": "M",
        "count": 3,
        "site": "https://acme.example",
        "agree": True,
        "goal": "line one\nline two",
    }


def test_every_problem_is_reported_per_field() -> None:
    _, errors = validate_submission(
        FORM,
        {
            "name": "x" * 11,
            "email": "not-an-email",
            "size": "XL",
            "count": "many",
            "site": "javascript:alert(1)",
            "extra": "?",
        },
    )
    assert errors == {
        "name": "must be at most 10 characters",
        "email": "must be a valid email address",
        "size": "must be one of: S, M",
        "count": "must be a number",
        "site": "must be an http(s) URL",
        "extra": "is not a field of this form",
    }


def test_required_fields_and_types() -> None:
    _, errors = validate_submission(FORM, {"name": {"$gt": ""}, "email": ""})
    assert errors == {"name": "must be a string", "email": "is required"}


def test_ignored_fields_are_not_errors() -> None:
    _, errors = validate_submission(
        FORM, {"name": "A", "email": "a@b.co", "hp": "x"}, ignore=frozenset({"hp"})
    )
    assert errors == {}
