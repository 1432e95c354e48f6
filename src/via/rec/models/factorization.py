"""Matrix-factorisation baselines of the thesis' Table 3.3: BPR-MF and FPMC ("FBMC" there).

- `bprmf`: BPR-MF (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback",
  UAI 2009) with every training session as a user, as session-rec's `baselines/bpr.py` and the
  GRU4Rec paper (section 4.1) use it: x(s, i) = <U_s, I_i> + b_i, trained on (session, clicked
  item, uniformly drawn item) triples with the BPR criterion ln σ(x(s, i) - x(s, j)). A test
  session is a new user: its vector is the mean of the item vectors of its clicks so far.
  Item biases stay zero, as in session-rec (its update never touches them), so they are left out.
- `fpmc`: FPMC (Rendle et al., "Factorizing Personalized Markov Chains for Next-Basket
  Recommendation", WWW 2010) with baskets of one click and sessions as users, as session-rec's
  `sbr_adapter/factorization/fpmc.py` trains it: x(s, l, j) = <V_UI[s], V_IU[j]> +
  <V_LI[l], V_IL[j]> for the transition from the last click l to j, a training sample being a
  session drawn uniformly, one of its transitions drawn uniformly and a uniformly drawn false
  next item, with L2 weight `reg` on every factor an update touches. A test session's user
  vector is the mean of V_IU over its clicks so far (session-rec's `session` mode).

Departures, both for speed on a CPU: updates are mini-batches of `batch_size` samples whose
per-sample SGD steps are summed (plain SGD on the summed loss; rows drawn twice in a batch get
both steps at once), instead of one sample at a time; FPMC's adaptive negative sampling (Rendle
& Freudenthaler 2014) is not implemented, its uniform sampling option is. Initialisation is
U(-sigma, sigma) as session-rec's BPR; FPMC uses a normal of standard deviation `init_sigma`.
"""

from __future__ import annotations

import numpy as np

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models.base import ModelFileError, SessionModel


def _torch():
    import torch

    return torch


def _rows(table, ids):
    """Rows of a table with a row-sparse gradient (a step costs the rows it touches)."""
    return _torch().nn.functional.embedding(ids, table, sparse=True)


