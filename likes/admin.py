"""Likes in the admin, with the one tool whose answer a person waits for: the recount.

"Check like counters" / "Repair like counters" on the likes list start
``likes.tasks.recount_likes`` through the broker, like any task, and then wait for its drift
report through the result backend (``AsyncResult.get``) to show it. That is why this task,
and only this one, stores its result: every fan-out task ignores its own (nobody waits for
it; its effect is in the feeds). ``make lessons`` (lesson 4) measures both.
"""

from __future__ import annotations

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path

from .models import Like
from .tasks import recount_likes

RECOUNT_WAIT_S = 30.0  # how long the admin's request waits for the report


@admin.register(Like)
class LikeAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "post", "created_at", "fanned_out_at")
    raw_id_fields = ("user", "post")
    list_filter = ("fanned_out_at",)
    change_list_template = "admin/likes/like/change_list.html"  # adds the recount buttons

    def get_urls(self) -> list[URLPattern]:
        recount = path(
            "recount/", self.admin_site.admin_view(self.recount_view), name="likes_like_recount"
        )
        return [recount, *super().get_urls()]

    def recount_view(self, request: HttpRequest) -> HttpResponse:
        """POST: run the recount on a worker, wait for its report, show it on the list."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        fix = request.POST.get("fix") == "1"
        result = recount_likes.delay(fix=fix)  # the blackboard: the broker
        try:
            report = result.get(timeout=RECOUNT_WAIT_S)  # the results book: the backend
        except CeleryTimeoutError:
            messages.warning(
                request,
                f"The recount (task {result.id}) has not answered within {RECOUNT_WAIT_S:.0f} s: "
                "is a worker running? It will still run; check again later.",
            )
            return redirect("admin:likes_like_changelist")
        result.forget()  # read: its page in the backend can go
        drifted = report["drifted"]
        if not drifted:
            messages.success(
                request, f"Like counters: {report['checked_posts']} posts checked, none drifted."
            )
        else:
            posts = "; ".join(
                f"post {d['post_id']} said {d['like_count']}, has {d['likes']} likes"
                for d in drifted
            )
            done = "repaired" if report["fixed"] else "not repaired (use Repair)"
            messages.warning(
                request,
                f"Like counters: {report['checked_posts']} posts checked, {len(drifted)} "
                f"drifted ({done}): {posts}.",
            )
        return redirect("admin:likes_like_changelist")
