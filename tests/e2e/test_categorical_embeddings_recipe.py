from tests.conftest import REPO_ROOT


def test_recipe_learns_category_effects(tmp_path):
    from recipes.categorical_embeddings import OCEAN_PROXIMITY, main

    metrics = main(["--config", str(REPO_ROOT / "recipes/configs/categorical_embeddings.yaml"),
                    "--data.num_samples", "4000", "--train.output_dir", str(tmp_path / "run"),
                    "--train.progress_bar", "false"])
    assert metrics["test"]["mse"] < 0.1 * metrics["test_mse_predicting_the_mean"]
    assert metrics["test"]["count"] == 400
    learned = metrics["learned_effects"]
    # Well-populated categories: the learned differences match the generating effects.
    for name in ("INLAND", "NEAR OCEAN", "NEAR BAY"):
        true_gap = OCEAN_PROXIMITY[name] - OCEAN_PROXIMITY["<1H OCEAN"]
        assert abs((learned[name] - learned["<1H OCEAN"]) - true_gap) < 0.25, name
    assert len(metrics["embeddings"]["INLAND"]) == 2
    for name in ("report.md", "category_embeddings.png", "metrics.json"):
        assert (tmp_path / "run" / name).is_file()
