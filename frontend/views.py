"""Page shells. Each view only renders a template; the page's script fetches its data.

``ensure_csrf_cookie`` sets the ``csrftoken`` cookie that the script sends back as the
``X-CSRFToken`` header on unsafe API calls (session auth). Pages that need a signed-in
person send anyone else to the log-in page, which returns them afterwards (``?next=``).
"""

from django.contrib.auth import password_validation
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie

LOGIN_URL = "frontend:login"


@ensure_csrf_cookie
@login_required(login_url=LOGIN_URL)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html")


@ensure_csrf_cookie
@login_required(login_url=LOGIN_URL)
def user(request: HttpRequest, username: str) -> HttpResponse:
    return render(request, "frontend/user.html", {"profile_username": username})


@ensure_csrf_cookie
@login_required(login_url=LOGIN_URL)
def post(request: HttpRequest, post_id: int) -> HttpResponse:
    """A post's page: the post, its like button, who likes it (read by the page's script,
    so an unknown id is the script's "does not exist", as on a profile)."""
    return render(request, "frontend/post.html", {"post_id": post_id})


@ensure_csrf_cookie
@login_required(login_url=LOGIN_URL)
def notifications(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/notifications.html")


def safe_next(request: HttpRequest) -> str:
    """Where to go after logging in: ``?next=`` if Django's own check says it stays on this
    site (``url_has_allowed_host_and_scheme``, which also refuses ``/\\host`` and
    ``//host``, both of which browsers follow off-site), else the home page. The page's
    script follows only this value (``data-next``), never the query string itself."""
    target = request.GET.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else "/"


@ensure_csrf_cookie
def login(request: HttpRequest) -> HttpResponse:
    """``?signed_out=1``: a page was sent here because its access ended elsewhere (its
    socket closed with 4401: a logout in another tab, a revoked token), so say so."""
    context = {"next_url": safe_next(request), "signed_out": request.GET.get("signed_out") == "1"}
    return render(request, "frontend/login.html", context)


@ensure_csrf_cookie
def signup(request: HttpRequest) -> HttpResponse:
    """The password rules shown before submitting are the validators' own help texts
    (``AUTH_PASSWORD_VALIDATORS``), so the page cannot promise other rules than the server's."""
    context = {
        "next_url": safe_next(request),
        "password_rules": password_validation.password_validators_help_texts(),
    }
    return render(request, "frontend/signup.html", context)
