from rest_framework import serializers

from social.serializers import UserRefOut


class LikeStateOut(serializers.Serializer):
    post_id = serializers.IntegerField()
    liked = serializers.BooleanField()
    like_count = serializers.IntegerField()
    likes_version = serializers.IntegerField()


class LikerOut(serializers.Serializer):
    user = UserRefOut()
    liked_at = serializers.DateTimeField()


class LikerPageOut(serializers.Serializer):
    items = LikerOut(many=True)
    next = serializers.CharField(allow_null=True)
