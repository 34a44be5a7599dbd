"""Everything a GPU machine can tell this project, in one offline run with a time budget, as one JSON +
Markdown report (scripts/gpu_check.sh is the command; docs/install.md the plan of the transfers).

Steps, in order, each in its own process with its own time limit (a failing or hanging step is a row of the
report, not the end of the run):

  machine   GPU, driver, CPU cores, Python, torch, nvcc, Python headers, EGL libraries
  gl        on a GPU machine without an EGL loader: unpack the carried Debian packages (gl/*.deb)
  install   the carried wheels (wheels/*.whl: what the image lacks) into build/gpu-check/site/deps, offline
  build     smg-fast with `pip install --no-index --no-build-isolation`: the fused ops compiled now, against the
            image's torch (CUDA kernels for the visible GPU); `smg-fast build` confirms what will load
  renderer  which OpenGL renderer MuJoCo's EGL context gets (the GPU's, or Mesa's llvmpipe on a CPU)
  doctor    `smg-fast doctor --device DEVICE`: every fused op against its reference on the device
  ops       each fused op and its pure-PyTorch reference, timed on the device at training shapes
  updates   one update (an even + an odd step, halved) of each of the seven methods, eager, batch 64
  train     a short SMG training run on the device (walker-walk, --preset quick, rendering through EGL)
  compiled  the same updates under --compile (on CUDA: inductor with CUDA graphs), with compile times,
            as many methods as the budget leaves time for (SMG first)
  video     with a second transfer (av + DMC-GB's video_easy): the training run's agent evaluated there

Runs with the image's Python and its standard library only; smg-fast's own code runs in the steps.
``--device cpu`` is the rehearsal CI runs: the same steps at small sizes (batch 8, one round, a 32-step run).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("smg", "sac", "drq", "srm", "svea", "soda", "sgqn")  # SMG first: the budget may end the list
REPORT = "gpu_check"


# ---- the steps' own work, in the environment being checked (python gpu_check.py --worker NAME) -------------


def _worker(name: str, args: argparse.Namespace) -> None:
    out = Path(args.result)

    def emit(row: dict) -> None:  # one JSON line per result: a step cut off by its limit keeps what it had
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")

    if name == "renderer":
        from smg_fast.envs.rendering import ensure_gl_backend

        ensure_gl_backend()  # MUJOCO_GL as training sets it (egl on the GPU machine), before dm_control loads
        from dm_control import mujoco
        from OpenGL import GL

        physics = mujoco.Physics.from_xml_string('<mujoco><worldbody><light pos="0 0 1"/><geom size=".1"/>'
                                                 '</worldbody></mujoco>')
        physics.render(16, 16)
        with physics.contexts.gl.make_current() as ctx:
            get = lambda e: ctx.call(GL.glGetString, e).decode()  # noqa: E731
            emit({"MUJOCO_GL": os.environ.get("MUJOCO_GL"), "vendor": get(GL.GL_VENDOR),
                  "renderer": get(GL.GL_RENDERER), "version": get(GL.GL_VERSION)})
        t0, n = time.perf_counter(), 50
        for _ in range(n):
            physics.render(84, 84)
        emit({"render_84_ms": 1e3 * (time.perf_counter() - t0) / n})
    elif name == "ops":
        import torch

        from smg_fast import doctor

        for row in doctor.check_ops(torch.device(args.device), repeats=args.repeats):
            emit(row)
    elif name in ("updates", "compiled"):
        _updates(args, emit, compiled=name == "compiled")
    else:
        raise SystemExit(f"unknown worker {name}")


def _updates(args, emit, compiled: bool) -> None:
    import numpy as np
    import torch

    from smg_fast.agent import make_agent
    from smg_fast.config import make_config
    from smg_fast.replay import ReplayBuffer
    from smg_fast.run.allocator import tune_allocator

    device = torch.device(args.device)
    tune_allocator()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for algo in args.methods.split(","):
        # SMG in bf16 too (autocast) on a GPU: the precision a GPU run would choose for speed
        for precision in (("fp32", "bf16") if algo == "smg" and not compiled and device.type == "cuda" else ("fp32",)):
            torch.manual_seed(0)
            settings = {"device": str(device), "precision": precision}
            if args.batch:
                settings["batch_size"] = args.batch
            cfg = make_config("walker-walk", algo, "paper", **settings)
            size = 100 if algo == "soda" else 84  # SODA renders 100×100 and crops to 84
            rng = np.random.default_rng(0)
            images = lambda n=None: rng.integers(0, 256, (n or cfg.agent.batch_size, 3, 84, 84), dtype=np.uint8)  # noqa: E731
            agent = make_agent(cfg, (9, size, size), 6, images)
            buf = ReplayBuffer(600, (3, size, size), 6, seed=0, device=str(device))
            buf.add_first(torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8)))
            for _ in range(500):
                buf.add(rng.uniform(-1, 1, 6), float(rng.normal()),
                        torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8)), False)
            step = [2000]

            def round_():  # one even step (critic, actor, α, targets, auxiliary) and one odd (critic)
                step[0] += 2
                agent.update(buf, step[0])
                agent.update(buf, step[0] + 1)
                sync()

            row = {"method": algo, "precision": precision, "compiled": compiled, "batch": cfg.agent.batch_size}
            if compiled:  # inductor: on CUDA with mode reduce-overhead (CUDA graphs), as --compile trains
                agent.compile(backend=args.compile_backend)
                row["backend"] = args.compile_backend
                t0 = time.perf_counter()
                for u in ((0.9, 0.1) if algo == "smg" else (None,)):  # SMG: overlay and attribution graphs
                    if u is not None:
                        agent.draws.random = lambda u=u: u
                    round_()
                vars(agent.draws).pop("random", None)
                row["compile_s"] = round(time.perf_counter() - t0, 2)
            for _ in range(args.warmup):
                round_()
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                round_()
                times.append((time.perf_counter() - t0) / 2)
            row.update(s_per_update=sum(times) / len(times), min_s=min(times), max_s=max(times), rounds=len(times))
            if device.type == "cuda":
                row["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                torch.cuda.reset_peak_memory_stats(device)
            emit(row)
            del agent, buf
            if device.type == "cuda":
                torch.cuda.empty_cache()


# ---- the driver ------------------------------------------------------------------------------------------


class Check:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.small = args.device == "cpu"
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = ROOT / "build" / "gpu-check"
        self.site = self.work / "site"
        self.log = (self.out / f"{REPORT}.log").open("w")
        self.deadline = time.monotonic() + args.budget
        self.steps: list[dict] = []
        self.transfers = [Path(t).resolve() for t in args.transfer]
        data = [t / "data" for t in self.transfers if (t / "data").is_dir()]
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                        SMG_FAST_CACHE=str(self.work / "cache"),
                        PYTHONPATH=os.pathsep.join([str(self.site / "smg"), str(self.site / "deps")]
                                                   + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        if data:  # the carried data: several transfers' data folders are merged by linking into one
            merged = self.work / "data"
            for d in data:
                for f in d.rglob("*"):
                    if f.is_file() and not (merged / f.relative_to(d)).exists():
                        (merged / f.relative_to(d)).parent.mkdir(parents=True, exist_ok=True)
                        os.symlink(f, merged / f.relative_to(d))
            self.env["SMG_FAST_DATA"] = str(merged)
        if args.device.startswith("cuda"):
            self.env.setdefault("MUJOCO_GL", "egl")
            vendor = Path("/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json")
            if vendor.exists():  # the NVIDIA EGL driver where the container's loader does not find it
                self.env.setdefault("__EGL_VENDOR_LIBRARY_FILENAMES", str(vendor))

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def run(self, cmd: list[str], limit: float, cwd: Path | None = None) -> tuple[int | None, str]:
        """Run a command with a time limit: (exit status or None if cut off, its output)."""
        limit = max(1.0, min(limit, self.left() - 15))  # 15 s stay for the report
        shown = " ".join(a if len(a) < 120 else a[:60].split("\n")[0] + " ..." for a in map(str, cmd))
        self.say(f"$ {shown}   (limit {limit:.0f} s)")
        try:
            res = subprocess.run(cmd, cwd=cwd or ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=limit)
            out, code = res.stdout, res.returncode
        except subprocess.TimeoutExpired as e:
            out, code = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), None
        self.log.write(out)
        self.log.flush()
        return code, out

    def step(self, name: str, fn, need: float = 20.0) -> dict:
        row = {"step": name}
        if self.left() < need:
            row.update(status="skipped", detail=f"the budget's last {self.left():.0f} s are too few")
        else:
            self.say(f"\n=== {name} ({self.left():.0f} s of the budget left)")
            t0 = time.monotonic()
            try:
                row.update(fn() or {})
                row.setdefault("status", "ok")
            except Exception as e:  # noqa: BLE001 - a step's failure is a row of the report
                row.update(status="failed", detail=f"{type(e).__name__}: {e}")
            row["seconds"] = round(time.monotonic() - t0, 1)
        self.say(f"--- {name}: {row['status']}" + (f" ({row['detail']})" if row.get("detail") else ""))
        self.steps.append(row)
        self.write()
        return row

    def worker(self, name: str, limit: float, *extra: str) -> tuple[int | None, list[dict], str]:
        result = self.work / f"{name}.jsonl"
        result.unlink(missing_ok=True)
        code, out = self.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, "--result", str(result),
                              "--device", self.args.device, *extra], limit)
        rows = [json.loads(ln) for ln in result.read_text().splitlines()] if result.exists() else []
        return code, rows, out

    # -- steps

    def machine(self) -> dict:
        info = {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
                "cpu_cores": os.cpu_count(), "device": self.args.device, "scale": "small (rehearsal)" if self.small else "full",
                "transfers": [str(t) for t in self.transfers]}
        probe = ("import json, sys, sysconfig, pathlib, torch\n"
                 "inc = sysconfig.get_path('include', scheme='posix_prefix')\n"
                 "d = {'torch': torch.__version__, 'torch_cuda': torch.version.cuda, 'cuda_available': torch.cuda.is_available(),\n"
                 "     'python_headers': bool(inc) and (pathlib.Path(inc) / 'Python.h').exists(), 'threads': torch.get_num_threads()}\n"
                 "if torch.cuda.is_available():\n"
                 "    p = torch.cuda.get_device_properties(0)\n"
                 "    d.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f'{p.major}.{p.minor}',\n"
                 "             gpus=torch.cuda.device_count())\n"
                 "print(json.dumps(d))\n")
        code, out = self.run([sys.executable, "-c", probe], 120)
        if code != 0:
            raise RuntimeError(f"torch does not import: {out.strip().splitlines()[-1:] or code}")
        info.update(json.loads(out.strip().splitlines()[-1]))
        for tool, cmd in (("nvcc", ["nvcc", "--version"]), ("nvidia-smi", ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]),
                          ("c++", [os.environ.get("CXX", "c++"), "--version"]), ("ninja", ["ninja", "--version"])):
            if shutil.which(cmd[0]):
                code, out = self.run(cmd, 30)
                info[tool] = (out.strip().splitlines() or ["?"])[-1 if tool == "nvcc" else 0]
            else:
                info[tool] = "not found"
        libs = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout if shutil.which("ldconfig") else ""
        info["libEGL"] = "libEGL.so.1" in libs
        if not info.get("cuda_available") and self.args.device.startswith("cuda"):
            raise RuntimeError(f"no CUDA device visible to torch {info['torch']}")
        return {"data": info}

    def gl(self) -> dict:
        debs = sorted(d for t in self.transfers for d in (t / "gl").glob("*.deb"))
        libs = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout if shutil.which("ldconfig") else ""
        if "libEGL.so.1" in libs:
            return {"detail": "libEGL.so.1 present: nothing to unpack"}
        if not debs:
            return {"status": "failed", "detail": "no libEGL.so.1 and no gl/*.deb carried (scripts/gpu_wheelhouse.sh makes them)"}
        if os.geteuid() != 0 or not self.args.device.startswith("cuda"):
            return {"status": "skipped", "detail": "unpacking into / is for the GPU machine (as root) only"}
        for deb in debs:
            code, out = self.run(["dpkg", "-x", str(deb), "/"], 60)
            if code != 0:
                raise RuntimeError(f"dpkg -x {deb.name}: {out.strip()[-300:]}")
        self.run(["ldconfig"], 60)
        return {"detail": f"unpacked {len(debs)} packages: {', '.join(d.name.split('_')[0] for d in debs)}"}

    def install(self) -> dict:
        wheels = sorted(w for t in self.transfers for w in (t / "wheels").glob("*.whl"))
        if not wheels:
            return {"status": "skipped", "detail": "no wheels carried"}
        shutil.rmtree(self.site / "deps", ignore_errors=True)
        code, out = self.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                              "--target", str(self.site / "deps"), *map(str, wheels)], 300)
        if code != 0:
            raise RuntimeError(out.strip().splitlines()[-1] if out.strip() else f"pip exited {code}")
        missing = self._unmet_requirements()
        row = {"data": {"wheels": [w.name for w in wheels], "unmet_requirements": missing}}
        if missing:
            row.update(status="failed", detail="requirements neither carried nor in the image: " + ", ".join(missing))
        return row

    def _unmet_requirements(self) -> list[str]:
        """pip check for the --target folder: each carried wheel's requirements, met by it or by the image."""
        probe = ("import json, importlib.metadata as md, sys\n"
                 "from packaging.requirements import Requirement\n"
                 "site = sys.argv[1]\n"
                 "bad = []\n"
                 "for dist in md.distributions(path=[site]):\n"
                 "    for spec in dist.requires or []:\n"
                 "        r = Requirement(spec)\n"
                 "        if r.marker and not r.marker.evaluate({'extra': ''}):\n"
                 "            continue\n"
                 "        try:\n"
                 "            v = md.version(r.name)\n"
                 "        except md.PackageNotFoundError:\n"
                 "            bad.append(f'{r} (for {dist.metadata[\"Name\"]})'); continue\n"
                 "        if r.specifier and not r.specifier.contains(v, prereleases=True):\n"
                 "            bad.append(f'{r}: {v} installed (for {dist.metadata[\"Name\"]})')\n"
                 "print(json.dumps(sorted(set(bad))))\n")
        code, out = self.run([sys.executable, "-c", probe, str(self.site / "deps")], 60)
        return json.loads(out.strip().splitlines()[-1]) if code == 0 else [f"(the check failed: {out.strip()[-200:]})"]

    def build(self) -> dict:
        env_jobs = str(os.cpu_count() or 2)
        self.env.setdefault("MAX_JOBS", env_jobs)
        if self.small:  # the rehearsal: CPU kernels (the CUDA kernels' build is CI's check_torch.sh)
            self.env["FORCE_CUDA"] = "0"
        shutil.rmtree(self.site / "smg", ignore_errors=True)
        src = self.work / "src"  # a copy: the checkout's own build folders stay as they are
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns("build", ".venv", ".git", ".gl", "runs", "*.so", "*.egg-info",
                                                                 "__pycache__", "_C.build.json", ".pytest_cache"))
        t0 = time.monotonic()
        code, out = self.run([sys.executable, "-m", "pip", "install", "-v", "--no-index", "--no-deps", "--no-build-isolation",
                              "--target", str(self.site / "smg"), "."], 420, cwd=src)
        if code != 0:
            raise RuntimeError("pip install failed: " + " | ".join(ln.strip() for ln in out.splitlines() if "error" in ln.lower())[-400:]
                               if code is not None else "the build did not finish within its limit")
        pip_s = round(time.monotonic() - t0, 1)
        note = next((ln.strip() for ln in out.splitlines() if ln.strip().startswith("smg-fast:")), "")
        code, out = self.run([sys.executable, "-m", "smg_fast.cli", "build"], 600, cwd=self.work)
        if code != 0:
            raise RuntimeError(out.strip().splitlines()[-1] if out.strip() else f"smg-fast build exited {code}")
        return {"detail": note, "data": {"pip_install_s": pip_s, "setup_note": note, "smg_fast_build": out.strip()}}

    def renderer(self) -> dict:
        code, rows, out = self.worker("renderer", 120)
        if code != 0:
            raise RuntimeError(out.strip().splitlines()[-1] if out.strip() else f"exit {code}")
        info = {k: v for r in rows for k, v in r.items()}
        return {"detail": f"{info.get('renderer')} ({info.get('vendor')}), 84×84 render {info.get('render_84_ms', 0):.2f} ms",
                "data": info}

    def doctor(self) -> dict:
        code, out = self.run([sys.executable, "-m", "smg_fast.cli", "doctor", "--device", self.args.device, "--repeats",
                              "1" if self.small else "3"], 240, cwd=self.work)
        return {"status": "ok" if code == 0 else "failed", "data": {"output": out.strip()},
                "detail": (out.strip().splitlines() or [""])[-1]}

    def ops(self) -> dict:
        code, rows, out = self.worker("ops", 240, "--repeats", "1" if self.small else "20")
        bad = [r["op"] for r in rows if not r.get("ok")]
        if code != 0 and not rows:
            raise RuntimeError(out.strip().splitlines()[-1] if out.strip() else f"exit {code}")
        return {"status": "failed" if bad or code != 0 else "ok", "data": rows,
                "detail": f"{len(rows) - len(bad)}/{len(rows)} ops pass" + (f"; failed: {', '.join(bad)}" if bad else "")}

    def _update_args(self) -> list[str]:
        return (["--batch", "4", "--warmup", "0", "--rounds", "1"] if self.small else ["--warmup", "2", "--rounds", "5"])

    def updates(self) -> dict:
        code, rows, out = self.worker("updates", 300, "--methods", ",".join(METHODS), *self._update_args())
        done = {r["method"] for r in rows}
        status = "ok" if code == 0 else ("partial" if code is None else "failed")
        detail = f"{len(done)}/{len(METHODS)} methods" + ("" if code == 0 else f"; {(out.strip().splitlines() or ['cut off'])[-1]}")
        return {"status": status, "data": rows, "detail": detail}

    def compiled(self) -> dict:
        methods = ("sac",) if self.small else METHODS
        rows: list[dict] = []
        for algo in methods:  # one process each: a compile that fails or hangs costs that method only
            if self.left() < 60:
                break
            # the rehearsal: aot_eager traces the same graphs without inductor's minutes of C++ compiling
            code, got, out = self.worker("compiled", self.left() - 20, "--methods", algo, *self._update_args(),
                                         "--compile-backend", "aot_eager" if self.small else "inductor")
            rows += got or [{"method": algo, "compiled": True, "failure": (out.strip().splitlines() or ["cut off"])[-1]
                             if code is not None else "cut off by the budget"}]
        ok = [r["method"] for r in rows if "failure" not in r]
        return {"status": "ok" if len(ok) == len(methods) else "partial", "data": rows,
                "detail": f"{len(ok)}/{len(methods)} methods compiled and timed"}

    def train(self) -> dict:
        run = self.work / "run"
        shutil.rmtree(run, ignore_errors=True)
        if self.small:
            args = ["--task", "cartpole-swingup", "--preset", "quick", "--steps", "32", "--batch-size", "4",
                    "--eval-episodes", "1", "--eval-modes", "train,color_hard", "--set", "episode_length=64",
                    "--set", "init_steps=8", "--set", "burst_updates=2", "--set", "eval_freq=100000",
                    "--set", "eval_envs=1", "--set", "replay_capacity=64", "--set", "mask_warmup=8"]
        else:  # the README's first run, on the GPU; colours only (DMC-GB's videos would not fit transfer 1)
            args = ["--task", "walker-walk", "--preset", "quick", "--eval-modes", "train,color_hard"]
        t0 = time.monotonic()
        code, out = self.run([sys.executable, "-m", "smg_fast.cli", "train", *args, "--device", self.args.device,
                              "--run-dir", str(run), "--no-progress"], 420, cwd=self.work)
        wall = round(time.monotonic() - t0, 1)
        data = {"command": "smg-fast train " + " ".join(args) + f" --device {self.args.device}", "wall_s": wall,
                "output_tail": "\n".join(out.strip().splitlines()[-25:])}
        table = run / "final_eval.md"
        if table.exists():
            data["final_eval"] = table.read_text()
        for png in ("curves.png", "pictures/explain_all_modes.png"):
            if (run / png).exists():
                shutil.copy(run / png, self.out / f"{REPORT}_{Path(png).name}")
        if code != 0:
            return {"status": "failed" if code is not None else "timeout", "data": data,
                    "detail": (out.strip().splitlines() or ["?"])[-1]}
        return {"data": data, "detail": f"{wall:.0f} s wall"}

    def video(self) -> dict:
        data = Path(self.env.get("SMG_FAST_DATA", "/nonexistent"))
        if not list((data / "dmcgb" / "video_easy").glob("*.mp4")):
            return {"status": "skipped", "detail": "no DMC-GB videos carried (transfer 2: av + video_easy)"}
        if not (self.work / "run" / "checkpoint.json").exists():
            return {"status": "skipped", "detail": "no training run to evaluate (the train step did not finish)"}
        code, out = self.run([sys.executable, "-m", "smg_fast.cli", "eval", "--run", str(self.work / "run"), "--modes",
                              "video_easy", "--episodes", "1", "--envs", "1", "--device", self.args.device,
                              "--no-progress"], 300, cwd=self.work)
        return {"status": "ok" if code == 0 else "failed", "data": {"output": out.strip()[-3000:]},
                "detail": (out.strip().splitlines() or ["?"])[-1]}

    # -- report

    def write(self) -> None:
        report = {"started": self.started, "budget_s": self.args.budget, "steps": self.steps}
        (self.out / f"{REPORT}.json").write_text(json.dumps(report, indent=1))
        (self.out / f"{REPORT}.md").write_text(markdown(report))

    def main(self) -> int:
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        t0 = time.monotonic()
        if self.step("machine", self.machine)["status"] != "ok":
            return 1
        self.step("gl", self.gl)
        self.step("install", self.install, need=30)
        if self.step("build", self.build, need=60)["status"] != "ok":
            return 1
        self.step("renderer", self.renderer)
        self.step("doctor", self.doctor)
        self.step("ops", self.ops)
        self.step("updates", self.updates, need=40)
        self.step("train", self.train, need=60)
        self.step("compiled", self.compiled, need=90)
        self.step("video", self.video, need=30)
        self.say(f"\nreport: {self.out / (REPORT + '.md')} and .json ({time.monotonic() - t0:.0f} s)")
        return 0 if all(s["status"] in ("ok", "skipped", "partial") for s in self.steps) else 1


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for _, key in cols:
            v = r.get(key, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    steps = {s["step"]: s for s in report["steps"]}
    m = steps.get("machine", {}).get("data", {})
    gpu = (f"{m['gpu']} ({m.get('gpu_memory_gib')} GiB, compute {m.get('capability')}), nvidia-smi: {m.get('nvidia-smi')}"
           if m.get("gpu") else "no GPU")
    out = [f"# smg-fast GPU check, {report['started']}", "",
           f"{gpu}; {m.get('cpu_cores')} CPU cores; Python {m.get('python')}; torch "
           f"{m.get('torch')} (CUDA {m.get('torch_cuda')}); nvcc: {m.get('nvcc')}; Python headers: "
           f"{m.get('python_headers')}; device {m.get('device')}, scale {m.get('scale')}; budget {report['budget_s']} s.",
           "", _table(report["steps"], [("step", "step"), ("status", "status"), ("seconds", "seconds"), ("detail", "detail")])]
    ops = steps.get("ops", {}).get("data") or []
    if ops:
        for r in ops:
            r["speed-up"] = r["reference_ms"] / r["fused_ms"] if r.get("fused_ms") else float("nan")
        out += ["", "## Fused ops against their references (best of the repeats)", "",
                _table(ops, [("op", "op"), ("shape", "shape"), ("ok", "ok"), ("max error", "error"), ("fused ms", "fused_ms"),
                             ("reference ms", "reference_ms"), ("speed-up", "speed-up")])]
    upd = (steps.get("updates", {}).get("data") or []) + (steps.get("compiled", {}).get("data") or [])
    if upd:
        sac = {(r["compiled"], r["precision"]): r["s_per_update"] for r in upd if r["method"] == "sac" and "s_per_update" in r}
        for r in upd:
            if "s_per_update" in r and (r["compiled"], r["precision"]) in sac:
                r["× SAC"] = r["s_per_update"] / sac[(r["compiled"], r["precision"])]
        out += ["", "## One update (an even + an odd step, halved), batch "
                f"{upd[0].get('batch', '?')} × 9×84×84", "",
                _table(upd, [("method", "method"), ("precision", "precision"), ("compiled", "compiled"),
                             ("s / update", "s_per_update"), ("min", "min_s"), ("max", "max_s"), ("× SAC", "× SAC"),
                             ("compile s", "compile_s"), ("backend", "backend"), ("peak GiB", "peak_gib"),
                             ("failure", "failure")])]
    tr = steps.get("train", {}).get("data") or {}
    if tr:
        out += ["", "## Training run", "", f"`{tr.get('command')}`: {tr.get('wall_s')} s wall, everything included.", ""]
        out += [tr["final_eval"]] if tr.get("final_eval") else ["```", tr.get("output_tail", ""), "```"]
    for name in ("renderer", "install", "build"):
        d = steps.get(name, {}).get("data")
        if d:
            out += ["", f"## {name}", "", "```", json.dumps(d, indent=1)[:4000], "```"]
    doc = (steps.get("doctor", {}).get("data") or {}).get("output")
    if doc:
        out += ["", "## smg-fast doctor", "", "```", doc[-6000:], "```"]
    return "\n".join(out) + "\n"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (the GPU check) or cpu (its rehearsal, small sizes)")
    p.add_argument("--transfer", action="append", default=[],
                   help="a folder made by scripts/gpu_wheelhouse.sh (wheels/, gl/, data/); repeat for a second transfer")
    p.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "build" / "gpu-check" / "report"))
    p.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check (default 480)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--methods", default=",".join(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=5, help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=20, help=argparse.SUPPRESS)
    p.add_argument("--compile-backend", default="inductor", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse()
    if a.worker:
        _worker(a.worker, a)
    else:
        sys.exit(Check(a).main())
