from rest_framework import serializers


class LikeStateOut(serializers.Serializer):
    post_id = serializers.IntegerField()
    liked = serializers.BooleanField()
    like_count = serializers.IntegerField()
    likes_version = serializers.IntegerField()
