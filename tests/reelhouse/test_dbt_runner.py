from reelhouse.dbt_runner import seed_tables


def test_seed_tables_follow_the_projects_seed_paths_and_seed_schema(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\nseed-paths: ['data/reference']\nseeds:\n  shop:\n    +schema: raw\n")
    (tmp_path / "data" / "reference").mkdir(parents=True)
    (tmp_path / "data" / "reference" / "countries.csv").write_text("code\nFR\n")
    (tmp_path / "seeds").mkdir()  # dbt's default folder, not this project's
    (tmp_path / "seeds" / "stale.csv").write_text("code\nDE\n")
    assert seed_tables(tmp_path) == {("raw", "countries")}


def test_our_seed_lands_in_bronze_where_maintain_leaves_it_to_the_build():
    assert ("bronze", "catalog_videos") in seed_tables()
