"""The counting and neighbourhood models through fit / scores / save / load, on real slices."""

import json

import numpy as np
import pytest

from via.rec.data.benchmark import load_benchmark
from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.evaluate import evaluate
from via.rec.models import REGISTRY, ModelFileError, SessionModel, create_model

BASELINES = ["pop", "spop", "itemknn", "sknn", "vsknn", "stan"]


@pytest.fixture(scope="module")
def slice_of_diginetica(shared_data):
    data = load_benchmark("diginetica")
    train = data.train.select(np.arange(len(data.train) - 20000, len(data.train)))
    test = data.test.select(np.arange(300))
    return train, test, data.n_items


def test_pop_and_spop_by_hand():
    train = Sessions.from_lists([[1, 2, 2], [2, 3], [3, 2]])  # clicks: 1:1, 2:4, 3:2
    pop = create_model("pop").fit(train)
    assert pop.recommend(PrefixBatch.from_lists([[1]]), k=3).tolist() == [[2, 3, 1]]
    spop = create_model("spop").fit(train)
    # in-session counts first (1 twice, 3 once), then global popularity
    assert spop.recommend(PrefixBatch.from_lists([[3, 1, 1]]), k=3).tolist() == [[1, 3, 2]]


def test_itemknn_by_hand():
    # sessions: {1,2}, {1,2}, {1,3}: support 1:3, 2:2, 3:1; co(1,2)=2, co(1,3)=1
    train = Sessions.from_lists([[1, 2], [2, 1], [1, 3]])
    model = create_model("itemknn", lmbd=0.0, alpha=0.5).fit(train)
    scores = model.scores(PrefixBatch.from_lists([[3, 1]]))  # last item 1
    np.testing.assert_allclose(scores[0, 1:], [0, 2 / np.sqrt(3 * 2), 1 / np.sqrt(3 * 1)], rtol=1e-6)


@pytest.mark.parametrize("name", BASELINES)
def test_save_load_gives_identical_scores(name, slice_of_diginetica, tmp_path):
    train, test, n_items = slice_of_diginetica
    model = create_model(name).fit(train, n_items=n_items)
    prefixes = all_prefixes(test).prefixes
    before = model.scores(prefixes)
    model.save(tmp_path / name)
    config = json.loads((tmp_path / name / "config.json").read_text())
    assert config["model"] == name and config["n_items"] == n_items
    loaded = SessionModel.load(tmp_path / name)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.scores(prefixes), before)


@pytest.mark.parametrize("name", BASELINES)
def test_models_beat_chance_on_a_real_slice(name, slice_of_diginetica):
    train, test, n_items = slice_of_diginetica
    model = create_model(name).fit(train, n_items=n_items)
    result = evaluate(model, test, (20,))
    assert result.n_cases == int((test.lengths - 1).sum())
    # ranking at random would hit 20 / 43097 of the time
    assert result.hit_rate[20] > 0.005
    assert 0 <= result.mrr[20] <= result.hit_rate[20]


def test_corrupt_or_missing_model_files(tmp_path):
    model = create_model("itemknn").fit(Sessions.from_lists([[1, 2], [2, 3]]))
    model.save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="config.json is missing"):
        SessionModel.load(tmp_path / "nothing")
    (tmp_path / "m" / "weights.npz").write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match="cannot read weights"):
        SessionModel.load(tmp_path / "m")
    model.save(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{broken")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        SessionModel.load(tmp_path / "m")
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["model"] = "no-such-model"
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unknown model 'no-such-model'"):
        SessionModel.load(tmp_path / "m")


def test_pickled_weights_are_refused(tmp_path):
    model = create_model("pop").fit(Sessions.from_lists([[1, 2]]))
    model.save(tmp_path / "m")
    np.savez(tmp_path / "m" / "weights.npz", popularity=np.array([object()], dtype=object))
    with pytest.raises(ModelFileError, match="cannot read weights"):
        SessionModel.load(tmp_path / "m")


def test_unfitted_model_and_unknown_name():
    with pytest.raises(RuntimeError, match="not fitted"):
        create_model("stan").scores(PrefixBatch.from_lists([[1]]))
    with pytest.raises(ValueError, match="known models"):
        create_model("bogus")
    assert set(BASELINES) <= set(REGISTRY)


def test_training_item_above_catalog_is_refused():
    with pytest.raises(ValueError, match="above n_items"):
        create_model("pop").fit(Sessions.from_lists([[1, 9]]), n_items=5)


def test_presets_are_valid_constructor_arguments():
    from via.rec.models.presets import PRESETS, preset_params

    for preset, tables in PRESETS.items():
        for data_name, models in tables.items():
            for model_name in models:
                params = preset_params(preset, data_name, model_name)
                model = create_model(model_name.partition(":")[0], **params)
                assert {k: getattr(model, k) for k in params} == params
    assert preset_params("none", "diginetica", "stan") == {}
    assert preset_params("published", "unknown-data", "stan") == {}
    with pytest.raises(ValueError, match="unknown preset"):
        preset_params("mine", "diginetica", "stan")


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="stan has no hyperparameter kk; it takes: k, sample_size"):
        create_model("stan", kk=3)


def test_evaluate_refuses_items_outside_the_catalog():
    model = create_model("pop").fit(Sessions.from_lists([[1, 2, 3]]))
    with pytest.raises(ValueError, match="item id 9, but the model knows items 1..3"):
        evaluate(model, Sessions.from_lists([[1, 9]]))
