"""VIANet: its encoder's equations, learning the synthetic cycle, scoring properties and
persistence through the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models import SessionModel, create_model
from via.rec.models.neural.prefix import add_click_bias, column_click_bias
from via.rec.models.neural.via_model import VIAEncoder, VIANet

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    train_fixture,
    write_benchmark,
)

SMALL = {"embedding_dim": 16, "batch_size": 32, "learning_rate": 0.01, "n_epochs": 4,
         "dropout": 0.0, "scale": 8.0}  # fmt: skip
PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3], [7, 8]])


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(train):
    torch.set_num_threads(1)
    return VIANet(**SMALL).fit(train)


def test_learns_the_cycle(fitted):
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) > 0.95


def test_scores_are_scaled_cosines(fitted):
    scores = fitted.scores(PREFIXES)[:, 1:]
    assert np.abs(scores).max() <= 8.0 + 1e-4
    assert scores.max() > 4.0  # the learned next item is close in direction


def test_encoder_follows_its_equations_by_hand():
    torch.manual_seed(0)
    encoder = VIAEncoder(n_items=6, d=4, max_length=5, dropout=0.0, scale=3.0).eval()
    items = [2, 5, 3]
    with torch.no_grad():
        got = encoder(torch.tensor([items + [0, 0]]), torch.tensor([3]))[0]
        e = torch.nn.functional.normalize(encoder.item_embedding.weight[items], dim=-1)
        p = encoder.position_embedding.weight[[3, 2, 1]]  # reverse positions: last click is 1
        z = torch.tanh(encoder.position_mix(torch.cat([e, p], dim=1)))
        energy = encoder.attention_vector(torch.sigmoid(
            encoder.attention_each(z) + encoder.attention_last(e[-1]) +
            encoder.attention_mean(e.mean(dim=0))
        )).squeeze(-1)  # fmt: skip
        intent = torch.softmax(energy, dim=0) @ e
        session = encoder.session_mix(torch.cat([intent, e[-1]]))
        expected = 3.0 * session / session.norm()
    torch.testing.assert_close(got, expected)
    matrix = encoder.item_matrix()
    torch.testing.assert_close(matrix[1:].norm(dim=1), torch.ones(6))


def test_dropout_acts_in_training_only(fitted):
    model = VIANet(**dict(SMALL, dropout=0.5, n_epochs=1)).fit(cycle_sessions(50, seed=3))
    items, lengths = torch.tensor([[1, 2, 3]]), torch.tensor([3])
    model.module.train()
    a, b = model.module(items, lengths), model.module(items, lengths)
    assert not torch.allclose(a, b)
    model.module.eval()
    torch.testing.assert_close(model.module(items, lengths), model.module(items, lengths))


def test_padding_and_neighbours_do_not_change_scores(fitted):
    together = fitted.scores(PREFIXES)
    for i, prefix in enumerate(PREFIXES.sessions.to_lists()):
        alone = fitted.scores(PrefixBatch.from_lists([prefix]))
        np.testing.assert_allclose(alone[0], together[i], rtol=1e-5, atol=1e-5)


def test_registry_save_and_load(fitted, tmp_path):
    assert isinstance(create_model("vianet", scale=5.0), VIANet)
    fitted.save(tmp_path / "m")
    loaded = SessionModel.load(tmp_path / "m")
    assert isinstance(loaded, VIANet) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.scores(PREFIXES), fitted.scores(PREFIXES))


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="dropout"):
        VIANet(dropout=1.0)
    with pytest.raises(ValueError, match="scale"):
        VIANet(scale=0)
    with pytest.raises(ValueError, match="knn"):
        VIANet(knn="itemknn")
    with pytest.raises(ValueError, match="knn_weight"):
        VIANet(knn="stan", knn_weight=1.5)


def test_fit_cuts_validation_from_the_end_of_training(train):
    model = VIANet(**dict(SMALL, n_epochs=2), valid_fraction=0.2).fit(train)
    assert all("valid_mrr20" in r for r in model.history_)
    alone = VIANet(**dict(SMALL, n_epochs=2), valid_fraction=0.0).fit(train)
    assert all("valid_mrr20" not in r for r in alone.history_)


def test_knn_fusion_weight_is_chosen_on_validation_and_saved(train, tmp_path):
    stan = {"k": 50, "sample_size": 200}
    model = VIANet(**dict(SMALL, n_epochs=1), knn="stan", knn_params=stan).fit(train)
    curve = model.fusion_curve_
    assert [r["knn_weight"] for r in curve][:3] == [0.0, 0.05, 0.1] and len(curve) == 21
    assert model.knn_weight_ == max(curve, key=lambda r: r["valid_mrr20"])["knn_weight"]
    assert len(model.knn_model._train) == len(train)  # re-indexed on all training sessions
    model.save(tmp_path / "m")
    loaded = SessionModel.load(tmp_path / "m")
    assert loaded.knn_weight_ == model.knn_weight_
    np.testing.assert_array_equal(loaded.scores(PREFIXES), model.scores(PREFIXES))


def test_fixed_knn_weights_at_the_ends(train):
    stan = {"k": 50, "sample_size": 200}
    pure = VIANet(**dict(SMALL, n_epochs=1), knn="stan", knn_params=stan, knn_weight=0.0)
    pure.fit(train)
    net = VIANet(**dict(SMALL, n_epochs=1)).fit(train)
    np.testing.assert_array_equal(pure.scores(PREFIXES), net.scores(PREFIXES))
    only_knn = VIANet(**dict(SMALL, n_epochs=1), knn="stan", knn_params=stan, knn_weight=1.0)
    only_knn.fit(train)
    knn = only_knn.knn_model.scores(PREFIXES)[:, 1:]
    fused = only_knn.scores(PREFIXES)[:, 1:]
    np.testing.assert_allclose(fused, knn / knn.max(axis=1, keepdims=True), rtol=1e-6)


def test_item_rows_are_the_rows_of_the_item_matrix():
    encoder = VIAEncoder(n_items=6, d=4, max_length=5, dropout=0.0, scale=3.0)
    ids = torch.tensor([3, 1, 3, 6])
    torch.testing.assert_close(encoder.item_rows(ids), encoder.item_matrix()[ids])


def test_refitted_trains_on_everything_for_the_chosen_epochs(train):
    stan = {"k": 50, "sample_size": 200}
    chosen = VIANet(**dict(SMALL, n_epochs=3), knn="stan", knn_params=stan, select_on="hr@20")
    chosen.fit(train)
    final = chosen.refitted(train)
    assert len(final.history_) == chosen.best_epoch_
    assert all("valid_mrr20" not in r for r in final.history_)
    assert final.knn_weight_ == chosen.knn_weight_ and final.seed == chosen.seed
    assert len(final.knn_model._train) == len(train)
    assert hit_rate(final, cycle_sessions(100, seed=2), k=5) > 0.9


def test_protocol_runner_and_reuse_of_its_choices_for_another_seed(train, tmp_path):
    from via.rec.models.neural.via_model import main

    data = write_benchmark(tmp_path / "cycle", train, cycle_sessions(60, seed=3))
    params = ["embedding_dim=16", "batch_size=32", "learning_rate=0.01", "n_epochs=3",
              "dropout=0.0", "scale=8.0", "knn=stan", 'knn_params={"k": 50, "sample_size": 200}']
    main(["--data", str(data), "--seed", "0", "--out", str(tmp_path / "s0"), "--param", *params])
    first = json.loads((tmp_path / "s0" / "result.json").read_text())
    assert len(first["refit_history"]) == first["selection"]["best_epoch"]
    assert first["network"]["HR@5"] > 0.9 and first["fused"]["HR@5"] > 0.9

    main(["--data", str(data), "--seed", "1", "--out", str(tmp_path / "s1"), "--param", *params,
          "--chosen", str(tmp_path / "s0" / "result.json")])
    second = json.loads((tmp_path / "s1" / "result.json").read_text())
    assert second["seed"] == 1
    assert second["selection"]["best_epoch"] == first["selection"]["best_epoch"]
    assert second["selection"]["knn_weight"] == first["selection"]["knn_weight"]
    assert second["selection"]["chosen_from"].endswith("result.json")
    assert len(second["refit_history"]) == first["selection"]["best_epoch"]
    assert all("valid_mrr20" not in r for r in second["refit_history"])
    final = SessionModel.load(tmp_path / "s1" / "model")
    assert final.seed == 1 and final.knn_weight_ == first["selection"]["knn_weight"]

    # as the docs run it: `python -m` (the module is __main__ there)
    subprocess.run([sys.executable, "-m", "via.rec.models.neural.via_model", "--data", str(data),
                    "--out", str(tmp_path / "both"), "--ensemble-of", str(tmp_path / "s0"),
                    str(tmp_path / "s1")], check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    both = json.loads((tmp_path / "both" / "result.json").read_text())
    assert both["seeds"] == [0, 1] and both["params"]["members"] == 2
    assert both["network"]["HR@5"] > 0.9

    main(["--data", str(data), "--seed", "0", "--out", str(tmp_path / "v"), "--param", *params,
          "--validation-only"])
    validation = json.loads((tmp_path / "v" / "result.json").read_text())
    assert "fused" not in validation and not (tmp_path / "v" / "model").exists()
    untimed = [{k: v for k, v in r.items() if k in ("epoch", "loss", "valid_ce", "valid_mrr20")}
               for r in validation["selection"]["history"]]
    assert untimed == [{k: r[k] for k in ("epoch", "loss", "valid_ce", "valid_mrr20")}
                       for r in first["selection"]["history"]]

    # choices made with other settings are not reused
    with pytest.raises(SystemExit, match="other settings"):
        main(["--data", str(data), "--seed", "2", "--out", str(tmp_path / "s2"),
              "--param", *params, "scale=4.0", "--chosen", str(tmp_path / "s0" / "result.json")])


def test_runner_writes_its_choices_before_the_final_training(train, tmp_path, monkeypatch):
    """A further seed can start from the validation choices while the final training runs, and
    a final training that fails does not lose them."""
    from via.rec.models.neural.via_model import main

    data = write_benchmark(tmp_path / "cycle", train, cycle_sessions(20, seed=3))

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(VIANet, "refitted", interrupted)
    params = ["embedding_dim=16", "batch_size=32", "learning_rate=0.01", "n_epochs=2",
              "dropout=0.0", "knn=none"]
    with pytest.raises(KeyboardInterrupt):
        main(["--data", str(data), "--seed", "0", "--out", str(tmp_path / "s0"),
              "--param", *params])
    choices = json.loads((tmp_path / "s0" / "result.json").read_text())
    assert choices["selection"]["best_epoch"] in (1, 2) and "fused" not in choices
    main(["--data", str(data), "--seed", "1", "--out", str(tmp_path / "s1"), "--param", *params,
          "--chosen", str(tmp_path / "s0" / "result.json")])
    second = json.loads((tmp_path / "s1" / "result.json").read_text())
    assert len(second["refit_history"]) == choices["selection"]["best_epoch"]


def test_ensemble_scores_the_mean_of_its_members_logits(train, tmp_path):
    model = VIANet(**dict(SMALL, members=3)).fit(train)
    assert hit_rate(model, cycle_sessions(100, seed=2), k=5) > 0.95
    members = model.module.members
    assert len(members) == 3
    # different initialisations, so different networks
    assert not torch.equal(members[0].item_embedding.weight, members[1].item_embedding.weight)
    items = torch.tensor([[3, 4, 5], [7, 8, 0]])
    lengths = torch.tensor([3, 2])
    with torch.no_grad():
        each = [m(items, lengths) @ m.item_matrix().T for m in members]
    expected = torch.stack(each).mean(dim=0).numpy()
    scores = model.scores(PrefixBatch.from_lists([[3, 4, 5], [7, 8]]))
    np.testing.assert_allclose(scores[:, 1:], expected[:, 1:], rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "ensemble")
    again = SessionModel.load(tmp_path / "ensemble")
    assert again.members == 3
    np.testing.assert_array_equal(again.scores(PREFIXES), model.scores(PREFIXES))


@pytest.mark.parametrize("n_sample", [0, 8])
def test_ensemble_loss_is_the_sum_of_the_members_own_losses(train, n_sample):
    model = VIANet(**dict(SMALL, members=2, n_epochs=1, n_sample=n_sample)).fit(train)
    data = model._prepare(train, None)
    items = torch.tensor([[3, 4, 5], [7, 8, 0], [1, 0, 0]])
    lengths = torch.tensor([3, 2, 1])
    targets = torch.tensor([6, 9, 2])
    with torch.no_grad():
        outputs = model._training_outputs(items, lengths)
        total = model._training_loss(outputs, items, targets, data.sampler,
                                     np.random.default_rng(5))
        alone = []
        for member in model.module.members:
            single = VIANet(**dict(SMALL, n_epochs=1, n_sample=n_sample))
            single.n_items, single.module = model.n_items, member
            alone.append(single._training_loss(member.encode(items, lengths), items, targets,
                                               data.sampler, np.random.default_rng(5)))
    assert float(total) == pytest.approx(float(sum(alone)), rel=1e-5)


def test_ensemble_of_fitted_networks(train, tmp_path):
    first = VIANet(**dict(SMALL, n_epochs=2, seed=0)).fit(train)
    second = VIANet(**dict(SMALL, n_epochs=2, seed=1)).fit(train)
    combined = VIANet.ensemble_of([first, second])
    assert combined.members == 2
    expected = (first.scores(PREFIXES) + second.scores(PREFIXES)) / 2
    np.testing.assert_allclose(combined.scores(PREFIXES)[:, 1:], expected[:, 1:], atol=1e-5)
    combined.save(tmp_path / "combined")
    np.testing.assert_array_equal(
        SessionModel.load(tmp_path / "combined").scores(PREFIXES), combined.scores(PREFIXES)
    )
    with pytest.raises(ValueError, match="differ"):
        VIANet.ensemble_of([first, VIANet(**dict(SMALL, n_epochs=2, scale=4.0)).fit(train)])
    with pytest.raises(ValueError, match="at least two"):
        VIANet.ensemble_of([first])


def test_kNN_settings_count_only_with_a_kNN_part(train):
    stan = {"k": 50, "sample_size": 200}
    plain = VIANet(**dict(SMALL, n_epochs=1, seed=0)).fit(train)
    with_unused = VIANet(**dict(SMALL, n_epochs=1, seed=1), knn_params=stan).fit(train)
    assert plain.setting() == with_unused.setting()
    assert VIANet.ensemble_of([plain, with_unused]).members == 2
    assert VIANet(knn="stan").setting() != VIANet(knn="stan", knn_params=stan).setting()


# --- the repeat mechanism (a learned bias on the session's own clicks) ------------------------
def test_click_bias_follows_its_equation_and_lands_on_the_clicked_items():
    torch.manual_seed(0)
    encoder = VIAEncoder(n_items=9, d=4, max_length=6, dropout=0.0, scale=3.0, repeat=True).eval()
    with torch.no_grad():
        encoder.repeat_out.weight.normal_()
        items = torch.tensor([[2, 5, 2, 7], [4, 0, 0, 0]])
        lengths = torch.tensor([4, 1])
        session, bias = encoder.encode(items, lengths)
        assert torch.equal(bias[1, 1:], torch.zeros(3))  # padding has no bias
        # by hand for the first prefix
        e = torch.nn.functional.normalize(encoder.item_embedding.weight[[2, 5, 2, 7]], dim=-1)
        p = encoder.position_embedding.weight[[4, 3, 2, 1]]
        z = torch.tanh(encoder.position_mix(torch.cat([e, p], dim=1)))
        s = session[0] / 3.0
        hand = encoder.repeat_out(torch.tanh(encoder.repeat_hidden(
            torch.cat([z, s.expand(4, 4)], dim=1)))).squeeze(-1)  # fmt: skip
        torch.testing.assert_close(bias[0], hand)
        # scores: the product, plus the bias on the clicked items (item 2 twice: summed)
        model = VIANet(embedding_dim=4, scale=3.0, repeat=True, max_length=6, dropout=0.0)
        model.n_items, model.module = 9, encoder
        scores = model.scores(PrefixBatch.from_lists([[2, 5, 2, 7], [4]]))
        plain = (session @ encoder.item_matrix().T).numpy()
        plain[0, [2, 5, 7]] += [float(bias[0, 0] + bias[0, 2]), float(bias[0, 1]),
                                float(bias[0, 3])]
        plain[1, 4] += float(bias[1, 0])
        np.testing.assert_allclose(scores[:, 1:], plain[:, 1:], rtol=1e-5, atol=1e-5)


def test_sampled_columns_get_the_same_click_bias_as_the_full_catalog():
    items = torch.tensor([[3, 5, 3, 0], [9, 1, 0, 0]])
    bias = torch.tensor([[0.5, -1.0, 2.0, 0.0], [0.25, 4.0, 0.0, 0.0]])
    full = add_click_bias(torch.zeros(2, 11), items, bias)  # columns are items 0..10
    assert full[0, 3] == 2.5 and full[0, 5] == -1.0 and full[1, 1] == 4.0 and full[0, 0] == 0
    columns = torch.tensor([3, 9, 7, 3, 5, 1])  # repeated 3: both columns get it
    torch.testing.assert_close(column_click_bias(items, bias, columns), full[:, columns])
    shifted = add_click_bias(torch.zeros(2, 10), items, bias, first_item=1)  # items 1..10
    torch.testing.assert_close(shifted, full[:, 1:])


def test_repeat_starts_as_the_network_without_it_and_round_trips(train, tmp_path):
    params = dict(SMALL, n_epochs=0)
    plain = VIANet(**params).fit(train)
    with_repeat = VIANet(**dict(params, repeat=True)).fit(train)
    np.testing.assert_array_equal(with_repeat.scores(PREFIXES), plain.scores(PREFIXES))
    trained = VIANet(**dict(SMALL, repeat=True, n_sample=8, n_epochs=2)).fit(train)
    assert trained.module.repeat_out.weight.abs().sum() > 0  # the bias was trained
    trained.save(tmp_path / "repeat")
    again = SessionModel.load(tmp_path / "repeat")
    assert again.repeat is True
    np.testing.assert_array_equal(again.scores(PREFIXES), trained.scores(PREFIXES))
    with pytest.raises(ValueError, match="repeat"):
        VIANet(repeat="yes")


@pytest.mark.parametrize("n_sample", [0, 16])
def test_repeat_learns_which_click_comes_back(n_sample):
    """Sessions a b c d a: the fifth click repeats the first, of random items. The click bias
    learns it from the position alone; the attention network without it has to put a session
    vector on a random earlier item."""
    rng = np.random.default_rng(0)
    sessions = [list(rng.choice(np.arange(1, 201), 4, replace=False)) for _ in range(1500)]
    sessions = [s + [s[0]] for s in sessions]
    train = Sessions.from_lists(sessions[:1200])
    test_prefixes = PrefixBatch.from_lists([s[:4] for s in sessions[1200:]])
    targets = np.array([s[0] for s in sessions[1200:]])
    params = dict(SMALL, n_epochs=3, n_sample=n_sample, valid_fraction=0.0)
    hits = {}
    for repeat in (False, True):
        model = VIANet(**dict(params, repeat=repeat)).fit(train, n_items=200)
        scores = model.scores(test_prefixes)
        hits[repeat] = float(np.mean(scores.argmax(axis=1) == targets))
    assert hits[True] > 0.95
    assert hits[True] > hits[False]


def _padded_grid_encode(encoder: VIAEncoder, items: torch.Tensor, lengths: torch.Tensor):
    """The encoder's equations over the whole padded (B, T) grid, padding masked out: the
    formulation the clicks-only `encode` must equal."""
    functional = torch.nn.functional
    mask = torch.arange(items.shape[1])[None, :] < lengths[:, None]
    e = functional.normalize(encoder.item_embedding(items), dim=-1) * mask[..., None]
    reverse = (lengths[:, None] - torch.arange(items.shape[1])) * mask
    z = torch.tanh(encoder.position_mix(torch.cat([e, encoder.position_embedding(reverse)], -1)))
    last = e[torch.arange(len(items)), lengths - 1]
    mean = e.sum(dim=1) / lengths[:, None]
    energy = encoder.attention_vector(torch.sigmoid(
        encoder.attention_each(z)
        + (encoder.attention_last(last) + encoder.attention_mean(mean))[:, None, :]
    )).squeeze(-1)  # fmt: skip
    weights = torch.softmax(energy.masked_fill(~mask, float("-inf")), dim=-1)
    intent = torch.bmm(weights[:, None, :], e).squeeze(1)
    session = functional.normalize(encoder.session_mix(torch.cat([intent, last], 1)), dim=-1)
    hidden = torch.tanh(encoder.repeat_hidden(
        torch.cat([z, session[:, None, :].expand_as(z)], dim=-1)))  # fmt: skip
    return encoder.scale * session, encoder.repeat_out(hidden).squeeze(-1) * mask


def test_clicks_only_encoding_equals_the_padded_grid_in_values_and_gradients():
    torch.manual_seed(0)
    encoder = VIAEncoder(n_items=30, d=8, max_length=7, dropout=0.0, scale=4.0, repeat=True)
    with torch.no_grad():
        encoder.repeat_out.weight.normal_()
    lengths = torch.tensor([7, 1, 3, 5, 2, 7, 4])
    items = torch.randint(1, 31, (len(lengths), 7)) * (torch.arange(7) < lengths[:, None])
    weights = torch.randn(len(lengths), 8), torch.randn(len(lengths), 7)

    def run(encode):
        encoder.zero_grad()
        session, bias = encode(items, lengths)
        ((session * weights[0]).sum() + (bias * weights[1]).sum()).backward()
        return session, bias, {n: p.grad.clone() for n, p in encoder.named_parameters()}

    session, bias, grads = run(encoder.encode)
    expected_session, expected_bias, expected_grads = run(
        lambda i, n: _padded_grid_encode(encoder, i, n))
    torch.testing.assert_close(session, expected_session)
    torch.testing.assert_close(bias, expected_bias)
    assert torch.equal(bias == 0, items == 0)  # a bias on every click, none on padding
    for name, grad in expected_grads.items():
        torch.testing.assert_close(grads[name], grad, msg=name)
