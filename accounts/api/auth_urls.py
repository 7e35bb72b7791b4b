from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.auth import LoginView, LogoutAllView, LogoutView, MeView, PasswordView, SessionViewSet

router = SimpleRouter()
router.register("sessions", SessionViewSet, basename="auth-session")

urlpatterns = [
    path("login/", LoginView.as_view(), name="auth-login"),
    path("logout/", LogoutView.as_view(), name="auth-logout"),
    path("logout-all/", LogoutAllView.as_view(), name="auth-logout-all"),
    path("me/", MeView.as_view(), name="auth-me"),
    path("password/", PasswordView.as_view(), name="auth-password"),
    *router.urls,
]
