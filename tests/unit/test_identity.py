"""The ideas with one home: the fb id format, the contract's literals, pydantic errors as 'field: problem'."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from neops_worker.blocks.registration import Registration
from neops_worker.engine.wire import (
    FB_TYPE_VALUES,
    JOB_TYPES,
    RUN_ON_VALUES,
    Versionable,
    canonical_fb_id,
    format_fb_id,
    parse_fb_id,
)
from neops_worker.errors import describe_errors, validation_problems


def test_every_form_of_an_id_is_written_by_one_function() -> None:
    """A registration, a VersionableDto and a canonical id spell the same block the same way."""
    registration = Registration(name="show", package="acme", description="d", version=(1, 2, 0))
    identity = Versionable(package="acme", name="show", major_version=1, minor_version=2, patch_version=0)
    assert registration.fb_id == identity.fb_id == format_fb_id("acme", "show", (1, 2, 0))
    assert registration.fb_id == "acme/show:1.2.0"
    assert canonical_fb_id(" acme/show:01.2 ") == "acme/show:1.2.0"
    assert parse_fb_id(registration.fb_id) == ("acme", "show", (1, 2, 0))


def test_a_malformed_id_has_no_canonical_form() -> None:
    """An id with a ':' in a part, or without a version, is rejected with the rule it breaks."""
    for malformed in ("acme/show:run:1.0.0", "acme/show"):
        with pytest.raises(ValueError, match=r"must look like package/name:major\.minor\.patch"):
            canonical_fb_id(malformed)


def test_the_literal_values_are_listed_in_their_documented_order() -> None:
    """The tuples checks and messages use come from the wire literals, in the order messages show them."""
    assert JOB_TYPES == ("execute", "acquire", "rollback")
    assert RUN_ON_VALUES == ("global", "device", "interface", "group", "client")
    assert FB_TYPE_VALUES == ("configure", "facts", "check", "execute", "none")


class _Shape(BaseModel):
    count: int
    nested: dict[str, int]


def test_validation_errors_read_field_colon_problem() -> None:
    """Each error names its dotted field path; a whole-value error names the root as the caller says."""
    with pytest.raises(ValidationError) as caught:
        _Shape.model_validate({"count": "many", "nested": {"a": "x"}})
    assert validation_problems(caught.value) == [
        "count: Input should be a valid integer, unable to parse string as an integer",
        "nested.a: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert describe_errors(caught.value) == "; ".join(validation_problems(caught.value))
    with pytest.raises(ValidationError) as whole:
        _Shape.model_validate([])
    assert validation_problems(whole.value, root="body") == [
        "body: Input should be a valid dictionary or instance of _Shape"
    ]
