"""A double-DQN agent that learns to walk an image to an anatomical landmark.

>>> from xai_lab.landmarks import LandmarkAgent, phantoms          # doctest: +SKIP
>>> train = phantoms.make(1000, size=64, split="train")
>>> agent = LandmarkAgent("carina").fit(train, seconds=120)
>>> result = agent.search(phantoms.make(200, size=64, split="val"))
>>> float(np.median(result.errors))

Training (Ghesu et al. 2019; Alansary et al. 2019) runs ``parallel`` episodes at once. Each
episode walks one training image at one scale, chosen at random: at the coarsest scale from
anywhere in the image, at a finer scale from a point whose crop still shows the landmark (where
the coarser scale hands over). Transitions ``(crop, action, reward, next crop)`` go into a replay
memory; each update fits the Q-network on a random minibatch against the double-DQN target
``r + gamma * Q_target(s', argmax_a Q(s', a))`` (van Hasselt et al. 2016) with a Huber loss, and
the target network copies the online one every ``target_update`` updates. Episodes end after
``episode_steps`` moves; the end of an episode is a time limit, not a terminal state, so the
target always bootstraps. Exploration is epsilon-greedy, epsilon falling linearly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_dir
from .environment import ACTIONS, LandmarkEnvironment, default_strides
from .phantoms import LANDMARKS, LandmarkSet, landmark_index
from .search import SearchResult, run_search

AGENT_FILE = "agent.json"
NETWORK_FILE = "q_network.keras"
#: What an agent folder holds (``metrics.json`` is written by ``xai-lab landmarks train``).
AGENT_FILES = (NETWORK_FILE, AGENT_FILE, "metrics.json")
STARTS = ("mean", "centre", "random")


class AgentFileError(ValueError):
    """An agent folder is missing, incomplete or unreadable."""


@dataclass
class TrainingLog:
    """What happened during :meth:`LandmarkAgent.fit`.

    ``history`` holds one entry per ``log_every`` updates: ``update``, ``loss`` (mean Huber loss),
    ``reward`` (mean reward per move, in steps), ``epsilon``, ``seconds``.
    """

    updates: int = 0
    transitions: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    history: dict[str, list[float]] = field(default_factory=lambda: {
        "update": [], "loss": [], "reward": [], "epsilon": [], "seconds": []})  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "transitions": self.transitions, "seconds": self.seconds,
                "stopped_by": self.stopped_by, "history": self.history}  # fmt: skip


class ReplayMemory:
    """A ring buffer of transitions (uint8 crops, action, reward, next crop)."""

    def __init__(self, capacity: int, crop_shape: tuple[int, ...]) -> None:
        self.capacity = int(capacity)
        self.states = np.zeros((self.capacity, *crop_shape), np.uint8)
        self.next_states = np.zeros((self.capacity, *crop_shape), np.uint8)
        self.actions = np.zeros(self.capacity, np.int32)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.size = 0
        self._next = 0

    def add(self, s: np.ndarray, a: np.ndarray, r: np.ndarray, s2: np.ndarray) -> None:
        k = len(a)
        idx = (self._next + np.arange(k)) % self.capacity
        self.states[idx], self.actions[idx], self.rewards[idx], self.next_states[idx] = s, a, r, s2
        self._next = (self._next + k) % self.capacity
        self.size = min(self.capacity, self.size + k)

    def sample(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, ...]:
        idx = rng.integers(0, self.size, k)
        return self.states[idx], self.actions[idx], self.rewards[idx], self.next_states[idx]


class LandmarkAgent:
    """Deep reinforcement-learning landmark search (double DQN, multi-scale).

    Parameters
    ----------
    landmark : str
        Which landmark of :data:`~xai_lab.landmarks.phantoms.LANDMARKS` to find (one agent per
        landmark, as in the papers).
    crop_size : int
        Side of the crop the agent sees (odd).
    gamma : float
        Discount factor (Alansary et al. use 0.9).
    learning_rate : float
        Adam's step size.
    batch_size : int
        Transitions per update.
    memory : int
        Capacity of the replay memory (transitions).
    warmup : int
        Transitions collected before the first update.
    target_update : int
        Updates between copies of the online network into the target network.
    parallel : int
        Episodes run side by side (one batched forward pass per move).
    episode_steps : int
        Moves per training episode.
    epsilon : (float, float, float)
        Exploration: from ``epsilon[0]`` down to ``epsilon[1]`` linearly over the first
        ``epsilon[2]`` fraction of the updates.
    updates : int
        Default number of updates of :meth:`fit`.
    max_steps_per_scale : int
        Moves allowed at each scale of a search.
    seed : int
        Seeds the network's initial weights, the episodes and the exploration.

    References
    ----------
    Ghesu, F. C., et al. (2017). Robust multi-scale anatomical landmark detection in incomplete
    3D-CT data. MICCAI, LNCS 10433, 194-202; Ghesu, F. C., et al. (2019). Multi-scale deep
    reinforcement learning for real-time 3D-landmark detection in CT scans. IEEE TPAMI 41(1),
    176-189; Alansary, A., et al. (2019). Evaluating reinforcement learning agents for anatomical
    landmark detection. Medical Image Analysis 53, 156-164; van Hasselt, H., Guez, A., & Silver,
    D. (2016). Deep reinforcement learning with double Q-learning. AAAI, 2094-2100.
    """

    def __init__(
        self,
        landmark: str = "carina",
        *,
        crop_size: int = 15,
        gamma: float = 0.9,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        memory: int = 50_000,
        warmup: int = 1_000,
        target_update: int = 250,
        parallel: int = 16,
        episode_steps: int = 20,
        epsilon: tuple[float, float, float] = (1.0, 0.05, 0.5),
        updates: int = 4_000,
        max_steps_per_scale: int = 30,
        seed: int = 0,
    ) -> None:
        landmark_index(landmark)
        self.landmark = landmark
        self.settings: dict[str, Any] = dict(
            crop_size=int(crop_size), gamma=float(gamma), learning_rate=float(learning_rate),
            batch_size=int(batch_size), memory=int(memory), warmup=int(warmup),
            target_update=int(target_update), parallel=int(parallel),
            episode_steps=int(episode_steps), epsilon=[float(e) for e in epsilon],
            updates=int(updates), max_steps_per_scale=int(max_steps_per_scale), seed=int(seed),
        )  # fmt: skip
        _check_settings(self.settings)
        self.network: Any = None
        self.size: int | None = None
        self.channels: int | None = None
        self.strides: tuple[int, ...] | None = None
        self.mean_start: np.ndarray | None = None
        self.log: TrainingLog | None = None
        self._q_fn: Any = None

    def __repr__(self) -> str:
        state = f"trained on {self.size} px" if self.network is not None else "untrained"
        return f"LandmarkAgent({self.landmark!r}, {state})"

    @property
    def actions(self) -> tuple[str, ...]:
        return ACTIONS

    @property
    def q_network(self) -> Any:
        """The Keras Q-network (crop -> (N, 4) Q-values); explain it with ``xai_lab.explain``."""
        self._require_trained()
        return self.network

    # ------------------------------------------------------------------------------- data
    def _targets(self, data: Any, what: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(images uint8 (N, H, W, C), targets (N, 2) or None) from a LandmarkSet or arrays."""
        if isinstance(data, LandmarkSet):
            return data.images, data.point(self.landmark).astype(np.float64)
        if isinstance(data, tuple) and len(data) == 2:
            images, targets = data
        else:
            images, targets = data, None
        images = np.asarray(images)
        if images.ndim == 3 and images.shape[-1] not in (1, 3):
            images = images[..., None]
        if images.ndim == 3:
            images = images[None]
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"{what}: images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        if targets is not None:
            targets = np.asarray(targets, np.float64)
            if targets.shape != (len(images), 2):
                raise ValueError(f"{what}: targets must be (N, 2) = {(len(images), 2)}, got {targets.shape}")
        return images, targets

    def _require_trained(self) -> None:
        if self.network is None:
            raise RuntimeError("the agent is not trained: call fit(...) or LandmarkAgent.load(folder)")

    def _q_function(self):
        if self._q_fn is None:
            import tensorflow as tf

            net = self.network
            spec = tf.TensorSpec((None, *net.inputs[0].shape[1:]), tf.uint8)

            @tf.function(input_signature=[spec])
            def q(crops):
                return net(tf.cast(crops, tf.float32) / 255.0, training=False)

            self._q_fn = lambda crops: q(crops).numpy()
        return self._q_fn

    # -------------------------------------------------------------------------------- fit
    def fit(self, data: Any, *, updates: int | None = None, seconds: float | None = None,
            verbose: bool = False, log_every: int = 100) -> LandmarkAgent:  # fmt: skip
        """Train the agent on images with known landmarks.

        Parameters
        ----------
        data : LandmarkSet or (images, targets)
            Training images (uint8, square) and the (row, column) of the landmark in each.
        updates : int, optional
            Number of updates (default the constructor's ``updates``).
        seconds : float, optional
            Stop earlier when the wall time passes this budget.
        verbose : bool
            Print a line every ``log_every`` updates.

        Returns
        -------
        LandmarkAgent
            ``self``, trained; ``self.log`` says how training went.
        """
        images, targets = self._targets(data, "fit")
        if targets is None:
            raise ValueError("fit needs the landmark of every image: pass a LandmarkSet or (images, targets)")
        if images.shape[1] != images.shape[2]:
            raise ValueError(f"images must be square, got {images.shape[1]}x{images.shape[2]}")
        n_updates = self.settings["updates"] if updates is None else int(updates)
        if n_updates < 1:
            raise ValueError(f"updates must be at least 1, got {n_updates}")
        if seconds is not None and not float(seconds) > 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        import keras
        import tensorflow as tf

        from .networks import q_network

        st = self.settings
        t0 = time.perf_counter()
        keras.utils.set_random_seed(st["seed"])
        rng = np.random.default_rng(st["seed"])
        size, channels = int(images.shape[1]), int(images.shape[-1])
        env = LandmarkEnvironment(images, targets, st["crop_size"], default_strides(size))
        online = q_network(st["crop_size"], channels, len(ACTIONS))
        target_net = q_network(st["crop_size"], channels, len(ACTIONS))
        target_net.set_weights(online.get_weights())
        optimizer = keras.optimizers.Adam(st["learning_rate"], clipnorm=10.0)
        optimizer.build(online.trainable_variables)
        gamma = tf.constant(st["gamma"], tf.float32)
        crop_spec = tf.TensorSpec((None, *online.inputs[0].shape[1:]), tf.uint8)

        @tf.function(input_signature=[crop_spec])
        def act(s):
            return online(tf.cast(s, tf.float32) / 255.0, training=False)

        @tf.function(input_signature=[crop_spec, tf.TensorSpec((None,), tf.int32),
                                      tf.TensorSpec((None,), tf.float32), crop_spec])  # fmt: skip
        def update(s, a, r, s2):
            x, x2 = tf.cast(s, tf.float32) / 255.0, tf.cast(s2, tf.float32) / 255.0
            best = tf.argmax(online(x2, training=False), axis=1, output_type=tf.int32)
            q_next = tf.gather(target_net(x2, training=False), best, axis=1, batch_dims=1)
            y = tf.stop_gradient(r + gamma * q_next)
            with tf.GradientTape() as tape:
                q = tf.gather(online(x, training=True), a, axis=1, batch_dims=1)
                err = y - q
                loss = tf.reduce_mean(tf.where(tf.abs(err) < 1.0, 0.5 * err**2, tf.abs(err) - 0.5))
            grads = tape.gradient(loss, online.trainable_variables)
            optimizer.apply_gradients(zip(grads, online.trainable_variables, strict=True))
            return loss

        memory = ReplayMemory(st["memory"], online.inputs[0].shape[1:])
        b = st["parallel"]
        index = np.zeros(b, np.int64)
        pos = np.zeros((b, 2), np.int64)
        level = np.zeros(b, np.int64)
        t_ep = np.zeros(b, np.int64)
        half = st["crop_size"] // 2

        def reset(rows: np.ndarray) -> None:
            k = len(rows)
            index[rows] = rng.integers(0, len(images), k)
            level[rows] = rng.integers(0, env.n_scales, k)
            t_ep[rows] = 0
            stride = np.asarray(env.strides)[level[rows]]
            near = np.rint(targets[index[rows]]).astype(np.int64) + rng.integers(
                -half, half + 1, (k, 2)) * stride[:, None]  # fmt: skip
            anywhere = rng.integers(0, size, (k, 2))
            pos[rows] = np.clip(np.where((level[rows] == 0)[:, None], anywhere, near), 0, size - 1)

        reset(np.arange(b))
        log = TrainingLog()
        eps0, eps1, frac = st["epsilon"]
        decay = max(1.0, frac * n_updates)
        losses: list[float] = []
        rewards: list[float] = []
        state = env.observe(index, pos, level)
        while log.updates < n_updates:
            eps = max(eps1, eps0 - (eps0 - eps1) * log.updates / decay)
            actions = act(state).numpy().argmax(axis=1)
            explore = rng.random(b) < eps
            actions[explore] = rng.integers(0, len(ACTIONS), int(explore.sum()))
            new = env.move(pos, level, actions)
            reward = env.reward(index, pos, new, level)
            next_state = env.observe(index, new, level)
            memory.add(state, actions, reward, next_state)
            rewards.extend(reward.tolist())
            log.transitions += b
            pos[:] = new
            t_ep += 1
            ended = np.flatnonzero(t_ep >= st["episode_steps"])
            if len(ended):
                reset(ended)
                next_state[ended] = env.observe(index[ended], pos[ended], level[ended])
            state = next_state
            if memory.size < st["warmup"]:
                continue
            s, a, r, s2 = memory.sample(rng, st["batch_size"])
            losses.append(float(update(s, a, r, s2)))
            log.updates += 1
            if log.updates % st["target_update"] == 0:
                target_net.set_weights(online.get_weights())
            if log.updates % log_every == 0 or log.updates == n_updates:
                elapsed = time.perf_counter() - t0
                for key, value in (("update", log.updates), ("loss", np.mean(losses)),
                                   ("reward", np.mean(rewards)), ("epsilon", eps), ("seconds", elapsed)):  # fmt: skip
                    log.history[key].append(float(value))
                losses, rewards = [], []
                if verbose:
                    print(f"update {log.updates}/{n_updates}: loss {log.history['loss'][-1]:.4f}, "
                          f"reward per move {log.history['reward'][-1]:+.3f}, epsilon {eps:.2f}, {elapsed:.0f} s")  # fmt: skip
                if seconds is not None and elapsed >= float(seconds):
                    break
        log.seconds = time.perf_counter() - t0
        log.stopped_by = "updates" if log.updates >= n_updates else "time budget"
        self.network = online
        self.size, self.channels, self.strides = size, channels, env.strides
        self.mean_start = targets.mean(axis=0)
        self.log = log
        self._q_fn = None
        return self

    # ----------------------------------------------------------------------------- search
    def search(self, data: Any, *, start: Any = "mean", record: bool = False, seed: int = 0) -> SearchResult:
        """Find the landmark in each image by a greedy multi-scale search.

        Parameters
        ----------
        data : LandmarkSet, images, or (images, targets)
            uint8 images of the size the agent was trained on; with targets (or a LandmarkSet)
            the result carries the errors.
        start : {"mean", "centre", "random"} or array (N, 2)
            Where each search begins: the mean landmark position of the training images
            (Ghesu et al. 2019), the image centre, a random pixel (drawn from ``seed``), or given.
        record : bool
            Keep every step (crops, Q-values, actions) in ``result.trajectories``.

        Returns
        -------
        SearchResult
        """
        self._require_trained()
        images, targets = self._targets(data, "search")
        if images.shape[1:3] != (self.size, self.size) or images.shape[-1] != self.channels:
            raise ValueError(
                f"images of shape {images.shape[1:]} do not fit this agent, trained on "
                f"{self.size}x{self.size}x{self.channels}: resize them or train an agent at that size"
            )
        n = len(images)
        if isinstance(start, str):
            if start not in STARTS:
                raise ValueError(f"start must be one of {STARTS} or an (N, 2) array, got {start!r}")
            if start == "mean":
                begin = np.repeat(np.rint(self.mean_start)[None], n, 0)
            elif start == "centre":
                begin = np.full((n, 2), self.size // 2)
            else:
                begin = np.random.default_rng(seed).integers(0, self.size, (n, 2))
        else:
            begin = np.asarray(start, np.float64)
            if begin.shape == (2,):
                begin = np.repeat(begin[None], n, 0)
            if begin.shape != (n, 2) or not np.all(np.isfinite(begin)):
                raise ValueError(f"start must be (N, 2) = {(n, 2)} finite positions, got shape {begin.shape}")
            begin = np.rint(begin)
        env = LandmarkEnvironment(images, targets, self.settings["crop_size"], self.strides)
        return run_search(self._q_function(), env, begin.astype(np.int64),
                          self.settings["max_steps_per_scale"], record)  # fmt: skip

    # --------------------------------------------------------------------------- save/load
    def save(self, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``q_network.keras``, ``agent.json`` and one JSON file per ``extra`` entry.

        The folder is replaced as a whole (:func:`xai_lab._atomic.atomic_dir`): a reader sees the
        previous agent or this one, never a mix. It must be missing, empty or hold only an agent's
        files (:func:`check_agent_folder`).
        """
        from .. import models

        self._require_trained()
        folder = check_agent_folder(folder)
        meta = {
            "format": 1,
            "landmark": self.landmark,
            "settings": self.settings,
            "size": self.size,
            "channels": self.channels,
            "strides": list(self.strides or ()),
            "mean_start": [float(v) for v in self.mean_start],
            "actions": list(ACTIONS),
            "training": self.log.as_dict() if self.log else None,
        }
        with atomic_dir(folder) as tmp:
            models.save(self.network, tmp / NETWORK_FILE)
            (tmp / AGENT_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
            for name, obj in (extra or {}).items():
                if name in (AGENT_FILE, NETWORK_FILE) or name not in AGENT_FILES:
                    raise ValueError(f"extra files of an agent folder are {AGENT_FILES[2:]}, got {name!r}")
                (tmp / name).write_text(json.dumps(obj, indent=1, allow_nan=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LandmarkAgent:
        """An agent saved by :meth:`save` (the network loads in Keras' safe mode)."""
        from .. import models

        meta = read_agent_file(folder)
        try:
            agent = cls(meta["landmark"], **meta["settings"])
            agent.size, agent.channels = int(meta["size"]), int(meta["channels"])
            agent.strides = tuple(int(s) for s in meta["strides"])
            agent.mean_start = np.asarray(meta["mean_start"], np.float64).reshape(2)
        except (TypeError, ValueError) as exc:
            raise AgentFileError(f"{str(Path(folder) / AGENT_FILE)!r} holds invalid settings: {exc}") from exc
        agent.network = models.load(Path(folder) / NETWORK_FILE)
        expected = (agent.settings["crop_size"],) * 2 + (agent.channels,)
        if tuple(agent.network.inputs[0].shape[1:]) != expected or agent.network.outputs[0].shape[-1] != len(ACTIONS):
            raise AgentFileError(f"{NETWORK_FILE} in {str(folder)!r} does not match {AGENT_FILE}")
        if meta.get("training"):
            t = meta["training"]
            agent.log = TrainingLog(t["updates"], t["transitions"], t["seconds"], t["stopped_by"], t["history"])
        return agent


def check_agent_folder(folder: str | Path) -> Path:
    """Check, before any work, that an agent may be written to ``folder``; returns it as a Path.

    The folder is replaced as a whole, so it must be missing, empty, or hold only an agent's files
    (:data:`AGENT_FILES` and hidden temporary files of an interrupted write); anything else would be
    deleted with it, so it is refused. Its parent must be writable or creatable.

    Raises
    ------
    AgentFileError
        Saying what is wrong and what to do.
    """
    import os

    if str(folder).strip() == "":
        raise AgentFileError("the agent folder name is empty: give a folder name")
    out = Path(folder).expanduser()
    if out.is_symlink():
        raise AgentFileError(f"agent folder {out} is a symbolic link: give the folder it points to or another one")
    if out.exists():
        if not out.is_dir():
            raise AgentFileError(f"{out} exists and is not a folder: choose another folder for the agent")
        if Path.cwd().resolve().is_relative_to(out.resolve()):
            raise AgentFileError(f"{out} is the current folder or holds it; saving replaces the folder as a "
                                 "whole: choose a subfolder")  # fmt: skip
        foreign = sorted(p.name for p in out.iterdir()
                         if p.is_dir() or not (p.name in AGENT_FILES or any(p.name.startswith(f".{f}.") for f in AGENT_FILES)))  # fmt: skip
        if foreign:
            raise AgentFileError(f"{out} holds {', '.join(foreign[:5])}, which an agent folder does not; saving "
                                 "replaces the folder as a whole, so choose a new or empty folder")  # fmt: skip
        if not os.access(out.parent.resolve(), os.W_OK):
            raise AgentFileError(f"cannot write beside {out}: {out.parent} is not writable")
        return out
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        raise AgentFileError(f"cannot create agent folder {out}: {ancestor} is not a writable folder")
    return out


def read_agent_file(folder: str | Path) -> dict[str, Any]:
    """The checked contents of ``folder/agent.json``; :class:`AgentFileError` says what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AgentFileError(f"agent folder {str(folder)!r} does not exist (train one with xai-lab landmarks train)")
    missing = [name for name in (AGENT_FILE, NETWORK_FILE) if not (folder / name).is_file()]
    if missing:
        raise AgentFileError(f"agent folder {str(folder)!r} lacks {', '.join(missing)}: it is not a saved agent")
    try:
        meta = json.loads((folder / AGENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AgentFileError(f"cannot read {str(folder / AGENT_FILE)!r}: {exc}") from exc
    keys = ("landmark", "settings", "size", "channels", "strides", "mean_start")
    if not isinstance(meta, dict) or any(k not in meta for k in keys):
        raise AgentFileError(f"{str(folder / AGENT_FILE)!r} is not an agent description (needs {', '.join(keys)})")
    if meta["landmark"] not in LANDMARKS:
        raise AgentFileError(f"{str(folder / AGENT_FILE)!r} names an unknown landmark {meta['landmark']!r}")
    return meta


def _check_settings(st: dict[str, Any]) -> None:
    if st["crop_size"] < 5 or st["crop_size"] % 2 == 0:
        raise ValueError(f"crop_size must be an odd number >= 5, got {st['crop_size']}")
    if not 0.0 <= st["gamma"] < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {st['gamma']}")
    for key in ("batch_size", "memory", "target_update", "parallel", "episode_steps", "updates",
                "max_steps_per_scale", "learning_rate"):  # fmt: skip
        if not st[key] > 0:
            raise ValueError(f"{key} must be positive, got {st[key]}")
    if st["warmup"] < st["batch_size"] or st["warmup"] > st["memory"]:
        raise ValueError(f"warmup must be between batch_size ({st['batch_size']}) and memory ({st['memory']}), "
                         f"got {st['warmup']}")  # fmt: skip
    eps = st["epsilon"]
    if len(eps) != 3 or not (0 <= eps[1] <= eps[0] <= 1) or not 0 < eps[2] <= 1:
        raise ValueError(f"epsilon must be (start, end, fraction) with 0 <= end <= start <= 1 and "
                         f"0 < fraction <= 1, got {tuple(eps)}")  # fmt: skip
