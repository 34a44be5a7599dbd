"""Our SODA against the official implementation, update for update (fixture ../shared/fixtures/official/soda.pt;
harness in tests/official.py): float64 over four updates at 1e-9, float32 first update at the README's
suggested tolerances (SODA's: losses 1e-4, gradients 1e-4 but 1e-3 in the SODA step, parameter changes 1e-1).

The harness feeds the recorded RL batch (already cropped); the SODA step's inputs are fed where our agent
draws them: ``sample_aux`` returns the recorded ``sample_soda`` batch (and consumes its recorded indices),
the crops come from the recorded ``crop`` draws, the overlay images from the recorded Places batch. Besides
the harness's comparisons: the two crops, the overlay view, the predictor and target outputs, the
normalised vectors of the loss, and the BatchNorm step counters (the target's moves with its no-grad pass)."""
import pytest
import torch

import smg_fast.ops as ops
from official import FP64, Replay, Tolerances, check_run, close, compare_recorded, load_fixture
from smg_fast.agent.draws import ImageStream

FP32_U1 = Tolerances(losses=1e-4, outputs=1e-4, grads=1e-4, params=1e-1, zero_grad_abs=1e-6, zero_change_abs=1e-4,
                     opt_grads={"aux_opt": 1e-3})


def feed_soda_step(agent, fx, u, dtype):
    """The SODA step's recorded inputs, and recorders for what it computes."""
    aug = fx["augmented"][u]
    agent.seen = {"crops": [], "predictor": [], "target": []}

    def sample_aux(replay):
        idx = agent.draws.pop("replay_idxs")
        # The official buffer holds exactly the fixed batch, so sample_soda's batch is its obs at the indices.
        assert torch.equal(aug["soda_sample"], fx["batch"]["obs"][idx])
        return aug["soda_sample"].to(dtype)

    def crop(x):
        out = type(agent).crop(agent, x)
        agent.seen["crops"].append(out)
        return out

    def predictor(x):
        out = type(agent.predictor).forward(agent.predictor, x)
        agent.seen["predictor"].append((x, out))
        return out

    def target_encoder(x):
        out = type(agent.predictor_target.encoder).forward(agent.predictor_target.encoder, x)
        agent.seen["target"].append(out)
        return out

    agent.sample_aux, agent.crop = sample_aux, crop
    agent.predictor.forward, agent.predictor_target.encoder.forward = predictor, target_encoder
    agent._images = ImageStream(lambda n=None: agent.draws.pop("places").to(dtype), 4, 84, 0, agent.device)


def check_soda_step(agent, fx, u, *, rec, tol, where, **_):
    seen, aug = agent.seen, fx["augmented"][u]
    official = {c["module"]: c["out"][0] for c in rec["calls"] if c["phase"] == "aux"}
    if "train/aux_loss" not in rec["logged"]:
        assert not official and not seen["predictor"] and not seen["crops"], f"{where}: a SODA step on an odd step"
        check_batchnorm_counters(agent, rec, where)
        return
    # the two independent crops of the sample (x, then aug_x), exactly; then the overlay view
    assert len(seen["crops"]) == 2, f"{where}: {len(seen['crops'])} crops in the SODA step"
    for got, key in zip(seen["crops"], ("soda_x_crop", "soda_aug_crop")):
        assert torch.equal(got, aug[key].to(got.dtype)), f"{where}: {key}"
    (x_aug, h0), = seen["predictor"]
    (h1,) = seen["target"]
    compare_recorded(x_aug, rec["tensors"]["random_overlay_out.1[aux]"], tol.outputs, f"{where} overlay view")
    close(h0.detach(), official["predictor"], tol.outputs, f"{where} predictor output h0")
    close(h1, official["predictor_target.encoder"], tol.outputs, f"{where} target encoder output h1")
    normalized = [c["out"] for c in rec["f_calls"] if c["fn"] == "normalize"]
    for got, want, name in zip((h0.detach(), h1), normalized, ("h0", "h1")):
        close(torch.nn.functional.normalize(got, dim=1), want, tol.outputs, f"{where} normalize({name})")
    check_batchnorm_counters(agent, rec, where)


def check_batchnorm_counters(agent, rec, where):
    """BatchNorm step counters (recorded in full after U1 and U4): the predictor's two and the target's
    projection move (the target's no-grad pass runs in training mode); the target's unused prediction MLP
    never runs."""
    counters = {n: v for n, v in rec["after"]["full"].items() if n.endswith("num_batches_tracked")}
    ours = dict(agent.predictor.named_buffers(prefix="predictor"))
    ours.update(agent.predictor_target.named_buffers(prefix="predictor_target"))
    for n, v in counters.items():
        assert int(ours[n]) == int(v), f"{where}: {n} = {int(ours[n])}, official {int(v)}"


SODA = Replay("soda", "soda", overrides={"soda_batch_size": 4}, prepare=feed_soda_step, check=check_soda_step)


@pytest.mark.fast
def test_soda_float64_four_updates_match_the_official_code():
    check_run(SODA, torch.float64, updates=4, tol=FP64)


def test_soda_float32_first_update_matches_the_official_code():
    check_run(SODA, torch.float32, updates=1, tol=FP32_U1)


def test_soda_crop_draws_give_the_official_rl_batch():
    """Our random_crop at the recorded offsets reproduces what the official ``sample()`` returned: obs and
    next_obs cropped independently from the 100×100 batch, (row, column) = upstream's (w1, h1)."""
    fx = load_fixture("soda")
    for u in range(4):
        for key, offsets in zip(("obs", "next_obs"), fx["draws"][u]["crop"][:2]):
            got = ops.random_crop(fx["batch"][key], offsets, 84)
            assert torch.equal(got, fx["augmented"][u][key]), (u, key)