class _BPRModel(SessionModel):
    """Shared training loop: `n_epochs` passes of `samples_per_epoch` BPR triples each."""

    tables: tuple[str, ...] = ()

    def __init__(self, *, n_epochs: int, learning_rate: float, batch_size: int, seed: int):
        super().__init__()
        if n_epochs < 1 or batch_size < 1 or learning_rate <= 0:
            raise ValueError("n_epochs and batch_size must be >= 1 and learning_rate > 0")
        self.n_epochs, self.learning_rate = n_epochs, learning_rate
        self.batch_size, self.seed = batch_size, seed
        self.weights_: dict[str, np.ndarray] = {}
        self.history_: list[dict[str, float]] = []

    def _init_tables(self, rng: np.random.Generator, n_sessions: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _samples(self, train: Sessions, rng: np.random.Generator):
        """(positives, session-or-previous ids..., negatives) arrays for one epoch."""
        raise NotImplementedError

    def _batch_loss(self, tensors, batch):
        raise NotImplementedError

    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        import time

        torch = _torch()
        self.n_items = self._catalog_size(train, n_items)
        if len(train) == 0:
            raise ValueError("no training sessions")
        rng = np.random.default_rng(self.seed)
        tables = {k: torch.from_numpy(v).requires_grad_() for k, v in
                  self._init_tables(rng, len(train)).items()}
        self.history_ = []
        for epoch in range(1, self.n_epochs + 1):
            start = time.perf_counter()
            columns = self._samples(train, rng)
            total = 0.0
            for lo in range(0, len(columns[0]), self.batch_size):
                batch = [torch.from_numpy(c[lo : lo + self.batch_size]) for c in columns]
                loss = self._batch_loss(tables, batch)
                for t in tables.values():
                    t.grad = None
                loss.backward()
                with torch.no_grad():
                    for t in tables.values():
                        if t.grad is not None:
                            t.add_(t.grad, alpha=-self.learning_rate)
                total += float(loss.detach())
            seconds = time.perf_counter() - start
            self.history_.append({"epoch": epoch, "loss": total / len(columns[0]),
                                  "seconds": seconds})
        self.weights_ = {k: v.detach().numpy() for k, v in tables.items() if k in self.tables}
        return self

    def _weights(self) -> dict[str, np.ndarray]:
        return dict(self.weights_)

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        for name in self.tables:
            table = np.asarray(arrays[name], dtype=np.float32)
            if table.ndim != 2 or table.shape[0] != self.n_items + 1:
                raise ModelFileError(f"{name} has shape {table.shape}, expected "
                                     f"({self.n_items + 1}, factors)")
            self.weights_[name] = table

    def _session_vectors(self, prefixes: PrefixBatch, table: np.ndarray) -> np.ndarray:
        """Mean of the item vectors of each prefix's clicks (0 for an empty prefix)."""
        lengths = prefixes.lengths
        sums = np.zeros((len(prefixes), table.shape[1]), dtype=np.float32)
        owner = np.repeat(np.arange(len(prefixes)), lengths)
        np.add.at(sums, owner, table[prefixes.items])
        return sums / np.maximum(lengths, 1)[:, None]


class BPRMF(_BPRModel):
    """BPR-MF with sessions as users; a test session is the mean of its items' vectors."""

    name = "bprmf"
    tables = ("items",)

    def __init__(self, *, n_factors: int = 100, n_epochs: int = 10, learning_rate: float = 0.01,
                 lambda_session: float = 0.0, lambda_item: float = 0.0, sigma: float = 0.05,
                 batch_size: int = 256, seed: int = 0):
        super().__init__(n_epochs=n_epochs, learning_rate=learning_rate, batch_size=batch_size,
                         seed=seed)
        self.n_factors, self.sigma = n_factors, sigma
        self.lambda_session, self.lambda_item = lambda_session, lambda_item

    def _init_tables(self, rng, n_sessions):
        def uniform(rows):
            return rng.uniform(-self.sigma, self.sigma, (rows, self.n_factors)).astype(np.float32)

        items = uniform(self.n_items + 1)
        items[0] = 0.0
        return {"sessions": uniform(n_sessions), "items": items}

    def _samples(self, train, rng):
        order = rng.permutation(len(train.items))  # every click once per epoch, shuffled
        session_of = np.repeat(np.arange(len(train)), train.lengths)
        negatives = rng.integers(1, self.n_items + 1, size=len(order))
        return (session_of[order], train.items[order].astype(np.int64), negatives)

    def _batch_loss(self, tables, batch):
        torch = _torch()
        sessions, positives, negatives = batch
        u = _rows(tables["sessions"], sessions)
        i, j = _rows(tables["items"], positives), _rows(tables["items"], negatives)
        x = (u * (i - j)).sum(1)
        reg = self.lambda_session * (u * u).sum() + self.lambda_item * ((i * i).sum() + (j * j).sum())
        return -torch.nn.functional.logsigmoid(x).sum() + 0.5 * reg

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        items = self.weights_["items"]
        out = self._session_vectors(prefixes, items) @ items.T
        out[:, 0] = -np.inf
        return out


class FPMC(_BPRModel):
    """FPMC over sessions: a user part (mean of the session's items) plus a first-order chain."""

    name = "fpmc"
    tables = ("item_user", "prev_next", "next_prev")

    def __init__(self, *, k_cf: int = 100, k_mc: int = 100, n_epochs: int = 10,
                 learning_rate: float = 0.05, reg: float = 0.0025, init_sigma: float = 0.05,
                 batch_size: int = 256, seed: int = 0):
        super().__init__(n_epochs=n_epochs, learning_rate=learning_rate, batch_size=batch_size,
                         seed=seed)
        self.k_cf, self.k_mc, self.reg, self.init_sigma = k_cf, k_mc, reg, init_sigma

    def _init_tables(self, rng, n_sessions):
        def normal(rows, k):
            return (self.init_sigma * rng.standard_normal((rows, k))).astype(np.float32)

        tables = {"user_item": normal(n_sessions, self.k_cf),
                  "item_user": normal(self.n_items + 1, self.k_cf),
                  "prev_next": normal(self.n_items + 1, self.k_mc),
                  "next_prev": normal(self.n_items + 1, self.k_mc)}
        for name in self.tables:
            tables[name][0] = 0.0
        return tables

    def _samples(self, train, rng):
        with_transitions = np.flatnonzero(train.lengths >= 2)
        if len(with_transitions) == 0:
            raise ValueError("FPMC needs training sessions with at least two clicks")
        n = int((train.lengths[with_transitions] - 1).sum())  # one epoch = as many samples
        sessions = with_transitions[rng.integers(0, len(with_transitions), size=n)]
        step = (rng.random(n) * (train.lengths[sessions] - 1)).astype(np.int64)
        at = train.offsets[sessions] + step
        previous, positives = train.items[at], train.items[at + 1]
        negatives = rng.integers(1, self.n_items, size=n)  # uniform over items != the true one
        negatives = negatives + (negatives >= positives)
        return (sessions, previous.astype(np.int64), positives.astype(np.int64),
                negatives.astype(np.int64))

    def _batch_loss(self, tables, batch):
        torch = _torch()
        sessions, previous, positives, negatives = batch
        u, last = _rows(tables["user_item"], sessions), _rows(tables["prev_next"], previous)
        iu_t, iu_f = _rows(tables["item_user"], positives), _rows(tables["item_user"], negatives)
        il_t, il_f = _rows(tables["next_prev"], positives), _rows(tables["next_prev"], negatives)
        x = (u * (iu_t - iu_f)).sum(1) + (last * (il_t - il_f)).sum(1)
        reg = sum((t * t).sum() for t in (u, last, iu_t, iu_f, il_t, il_f))
        return -torch.nn.functional.logsigmoid(x.clamp(-10, 10)).sum() + 0.5 * self.reg * reg

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        w = self.weights_
        out = self._session_vectors(prefixes, w["item_user"]) @ w["item_user"].T
        out += w["prev_next"][prefixes.last_items()] @ w["next_prev"].T
        out[:, 0] = -np.inf
        return out
