"""EncoderMI's three inference classifiers, trained on shadow-encoder features.

Each maps a ``(N, m)`` matrix of pairwise similarities (m = n(n-1)/2) to a continuous
member score (for ROC curves) and the classifier's own hard decisions (for the paper's
accuracy, precision and recall).

- vector (EncoderMI-V): similarities sorted in descending order -> MLP;
- set (EncoderMI-S): the similarities as an unordered set -> DeepSets network
  rho(pool_i phi(s_i)) (Zaheer et al. 2017), permutation-invariant by construction;
  16 hidden units, 200 full-batch Adam steps (the paper does not size it);
- threshold (EncoderMI-T): mean similarity >= tau, tau maximising shadow accuracy.
"""

from __future__ import annotations

import contextlib

import numpy as np


@contextlib.contextmanager
def one_thread():
    """A net this small is dispatch-bound: one torch thread is several times faster than
    two, and far faster than oversubscribed threads on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ThresholdClassifier:
    def __init__(self, seed: int = 0):
        self.threshold = 0.0

    def fit(self, sims: np.ndarray, labels: np.ndarray) -> "ThresholdClassifier":
        mean = sims.mean(1)
        order = np.sort(mean)
        cands = np.concatenate([[order[0] - 1e-9], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-9]])
        acc = [((mean >= c) == labels).mean() for c in cands]
        self.threshold = float(cands[int(np.argmax(acc))])
        return self

    def score(self, sims: np.ndarray) -> np.ndarray:
        return sims.mean(1)

    def decide(self, sims: np.ndarray) -> np.ndarray:
        return self.score(sims) >= self.threshold


class VectorClassifier:
    def __init__(self, seed: int = 0, hidden: tuple[int, ...] = (64,), max_iter: int = 1000):
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter,
                                                                   alpha=1e-3, random_state=seed))

    @staticmethod
    def _vector(sims: np.ndarray) -> np.ndarray:
        return -np.sort(-sims, axis=1)  # descending, as in the paper

    def fit(self, sims: np.ndarray, labels: np.ndarray) -> "VectorClassifier":
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():  # a few hundred shadow rows: max_iter, not convergence, is the stop
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(self._vector(sims), labels.astype(int))
        return self

    def score(self, sims: np.ndarray) -> np.ndarray:
        p = np.clip(self.model.predict_proba(self._vector(sims))[:, 1], 1e-15, 1 - 1e-15)
        return np.log(p) - np.log1p(-p)  # log-odds: fewer ties than saturated probabilities

    def decide(self, sims: np.ndarray) -> np.ndarray:
        return self.score(sims) >= 0.0


class SetClassifier:
    """DeepSets over scalar similarities: phi (1 -> h -> h), pooling, rho (h -> h -> 1).

    ``pooling='sum'`` is DeepSets' choice; its output scale grows with the set size, one
    reason the paper sees EncoderMI-S fall at large n. 'mean' is offered for comparison.
    """

    def __init__(self, seed: int = 0, hidden: int = 16, epochs: int = 200, lr: float = 1e-2, pooling: str = "sum"):
        if pooling not in ("sum", "mean"):
            raise ValueError(f"pooling={pooling!r} is not valid; valid: sum, mean")
        self.seed, self.hidden, self.epochs, self.lr, self.pooling = seed, hidden, epochs, lr, pooling

    def _net(self):
        import torch
        from torch import nn

        h = self.hidden

        class DeepSets(nn.Module):
            def __init__(self, pooling: str):
                super().__init__()
                self.pooling = pooling
                self.phi = nn.Sequential(nn.Linear(1, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
                self.rho = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 1))

            def forward(self, x):  # (B, m) -> (B,) logits
                z = self.phi(x.unsqueeze(-1))
                z = z.sum(1) if self.pooling == "sum" else z.mean(1)
                return self.rho(z).squeeze(-1)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return DeepSets(self.pooling)

    def fit(self, sims: np.ndarray, labels: np.ndarray) -> "SetClassifier":
        import torch

        self.mu, self.sd = float(sims.mean()), float(sims.std() + 1e-8)  # one scale for all elements
        self.net = self._net()
        x = torch.as_tensor((sims - self.mu) / self.sd, dtype=torch.float32)
        y = torch.as_tensor(labels, dtype=torch.float32)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=1e-4)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        with one_thread():
            for _ in range(self.epochs):  # full batch: a few hundred shadow rows
                opt.zero_grad()
                loss = loss_fn(self.net(x), y)
                loss.backward()
                opt.step()
        self.net.eval()
        return self

    def score(self, sims: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad(), one_thread():
            x = torch.as_tensor((sims - self.mu) / self.sd, dtype=torch.float32)
            return self.net(x).double().numpy()  # logits: probabilities would saturate into ties

    def decide(self, sims: np.ndarray) -> np.ndarray:
        return self.score(sims) >= 0.0
