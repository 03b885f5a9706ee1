"""Environment of the test run, loaded with ``-p tests.environment`` (see pyproject.toml) so
it is in place before pytest-django imports the settings.

The live stack's processes inherit it too: small fan-out chunks so a test can see a like
split into chunk tasks, and the suite's own Redis key prefix (its keys are deleted at the
start of a run; nothing else in Redis is touched).
"""

import os

TEST_ENV = {
    "REDIS_PREFIX": "lftest",
    "FANOUT_BULK_THRESHOLD": "6",
    "FANOUT_BULK_CHUNK": "4",
    "FANOUT_CHUNK_SIZE": "3",
    "LOG_LEVEL": "WARNING",
    # Accounts named exempt-… are never rate-limited (tests that need volume use them).
    "THROTTLE_EXEMPT_USERS": "exempt-*",
    # The suite signs up, posts and follows from one address far faster than any person:
    # these limits are tested with their own rates (tests/test_hostile_limits.py).
    "THROTTLE_RATE_REGISTER": "100000/hour",
    "THROTTLE_RATE_POST": "100000/min",
    "THROTTLE_RATE_FOLLOW": "100000/min",
    "LIKE_MAIL_DEBOUNCE_S": "3",  # a burst of likes within 3 s becomes one mail
}

for name, value in TEST_ENV.items():
    os.environ.setdefault(name, value)
