from django.urls import path

from . import views

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("signup/", views.signup, name="signup"),
    path("u/<str:username>/", views.user, name="user"),
    path("p/<id:post_id>/", views.post, name="post"),
    path("notifications/", views.notifications, name="notifications"),
]
