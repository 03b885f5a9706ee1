from django.urls import path

from . import views

app_name = "ops"

urlpatterns = [
    path("", views.ops_page, name="page"),
    path("json/", views.ops_json, name="json"),
]
