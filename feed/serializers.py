from rest_framework import serializers

from social.serializers import PostOut, UserRefOut


class FeedQueryIn(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    before = serializers.CharField(required=False, max_length=400)


class FeedItemOut(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["post", "like"])
    actor = UserRefOut()
    post = PostOut()
    likers = UserRefOut(
        many=True, help_text="people you follow who like the post, newest first, at most 3"
    )
    likers_count = serializers.IntegerField(
        help_text="how many of the people you follow like the post"
    )
    created_at = serializers.DateTimeField(help_text="the latest activity that placed the item")


class FeedPageOut(serializers.Serializer):
    items = FeedItemOut(many=True)
    next = serializers.CharField(allow_null=True)


class FollowOut(serializers.Serializer):
    following = serializers.BooleanField()
