"""A person's time zone (accounts.time_zones): the field, the request running in it (browser and
API), the preferences page, the API's current-user endpoint, and scheduling read in it."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.middleware import UserTimeZoneMiddleware
from accounts.models import User
from accounts.tokens import hash_secret, new_api_key
from captions.models import Image
from tests.factories.accounts import ApiKeyFactory, UserFactory, bearer_token_for
from tests.factories.captions import ImageFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    WorkflowFactory,
)
from workflows.models import Platform, PlatformStatus, PublishingJob, PublishingStatus, WorkflowStatus

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me/"
JOBS = "/api/v1/workflows/publishing-jobs/"
CALENDAR = "/api/v1/workflows/calendar/"
PREFERENCES = reverse("admin-preferences")
BERLIN = ZoneInfo("Europe/Berlin")


def bearer(user) -> APIClient:
    # A real token, not force_authenticate: the zone is switched by the authentication class.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token_for(user)}")
    return client


# --- the field -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"])
def test_blank_and_iana_names_are_valid(name):
    UserFactory(time_zone=name).full_clean()


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "europe/berlin", "+01:00", "CEST", "localtime"])
def test_anything_else_is_refused(name):
    user = UserFactory()
    user.time_zone = name
    with pytest.raises(ValidationError) as raised:
        user.full_clean()
    assert "time_zone" in raised.value.message_dict


# --- the request runs in the person's zone -----------------------------------------------------------


def _zone_seen_by_view(user):
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        return "response"

    request = RequestFactory().get("/admin/")
    request.user = user
    assert UserTimeZoneMiddleware(view)(request) == "response"
    return seen["zone"]


def test_the_middleware_runs_the_request_in_the_users_zone_and_switches_back():
    assert _zone_seen_by_view(UserFactory(time_zone="Asia/Tokyo")) == "Asia/Tokyo"
    assert timezone.get_current_timezone_name() == "UTC", "the next request on this thread starts afresh"
    assert _zone_seen_by_view(UserFactory(time_zone="")) == "UTC", "blank is the site's zone"


def test_the_admin_shows_times_in_the_users_zone():
    user = UserFactory(time_zone="Asia/Tokyo", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.get(PREFERENCES)
    assert response.status_code == 200
    assert " JST</time>" in response.content.decode()
    assert timezone.get_current_timezone_name() == "UTC"


def test_an_api_token_request_runs_in_the_users_zone():
    user = UserFactory(time_zone="Europe/Berlin")
    winter = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    User.objects.filter(pk=user.pk).update(created_at=winter)
    body = bearer(user).get(ME).json()
    # Responses keep ISO 8601 with the offset of the person's zone: the same instant.
    assert body["created_at"] == "2026-01-15T13:00:00+01:00"
    assert timezone.get_current_timezone_name() == "UTC"

    User.objects.filter(pk=user.pk).update(time_zone="")
    assert bearer(user).get(ME).json()["created_at"] == "2026-01-15T12:00:00Z"


def test_an_api_key_request_runs_in_the_users_zone():
    user = UserFactory(time_zone="Asia/Kolkata")
    key = new_api_key()
    ApiKeyFactory(user=user, key_hash=hash_secret(key), permissions=["captions:read"])
    image = ImageFactory(post__platform_connection__user=user)
    Image.objects.filter(pk=image.pk).update(created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.get("/api/v1/captions/images/")
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    assert row["created_at"] == "2026-01-15T17:30:00+05:30"
    assert timezone.get_current_timezone_name() == "UTC"


# --- the current-user endpoint -------------------------------------------------------------------------


def test_me_reads_and_changes_the_time_zone():
    user = UserFactory()
    client = bearer(user)
    assert client.get(ME).json()["time_zone"] == ""

    response = client.patch(ME, {"time_zone": "America/New_York"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["time_zone"] == "America/New_York"
    user.refresh_from_db()
    assert user.time_zone == "America/New_York"

    response = client.patch(ME, {"time_zone": ""}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.time_zone == ""


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "UTC+2", "x" * 100])
def test_me_refuses_an_unknown_zone_with_a_400(name):
    user = UserFactory(time_zone="Europe/Paris")
    response = bearer(user).patch(ME, {"time_zone": name}, format="json")
    assert response.status_code == 400, response.content
    assert "time_zone" in response.json()["error"]["fields"]
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"


# --- scheduling -----------------------------------------------------------------------------------------


@pytest.fixture
def accepted_workflow():
    user = UserFactory(time_zone="Europe/Berlin")
    PlatformConnectionFactory(user=user, platform_type="mastodon", is_default=True)
    workflow = WorkflowFactory(user=user, status=WorkflowStatus.COMPLETED)
    draft = DraftFactory(workflow=workflow, platform=Platform.MASTODON, content="Version 2 is out.")
    PlatformStateFactory(
        workflow=workflow, platform=Platform.MASTODON, status=PlatformStatus.ACCEPTED, active_draft=draft
    )
    return workflow


def _schedule(workflow, when: str):
    return bearer(workflow.user).post(
        JOBS, {"workflow": str(workflow.pk), "platform": "mastodon", "scheduled_for": when}, format="json"
    )


def _in_a_week() -> datetime.date:
    return (timezone.now() + timedelta(days=7)).date()


def test_a_naive_scheduled_time_is_read_in_the_users_zone(accepted_workflow):
    day = _in_a_week()
    response = _schedule(accepted_workflow, f"{day.isoformat()}T09:00:00")
    assert response.status_code == 201, response.content
    stored = PublishingJob.objects.get(pk=response.json()["id"]).scheduled_for
    assert stored == datetime.combine(day, time(9), BERLIN)
    assert stored.utcoffset() == timedelta(0), "stored in UTC"
    assert response.json()["scheduled_for"].startswith(f"{day.isoformat()}T09:00:00+0")


@pytest.mark.parametrize(
    ("suffix", "zone"),
    [("Z", UTC), ("+05:30", ZoneInfo("Asia/Kolkata")), ("-03:00", ZoneInfo("America/Sao_Paulo"))],
)
def test_an_aware_scheduled_time_keeps_its_offset(accepted_workflow, suffix, zone):
    day = _in_a_week()
    response = _schedule(accepted_workflow, f"{day.isoformat()}T09:00:00{suffix}")
    assert response.status_code == 201, response.content
    stored = PublishingJob.objects.get(pk=response.json()["id"]).scheduled_for
    assert stored == datetime.combine(day, time(9), zone)


@pytest.mark.parametrize("offset", ["", "+09:00"])
def test_a_zone_named_in_brackets_is_the_wall_clock_of_that_zone(accepted_workflow, offset):
    # RFC 9557: the user's own zone is Berlin, the time is given in Tokyo.
    day = _in_a_week()
    response = _schedule(accepted_workflow, f"{day.isoformat()}T09:00:00{offset}[Asia/Tokyo]")
    assert response.status_code == 201, response.content
    stored = PublishingJob.objects.get(pk=response.json()["id"]).scheduled_for
    assert stored == datetime.combine(day, time(9), ZoneInfo("Asia/Tokyo"))


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("T09:00:00[Mars/Olympus]", "Mars/Olympus is not a time zone this server knows"),
        ("T09:00:00+01:00[Asia/Tokyo]", "The offset +0100 is not Asia/Tokyo's at that time (+0900)."),
        ("T09:00:00[../etc/passwd]", "Datetime has wrong format"),
    ],
)
def test_an_unknown_or_contradicted_zone_is_a_400_naming_the_field(accepted_workflow, when, message):
    response = _schedule(accepted_workflow, f"{_in_a_week().isoformat()}{when}")
    assert response.status_code == 400, response.content
    assert message in str(response.json()["error"]["fields"]["scheduled_for"])
    assert not PublishingJob.objects.exists()


def test_a_reschedule_reads_a_naive_time_in_the_users_zone(accepted_workflow):
    day = _in_a_week()
    job = _schedule(accepted_workflow, f"{day.isoformat()}T09:00:00Z").json()
    response = bearer(accepted_workflow.user).patch(
        f"{JOBS}{job['id']}/", {"scheduled_for": f"{day.isoformat()}T18:30:00"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert PublishingJob.objects.get(pk=job["id"]).scheduled_for == datetime.combine(
        day, time(18, 30), BERLIN
    )


def test_a_time_that_does_not_exist_in_the_users_zone_is_a_400(accepted_workflow):
    # Clocks in Berlin jump from 02:00 to 03:00 on the last Sunday of March.
    year = timezone.now().year + 1 if timezone.now().month > 3 else timezone.now().year
    last_sunday = max(
        datetime(year, 3, day) for day in range(25, 32) if datetime(year, 3, day).weekday() == 6
    ).date()
    if (
        not timedelta(0)
        < datetime.combine(last_sunday, time(2, 30), UTC) - timezone.now()
        < timedelta(days=365)
    ):
        pytest.skip("the next DST gap is not within the scheduling window")
    response = _schedule(accepted_workflow, f"{last_sunday.isoformat()}T02:30:00")
    assert response.status_code == 400, response.content
    assert "scheduled_for" in response.json()["error"]["fields"]
    assert not PublishingJob.objects.exists()


# --- the preferences page -------------------------------------------------------------------------------


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_user_tools_link_to_the_preferences_page():
    # A `user` signs in to the admin once the roles allow it; here the staff flag stands for that.
    user = UserFactory(is_staff=True)
    body = _signed_in(user).get(reverse("admin:index")).content.decode()
    assert f'href="{PREFERENCES}"' in body


def test_a_user_sets_their_zone_on_the_preferences_page():
    user = UserFactory(is_staff=True)
    client = _signed_in(user)
    page = client.get(PREFERENCES)
    assert page.status_code == 200
    assert '<option value="Europe/Berlin">' in page.content.decode()

    response = client.post(PREFERENCES, {"time_zone": "Europe/Berlin"})
    assert response.status_code == 302 and response.url == PREFERENCES
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"
    assert 'value="Europe/Berlin" selected' in client.get(PREFERENCES).content.decode()

    client.post(PREFERENCES, {"time_zone": ""})
    user.refresh_from_db()
    assert user.time_zone == ""


def test_an_unknown_zone_is_a_form_error_next_to_the_field_and_nothing_changes():
    user = UserFactory(is_staff=True, time_zone="Europe/Paris")
    response = _signed_in(user).post(PREFERENCES, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert response.context["form"].errors["time_zone"]
    body = response.content.decode()
    assert 'class="form-row field-time_zone errors"' in body
    assert body.index("errorlist") < body.index('name="time_zone"')
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"


def test_the_preferences_page_needs_a_signed_in_admin_user():
    response = Client().get(PREFERENCES)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_a_time_that_happens_twice_in_the_users_zone_is_a_400(accepted_workflow):
    # Clocks in Berlin go back from 03:00 to 02:00 on the last Sunday of October: 02:30 is twice.
    now = timezone.now()
    year = now.year if now.month < 10 else now.year + 1
    last_sunday = max(
        datetime(year, 10, day) for day in range(25, 32) if datetime(year, 10, day).weekday() == 6
    ).date()
    response = _schedule(accepted_workflow, f"{last_sunday.isoformat()}T02:30:00")
    assert response.status_code == 400, response.content
    assert "scheduled_for" in response.json()["error"]["fields"]
    # With its offset it is one instant, and fine.
    response = _schedule(accepted_workflow, f"{last_sunday.isoformat()}T02:30:00+01:00")
    assert response.status_code == 201, response.content


def test_a_naive_filter_time_and_a_bare_calendar_date_are_read_in_the_users_zone():
    user = UserFactory(time_zone="Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")
    day = _in_a_week()
    # 08:00 in Tokyo is 23:00 UTC the day before.
    job = PublishingJobFactory(
        workflow__user=user,
        status=PublishingStatus.SCHEDULED,
        scheduled_for=datetime.combine(day, time(8), tokyo),
    )
    client = bearer(user)

    def listed(**params) -> list[str]:
        response = client.get(JOBS, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert listed(scheduled_after=f"{day.isoformat()}T07:30:00") == [str(job.pk)]
    assert listed(scheduled_after=f"{day.isoformat()}T08:30:00") == []
    # With an offset, that instant: 07:30 UTC is after 23:00 UTC the day before.
    assert listed(scheduled_after=f"{day.isoformat()}T07:30:00Z") == []

    # The calendar's bare dates are midnights in Tokyo: the job is on `day` there (not the day
    # before, as it is in UTC).
    response = client.get(CALENDAR, {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()})
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()] == [str(job.pk)]
