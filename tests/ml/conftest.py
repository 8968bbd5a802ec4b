"""Generated views shaped like gold.fct_views (see `generated_views` in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_views(spark, generated_views):
    """6,000 generated views of 300 users and 60 titles, cached."""
    return generated_views(spark, 6_000).cache()


@pytest.fixture(scope="session")
def views_with_history(spark, generated_views):
    """20,000 generated views of 200 users: about 100 each, so that a user's history says something."""
    return generated_views(spark, 20_000, seed=9, n_users=200, n_videos=80).cache()
