from django.urls import path

from accounts.api.api_keys import ApiKeyViewSet

app_name = "api-keys"

urlpatterns = [
    path("", ApiKeyViewSet.as_view({"get": "list", "post": "create"}), name="list"),
    path("<int:pk>/", ApiKeyViewSet.as_view({"get": "retrieve", "delete": "destroy"}), name="detail"),
]
