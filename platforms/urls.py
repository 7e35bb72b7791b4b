from django.urls import path

from platforms.oauth import CALLBACK_URL_NAME
from platforms.views import oauth_callback

urlpatterns = [path("oauth/callback/", oauth_callback, name=CALLBACK_URL_NAME)]
