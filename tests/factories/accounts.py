import factory
from django.utils import timezone

from accounts.models import ApiKey, AuditLog, Role, SessionKind, User, UserSession
from accounts.tokens import hash_secret, new_session_token


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    full_name = factory.Faker("name")
    role = Role.USER
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class UserSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserSession

    user = factory.SubFactory(UserFactory)
    kind = SessionKind.API
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=14))


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    user = factory.SubFactory(UserFactory)
    key_name = factory.Sequence(lambda n: f"integration {n}")
    key_prefix = factory.Sequence(lambda n: f"sd_{n:06d}")
    key_hash = factory.Sequence(lambda n: f"{n + 10**6:064x}")
    permissions = factory.LazyFunction(lambda: ["captions:read"])


class AuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLog

    user = factory.SubFactory(UserFactory)
    action = "test.action"
    resource_type = "user"
    details = factory.LazyFunction(dict)


class BrowserSessionFactory(UserSessionFactory):
    kind = SessionKind.BROWSER


def bearer_token_for(user, **kwargs) -> str:
    """A working bearer token for `user` (an API session row holding only its hash)."""
    token = new_session_token()
    UserSessionFactory(user=user, token_hash=hash_secret(token), **kwargs)
    return token
