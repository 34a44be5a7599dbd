"""Batched simulation in worker processes, envpool-style: ``send`` / ``recv`` (async) and ``step`` (sync).

Design (DrQ-v2 / envpool flavour, no global state):

* one process per environment, started with the ``spawn`` context after the GL backend was chosen (the
  children inherit ``MUJOCO_GL``); env ``i`` is ``make(task, mode, seed + i, **make_kwargs)``;
* in video modes env ``i`` shows the background videos ``i+1, i+1+N, i+1+2N, ...`` (N = num_envs), so
  that N parallel episodes cover the videos one upstream env shows in N consecutive episodes (instead
  of N copies of video 1), unless a reset assigns the episode (below);
* episode assignments: ``reset(env_ids=..., options=...)`` resets some envs and hands each its reset
  options (:mod:`smg_fast.envs.episodes`: the episode's video, colour entry and start-state stream), so
  an episode plays the same in whichever worker runs it; with ``autoreset=False`` a finished env waits
  for such a reset instead of starting its next episode by itself (the evaluator's protocol);
* workers write observations straight into one preallocated shared uint8 buffer
  ``[num_envs, 3k, H, W]``; only actions, rewards, flags and small info dicts travel through the pipes;
* **auto-reset, same step** (``autoreset=True``, the default): when an episode ends, the worker resets
  at once; the observation returned for that step is the first observation of the next episode and
  ``info["final_obs"]`` holds the last observation of the finished one (for every env,
  ``info["final_obs"]`` is the true next observation of the transition: it equals ``obs`` where the
  episode did not end), as gymnasium's same-step autoreset;
  ``info["episode_return"]`` / ``["episode_length"]`` are set where an episode ended (NaN / 0 elsewhere);
* waits poll the pipes with short timeouts and check that the workers are alive: a worker that dies
  or raises makes the call raise (RuntimeError, or the worker's own exception) within about a second;
  the vector env then shuts all workers down;
* ``close()``, garbage collection and interpreter exit (a ``weakref.finalize``) stop the workers:
  a polite ``close`` message, then terminate, then kill. Workers also exit when the parent's end of
  their pipe closes, so even a killed parent leaves no orphans.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.connection
import signal
import sys
import time
import traceback
import weakref

import numpy as np

from smg_fast.data import VIDEO_COUNTS, warn_missing_videos

from .actions import check_actions
from .rendering import ensure_gl_backend

_POLL_S = 0.25


class _RemoteTraceback(Exception):
    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return "\n--- traceback in the worker ---\n" + self.tb


def _worker(index, conn, obs_raw, final_raw, obs_shape, task, mode, seed, make_kwargs, autoreset=True, factory=None,
            keep_rng=False):
    env = None
    # Ctrl-C reaches the whole process group: the parent decides (finish a step, checkpoint, close us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if keep_rng:  # a training env: the parent's checkpoint at a stop still needs us (a batch system's
        # SIGTERM, a closed terminal's SIGHUP reach the whole group); we exit when its pipe closes
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        import warnings

        from smg_fast.envs import make
        from smg_fast.errors import Notice

        warnings.simplefilter("ignore", Notice)  # the parent says it once (VectorEnv.__init__), not each worker

        env = (make if factory is None else factory)(task, mode, seed, **make_kwargs)
        if "torch" in sys.modules:  # video modes (greenscreen, video resize); not imported otherwise (~1 s)
            sys.modules["torch"].set_num_threads(1)  # one core per worker: the ops would oversubscribe
        obs_buf = np.frombuffer(obs_raw, dtype=np.uint8).reshape(-1, *obs_shape)[index]
        final_buf = np.frombuffer(final_raw, dtype=np.uint8).reshape(-1, *obs_shape)[index]
        conn.send(("ready", (env.action_space, env.observation_space, env.max_episode_steps)))
        ep_return, ep_length = 0.0, 0
        before_step = None  # keep_rng: the env's random streams before the last step
        while True:
            cmd, arg = conn.recv()
            if cmd == "step":
                if keep_rng:
                    before_step = env.rng_state()
                obs, reward, terminated, truncated, info = env.step(arg)
                ep_return += reward
                ep_length += 1
                if terminated or truncated:
                    info.update(episode_return=ep_return, episode_length=ep_length)
                    ep_return, ep_length = 0.0, 0
                    if autoreset:
                        final_buf[...] = obs
                        obs, info["reset_info"] = env.reset()
                obs_buf[...] = obs
                conn.send(("ok", (reward, terminated, truncated, info)))
            elif cmd == "reset":
                reset_seed, options = arg
                obs, info = env.reset(seed=reset_seed, options=options)
                ep_return, ep_length = 0.0, 0
                obs_buf[...] = obs
                conn.send(("ok", info))
            elif cmd == "rng_state":  # arg: the state before the last step (one that is discarded)
                conn.send(("ok", before_step if arg and before_step is not None else env.rng_state()))
            elif cmd == "set_rng_state":
                env.set_rng_state(arg)
                conn.send(("ok", None))
            elif cmd == "close":
                break
            else:
                raise ValueError(f"unknown command {cmd!r}")
    except (EOFError, BrokenPipeError):
        pass  # the parent is gone: just exit
    except BaseException as e:  # report it, then exit
        tb = traceback.format_exc()
        try:
            conn.send(("error", (e, tb)))
        except Exception:  # the exception does not pickle
            try:
                conn.send(("error", (RuntimeError(f"{type(e).__name__}: {e}"), tb)))
            except Exception:
                pass
    finally:
        if env is not None:
            env.close()
        conn.close()


def _shutdown(procs: list, conns: list, grace_s: float = 5.0) -> None:
    """Stop the workers: ask, then terminate, then kill. Safe to call twice."""
    for c in conns:
        try:
            c.send(("close", None))
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)
    for c in conns:
        c.close()


def check_env_ids(env_ids, num_envs: int) -> np.ndarray:
    """``env_ids`` (default: all) as an int64 array of distinct ids in ``[0, num_envs)``, or ValueError."""
    ids = np.arange(num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64).reshape(-1)
    if len(set(ids.tolist())) != len(ids) or ids.min(initial=0) < 0 or ids.max(initial=0) >= num_envs:
        raise ValueError(f"env_ids must be distinct ids in [0, {num_envs}), got {ids.tolist()}")
    return ids


def check_step_request(actions, env_ids, num_envs: int, pending, action_shape):
    """Validate a ``send(actions, env_ids)``: distinct ids in range, none in flight, actions of the
    right shape, finite and in [-1, 1]. Returns (ids as int64 array, actions as float64 array)."""
    ids = check_env_ids(env_ids, num_envs)
    busy = sorted(set(ids.tolist()) & set(pending))
    if busy:
        raise RuntimeError(f"envs {busy} still have a step in flight; recv() before sending to them again")
    a = check_actions(actions, action_shape, env_ids=ids)
    return ids, a


class VectorEnv:
    """``num_envs`` copies of ``make(task, mode, seed + i, **make_kwargs)`` in worker processes.

    Args:
        timeout: seconds any single wait (env creation, reset, step) may take before TimeoutError.
        context: multiprocessing start method, ``"spawn"`` (default) or ``"forkserver"``. Scripts that
            create a VectorEnv at top level need the usual ``if __name__ == "__main__":`` guard.
        autoreset: True (default): an env whose episode ends starts its next one in the same step (see
            the module doc). False: it stops there (``obs`` and ``info["final_obs"]`` are its last
            observation) until ``reset(env_ids=...)`` starts its next episode, with that episode's options.
        factory: builds env ``i`` as ``factory(task, mode, seed + i, **make_kwargs)`` instead of :func:`make`
            (an importable callable: tests run stand-in envs in real workers); no video offsets are added.
        keep_rng: the workers keep their env's ``rng_state()`` from before each step (``rng_state`` can
            report it: :class:`smg_fast.envs.worker.WorkerEnv`) and leave SIGTERM and SIGHUP to the parent.

    ``reset(seed=None, env_ids=None, options=None)`` -> ``(obs, info)``; ``step(actions)`` -> ``(obs,
    reward, terminated, truncated, info)`` for all envs; ``send(actions, env_ids)`` / ``recv(batch_size)``
    do the same asynchronously for a subset (``info["env_id"]`` says which envs a result holds,
    ascending). Observations are copies, ``uint8 [n, 3k, H, W]``.
    """

    def __init__(self, task: str, mode: str = "train", num_envs: int = 2, seed: int = 0, *,
                 timeout: float = 300.0, context: str = "spawn", autoreset: bool = True, factory=None,
                 keep_rng: bool = False, **make_kwargs):
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if context not in ("spawn", "forkserver"):
            raise ValueError("context must be 'spawn' or 'forkserver' (fork would copy GL state)")
        ensure_gl_backend()  # before spawning: workers inherit MUJOCO_GL
        if mode in VIDEO_COUNTS and make_kwargs.get("background_source") in (None, "dmcgb"):
            warn_missing_videos(mode, make_kwargs.get("data_dir"))
        self.task, self.mode = task, mode
        self.num_envs = int(num_envs)
        self.timeout = float(timeout)
        self.autoreset = bool(autoreset)
        k, s = int(make_kwargs.get("frame_stack", 3)), int(make_kwargs.get("image_size", 84))
        self.obs_shape = (3 * k, s, s)
        ctx = mp.get_context(context)
        size = self.num_envs * int(np.prod(self.obs_shape))
        self._obs_raw = ctx.RawArray(ctypes.c_uint8, size)
        self._final_raw = ctx.RawArray(ctypes.c_uint8, size)
        self._obs = np.frombuffer(self._obs_raw, dtype=np.uint8).reshape(self.num_envs, *self.obs_shape)
        self._final = np.frombuffer(self._final_raw, dtype=np.uint8).reshape(self.num_envs, *self.obs_shape)
        self._procs, self._conns = [], []
        self._pending: list[int] = []
        self._needs_reset = np.ones(self.num_envs, dtype=bool)
        self._ever_reset = False
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._conns)
        for i in range(self.num_envs):
            parent, child = ctx.Pipe()
            # Video modes: env i shows videos i+1, i+1+N, ...: together one upstream env's sequence.
            kwargs = make_kwargs if factory is not None else {
                "video_offset": i, "video_stride": self.num_envs, **make_kwargs}
            p = ctx.Process(target=_worker, name=f"smg-fast-env-{i}", daemon=True,
                            args=(i, child, self._obs_raw, self._final_raw, self.obs_shape, task, mode, seed + i,
                                  kwargs, self.autoreset, factory, keep_rng))
            p.start()
            child.close()  # the worker owns it now; our copy would hide the worker's death (no EOF)
            self._procs.append(p)
            self._conns.append(parent)
        ready = self._gather(range(self.num_envs), self.num_envs, "ready")
        self.single_action_space, self.single_observation_space, self.max_episode_steps = ready[0]
        self.action_space = self.single_action_space  # actions are given per env: [n, *shape]

    # -- API ------------------------------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def reset(self, seed: int | None = None, *, env_ids=None, options=None):
        """Reset the envs ``env_ids`` (default: all). Returns ``(obs, info)`` of those envs, in the order
        of ``env_ids``, with ``info["env_id"]`` and each env's reset info in ``info["env_infos"]``.

        ``seed``: env ``i`` is reset with ``seed + i``. ``options``: one dict for every env reset, or one
        per id (None for none): each env's ``reset(options=...)``, e.g. an episode assignment
        (:mod:`smg_fast.envs.episodes`). Envs with a step in flight cannot be reset.
        """
        self._check_open()
        ids = check_env_ids(env_ids, self.num_envs)
        busy = sorted(set(ids.tolist()) & set(self._pending))
        if busy:
            raise RuntimeError(f"reset() with results pending for envs {busy}; recv() them first")
        if options is None or isinstance(options, dict):
            per_env = [options] * len(ids)
        else:
            per_env = list(options)
            if len(per_env) != len(ids):
                raise ValueError(f"options must be one dict or one per env reset ({len(ids)}), "
                                 f"got {len(per_env)}")
        for i, opts in zip(ids.tolist(), per_env):
            self._send(i, ("reset", (None if seed is None else seed + i, opts)))
        infos = self._gather(ids.tolist(), len(ids), "reset")
        self._needs_reset[ids] = False
        self._ever_reset = True
        return self._obs[ids], {"env_id": ids, "env_infos": [infos[i] for i in ids.tolist()]}

    def send(self, actions, env_ids=None) -> None:
        """Start a step of the envs ``env_ids`` (default: all) with ``actions[j]`` for ``env_ids[j]``."""
        self._check_open()
        if not self._ever_reset:
            raise RuntimeError("call reset() before the first send()/step()")
        ids, a = check_step_request(actions, env_ids, self.num_envs, self._pending, self.action_space.shape)
        stopped = ids[self._needs_reset[ids]]
        if len(stopped):
            raise RuntimeError(f"envs {stopped.tolist()} need a reset (never reset, or their episode ended with "
                               f"autoreset=False): reset(env_ids={stopped.tolist()}) before stepping them")
        raw = np.asarray(actions)
        if raw.dtype.kind == "f" and raw.shape == a.shape:
            a = raw  # as given (float32 from an agent): what the same env in-process would be stepped with
        for j, i in enumerate(ids.tolist()):
            self._send(i, ("step", a[j]))
            self._pending.append(i)

    def recv(self, batch_size: int | None = None):
        """Results of exactly ``batch_size`` (default: all) in-flight envs, the first to finish, sorted by id.

        Returns ``(obs, reward, terminated, truncated, info)`` with ``info["env_id"]``; see the module doc
        for ``final_obs`` and the episode statistics.
        """
        self._check_open()
        if not self._pending:
            raise RuntimeError("recv() without a step in flight; send() first")
        want = len(self._pending) if batch_size is None else max(1, min(int(batch_size), len(self._pending)))
        results = self._gather(list(self._pending), want, "step")
        ids = np.array(sorted(results), dtype=np.int64)
        self._pending = [i for i in self._pending if i not in results]
        reward = np.array([results[i][0] for i in ids], dtype=np.float64)
        terminated = np.array([results[i][1] for i in ids], dtype=bool)
        truncated = np.array([results[i][2] for i in ids], dtype=bool)
        infos = [results[i][3] for i in ids]
        obs = self._obs[ids]  # fancy indexing: a copy
        done = terminated | truncated
        if self.autoreset:
            final_obs = np.where(done[:, None, None, None], self._final[ids], obs)
        else:  # a finished env stays at its last observation until it is reset
            final_obs = obs.copy()
            self._needs_reset[ids[done]] = True
        info = {
            "env_id": ids,
            "final_obs": final_obs,
            "episode_return": np.array([d.get("episode_return", np.nan) for d in infos], dtype=np.float64),
            "episode_length": np.array([d.get("episode_length", 0) for d in infos], dtype=np.int64),
            "env_infos": infos,
        }
        return obs, reward, terminated, truncated, info

    def step(self, actions):
        """``send(actions)`` to all envs, then ``recv()`` all of them."""
        self.send(actions)
        return self.recv()

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._closed = True
        self._pending = []
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        return self.num_envs

    # -- internals ------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this VectorEnv is closed")

    def _fail(self, exc: BaseException, cause: BaseException | None = None):
        self.close()
        raise exc from cause

    def _dead_message(self, i: int) -> str:
        p = self._procs[i]
        p.join(0.5)  # let the exit code arrive
        code = p.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return f"VectorEnv worker {i} (pid {p.pid}, {self.task} {self.mode}) {how}; all workers were shut down"

    def _send(self, i: int, msg) -> None:
        try:
            self._conns[i].send(msg)
        except (BrokenPipeError, OSError):
            self._fail(RuntimeError(self._dead_message(i)))

    def _gather(self, ids, want: int, what: str) -> dict:
        """Wait for ``want`` replies among envs ``ids``; raise on a dead worker, an error or the timeout."""
        waiting = {self._conns[i]: i for i in ids}
        got: dict = {}
        deadline = time.monotonic() + self.timeout
        while len(got) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                late = sorted(waiting.values())
                self._fail(TimeoutError(f"VectorEnv: no {what} reply from envs {late} within {self.timeout:g} s; "
                                        f"all workers were shut down"))
            ready = mp.connection.wait(list(waiting), timeout=min(_POLL_S, left))
            for c in ready:
                if len(got) == want:  # the rest stay unread in their pipes for the next recv()
                    break
                i = waiting.pop(c)
                try:
                    kind, payload = c.recv()
                except (EOFError, OSError):
                    self._fail(RuntimeError(self._dead_message(i)))
                if kind == "error":
                    exc, tb = payload
                    self._fail(exc, _RemoteTraceback(f"(VectorEnv worker {i})\n{tb}"))
                got[i] = payload
            for c, i in waiting.items():  # a worker can die without its pipe reporting EOF yet
                if not self._procs[i].is_alive():
                    self._fail(RuntimeError(self._dead_message(i)))
        return got
