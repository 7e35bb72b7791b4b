from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    """Log in with a username or an email address (case-insensitive for the email)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username and "@" in username:
            User = get_user_model()
            match = User.objects.filter(email__iexact=username.strip()).only("username").first()
            if match is None:
                # Same work as a real check, so response time does not reveal which emails exist.
                User().set_password(password)
                return None
            username = match.username
        return super().authenticate(request, username=username, password=password, **kwargs)
