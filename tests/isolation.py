"""One check of the isolation rules, reused by every API that serves owned objects.

    assert_isolated(OwnedEndpoint(
        list_url="/api/v1/platforms/connections/",
        make=lambda user: PlatformConnectionFactory(user=user),
        update={"name": "renamed"},
    ))

asserts: anonymous requests are 401; another user's list leaves the object out and its
detail, update and delete are 404 (not 403); the owner sees it; a viewer, even on their own
object, cannot create, update or delete (403) unless the endpoint says viewers may.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories.accounts import UserFactory


@dataclass
class OwnedEndpoint:
    list_url: str
    make: Callable  # make(user) -> an object owned by that user
    update: dict | None = None  # a valid PATCH body; None when the resource cannot be updated
    create: dict | None = None  # a valid POST body for the list URL; None when not creatable
    deletable: bool = True
    lookup: Callable = field(default=lambda obj: obj.pk)
    # Sign-in sessions are the one owned resource viewers may change (revoke their own).
    viewers_may_write: bool = False
    results_key: str = "results"

    def detail_url(self, obj) -> str:
        return f"{self.list_url}{self.lookup(obj)}/"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def listed_ids(response, results_key: str) -> set[str]:
    body = response.json()
    rows = body[results_key] if isinstance(body, dict) else body
    return {str(row.get("id")) for row in rows}


def assert_isolated(endpoint: OwnedEndpoint) -> None:
    owner = UserFactory(role=Role.USER)
    stranger = UserFactory(role=Role.USER)
    obj = endpoint.make(owner)
    ident = str(endpoint.lookup(obj))
    detail = endpoint.detail_url(obj)

    anonymous = client_for()
    assert anonymous.get(endpoint.list_url).status_code == 401
    assert anonymous.get(detail).status_code == 401

    mine = client_for(owner).get(endpoint.list_url)
    assert mine.status_code == 200, mine.content
    assert ident in listed_ids(mine, endpoint.results_key)
    assert client_for(owner).get(detail).status_code == 200

    theirs = client_for(stranger)
    listing = theirs.get(endpoint.list_url)
    assert listing.status_code == 200
    assert ident not in listed_ids(listing, endpoint.results_key)
    assert theirs.get(detail).status_code == 404
    if endpoint.update is not None:
        assert theirs.patch(detail, endpoint.update, format="json").status_code == 404
    if endpoint.deletable:
        assert theirs.delete(detail).status_code == 404
    assert type(obj).objects.filter(pk=obj.pk).exists(), "a stranger's request changed nothing"

    viewer = UserFactory(role=Role.VIEWER)
    viewers_own = endpoint.make(viewer)
    as_viewer = client_for(viewer)
    assert as_viewer.get(endpoint.detail_url(viewers_own)).status_code == 200
    if endpoint.viewers_may_write:
        if endpoint.deletable:
            assert as_viewer.delete(endpoint.detail_url(viewers_own)).status_code in {200, 204}
        return
    if endpoint.create is not None:
        assert as_viewer.post(endpoint.list_url, endpoint.create, format="json").status_code == 403
    if endpoint.update is not None:
        response = as_viewer.patch(endpoint.detail_url(viewers_own), endpoint.update, format="json")
        assert response.status_code == 403
    if endpoint.deletable:
        assert as_viewer.delete(endpoint.detail_url(viewers_own)).status_code == 403
