"""PGD / FGSM: exact L-inf bound, untouched model state, agreement with ART, grad contexts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fakeguard.attacks.pgd import FGSM, PGD

EPS = 8 / 255  # float32(8/255) > 8/255: the bound must hold against the exact value


def tiny_net(seed: int = 0, dropout: float = 0.0, size: int = 16) -> nn.Sequential:
    """Conv + BatchNorm (with non-trivial running stats) + Dropout -> logits (N,)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(8 * (size // 2) ** 2, 1),
        nn.Flatten(0),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.1, 0.1)
    return net


def edge_images(n: int = 16, size: int = 16, seed: int = 1) -> torch.Tensor:
    """Pixels in [0, 1], a third of them within 2/255 of 0 or 1, some exactly 0 or 1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    pick = torch.rand(x.shape, generator=g)
    x = torch.where(pick < 0.15, x * 2 / 255, x)
    x = torch.where(pick > 0.85, 1 - x * 2 / 255, x)
    x[:, 0, 0, :4] = 0.0
    x[:, 0, 1, :4] = 1.0
    return x


def labels(n: int = 16) -> torch.Tensor:
    return (torch.arange(n) % 2).float()


def bce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return F.binary_cross_entropy_with_logits(model(x).float(), y).item()


def training_flags(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


# --- the bound ---------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [EPS, 3 / 255, 0.1])
@pytest.mark.parametrize("attack_cls", [PGD, FGSM])
def test_adversarial_pixels_stay_in_eps_ball_exactly_and_in_unit_range(attack_cls, eps):
    x, y = edge_images(), labels()
    torch.manual_seed(0)
    x_adv = attack_cls(eps=eps)(tiny_net(), x, y)

    assert x_adv.dtype == x.dtype == torch.float32 and x_adv.shape == x.shape
    # Exact, in float64: no rounding slack allowed on the advertised budget.
    assert (x_adv.double() - x.double()).abs().max().item() <= eps
    assert (x_adv - x).abs().max().item() <= eps
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    # The budget is used (sign steps end on the ball's faces), so the check above is not vacuous.
    assert (x_adv - x).abs().max().item() > eps - 1e-6


def test_eps_zero_returns_the_input_unchanged():
    x, y = edge_images(), labels()
    assert torch.equal(PGD(eps=0.0)(tiny_net(), x, y), x)


def test_input_is_not_modified_and_output_is_detached():
    x, y = edge_images(), labels()
    x_in = x.clone().requires_grad_(True)
    x_adv = PGD()(tiny_net(), x_in, y)
    assert torch.equal(x_in.detach(), x)
    assert not x_adv.requires_grad and x_adv.grad_fn is None
    assert x_in.grad is None


# --- model state -------------------------------------------------------------------------------


def mixed_tiny_net() -> nn.Module:
    net = tiny_net().train()
    net[1].eval()  # a "frozen" BatchNorm kept in eval while the rest trains
    return net


@pytest.fixture(scope="module")
def frozen_detector() -> nn.Module:
    """The real case: Detector.train() keeps the frozen groups' BatchNorm layers in eval."""
    from fakeguard.models.detectors import Detector

    torch.manual_seed(0)
    detector = Detector(weights="none", img_size=32)
    detector.freeze_backbone(2)
    return detector.train()


@pytest.mark.parametrize(
    ("make_model", "mixed"),
    [
        (lambda _: tiny_net().train(), False),
        (lambda _: tiny_net().eval(), False),
        (lambda _: mixed_tiny_net(), True),
        (lambda detector: detector, True),
    ],
    ids=["train", "eval", "mixed", "detector_with_frozen_bn"],
)
def test_every_submodules_train_eval_flag_is_restored(make_model, mixed, frozen_detector):
    model = make_model(frozen_detector)
    before = training_flags(model)
    assert (len(set(before.values())) == 2) == mixed
    size = 32 if model is frozen_detector else 16
    PGD(steps=1)(model, edge_images(2, size), labels(2))
    assert training_flags(model) == before


def test_train_eval_flags_are_restored_when_the_model_raises():
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    model = nn.Sequential(mixed_tiny_net(), Boom())
    before = training_flags(model)
    with pytest.raises(RuntimeError, match="boom"):
        PGD()(model, edge_images(4), labels(4))
    assert training_flags(model) == before


def test_attack_sees_every_module_in_eval_mode():
    model = mixed_tiny_net()
    seen: list[bool] = []
    for module in model.modules():
        module.register_forward_pre_hook(lambda m, _: seen.append(m.training))
    PGD(steps=2)(model, edge_images(4), labels(4))
    assert seen and not any(seen)


def test_parameter_grads_and_requires_grad_are_untouched():
    model = tiny_net().train()
    preset = torch.randn_like(model[0].weight)
    model[0].weight.grad = preset.clone()
    model[5].bias.requires_grad_(False)
    requires = {n: p.requires_grad for n, p in model.named_parameters()}

    PGD(steps=3)(model, edge_images(4), labels(4))

    assert torch.equal(model[0].weight.grad, preset)
    assert all(p.grad is None for n, p in model.named_parameters() if n != "0.weight")
    assert {n: p.requires_grad for n, p in model.named_parameters()} == requires


def test_batchnorm_running_statistics_are_unchanged():
    model = tiny_net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    PGD(steps=3)(model, edge_images(8), labels(8))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. num_batches_tracked


def test_dropout_in_train_mode_does_not_make_the_attack_random():
    model = tiny_net(dropout=0.5).train()
    x, y = edge_images(8), labels(8)
    first = PGD(random_start=False)(model, x, y)
    torch.manual_seed(123)  # a different dropout mask if dropout were active
    second = PGD(random_start=False)(model, x, y)
    assert torch.equal(first, second)
    assert torch.equal(first, PGD(random_start=False)(model.eval(), x, y))


# --- reference implementation ------------------------------------------------------------------


class TwoLogits(nn.Module):
    """[0, z]: softmax cross-entropy over these equals BCE-with-logits on z."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return torch.stack([torch.zeros_like(z), z], 1)


def test_pgd_without_random_start_matches_art():
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    model = tiny_net().eval()
    x, y = edge_images(), labels()
    size = x.shape[-1]
    ours = PGD(eps=EPS, step_size=2 / 255, steps=10, random_start=False)(model, x, y)

    classifier = PyTorchClassifier(
        model=TwoLogits(model),
        loss=nn.CrossEntropyLoss(),
        input_shape=(3, size, size),
        nb_classes=2,
        clip_values=(0.0, 1.0),
    )
    # ART steps, clips to [0, 1], then projects; we project, then clip. For boxes that both
    # contain x these are the same map (clamping to the intersection of the two intervals).
    art_pgd = ProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=EPS,
        eps_step=2 / 255,
        max_iter=10,
        targeted=False,
        num_random_init=0,
        batch_size=len(x),
        verbose=False,
    )
    theirs = torch.from_numpy(art_pgd.generate(x=x.numpy(), y=y.long().numpy()))

    # Equal up to float32 rounding: ~10% of pixels differ by one ulp (<= 7.5e-9), because we
    # round eps down and step back into the exact eps-ball while ART overshoots eps by ~4e-9.
    # Where a gradient is ~0, CE over [0, z] and BCE on z may round to opposite signs, which
    # moves that pixel by up to 2 steps (none here, but another CPU rounds differently):
    # allow a few such pixels, never more than the eps-ball allows.
    gap = (ours - theirs).abs()
    assert (gap > 1e-7).float().mean() <= 1e-3 and gap.max() <= 2 * EPS + 1e-7
    assert not torch.equal(ours, x)


# --- strength ----------------------------------------------------------------------------------


def test_pgd_finds_the_exact_worst_case_of_a_linear_detector():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1), nn.Flatten(0))
    x, y = edge_images(), labels()
    # The loss is monotone in z per image: raise z for real (y=0), lower it for fake (y=1).
    direction = model[1].weight.detach().sign().view(1, 3, 16, 16) * (1 - 2 * y).view(-1, 1, 1, 1)
    worst = (x + EPS * direction).clamp(0, 1)

    x_pgd = PGD()(model, x, y)
    x_fgsm = FGSM()(model, x, y)

    assert torch.allclose(x_pgd, worst, rtol=0, atol=1e-6)
    clean, pgd, fgsm = bce(model, x, y), bce(model, x_pgd, y), bce(model, x_fgsm, y)
    assert clean < fgsm <= pgd


def test_pgd_increases_the_loss_of_a_conv_net_more_than_fgsm():
    model, x, y = tiny_net(), edge_images(), labels()
    torch.manual_seed(0)
    clean = bce(model, x, y)
    fgsm = bce(model, FGSM()(model, x, y), y)
    pgd = bce(model, PGD()(model, x, y), y)
    assert clean < fgsm < pgd


def test_random_start_is_uniform_in_the_ball_and_seeded_by_torch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1), nn.Flatten(0))
    nn.init.zeros_(model[1].weight)  # zero input gradient: the output is the start point
    x, y = torch.full((8, 3, 16, 16), 0.5), labels(8)

    torch.manual_seed(0)
    start = PGD(steps=1)(model, x, y)
    torch.manual_seed(0)
    assert torch.equal(FGSM()(model, x, y), start)  # FGSM always starts at random
    assert torch.equal(PGD(random_start=False)(model, x, y), x)

    delta = (start - x).abs()
    assert delta.max().item() <= EPS and math.isclose(delta.mean().item(), EPS / 2, rel_tol=0.05)
    torch.manual_seed(1)
    assert not torch.equal(PGD(steps=1)(model, x, y), start)


def test_passes_counts_forward_backward_passes():
    model = tiny_net()
    calls: list[int] = []
    model.register_forward_hook(lambda *_: calls.append(1))
    for attack in (PGD(steps=3), PGD(), FGSM()):
        calls.clear()
        attack(model, edge_images(2), labels(2))
        assert len(calls) == attack.passes
    assert (PGD(steps=7).passes, FGSM().passes) == (7, 1)


def test_fgsm_default_step_is_1_25_eps():
    assert FGSM(eps=0.08).step_size == pytest.approx(0.1)
    assert FGSM(eps=0.08, step_size=0.05).step_size == 0.05


# --- grad contexts -----------------------------------------------------------------------------


def test_attack_works_under_bf16_autocast():
    model, x, y = tiny_net(), edge_images(), labels()
    torch.manual_seed(0)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        x_adv = PGD()(model, x, y)
    assert x_adv.dtype == torch.float32
    assert (x_adv.double() - x.double()).abs().max().item() <= EPS
    assert bce(model, x_adv, y) > bce(model, x, y)


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode], ids=lambda c: c.__name__)
def test_attack_works_when_the_caller_disabled_grad(context):
    model, x, y = tiny_net(), edge_images(), labels()
    expected = PGD(random_start=False)(model, x, y)
    with context():
        # a batch built inside the context, as Lightning's predict and validation loops do
        x_ctx, y_ctx = x.clone(), y.clone()
        x_adv = PGD(random_start=False)(model, x_ctx, y_ctx)
    assert torch.equal(x_adv, expected)


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: PGD(eps=-0.1),
        lambda: PGD(eps=float("nan")),
        lambda: PGD(eps=float("inf")),
        lambda: PGD(step_size=0),
        lambda: PGD(step_size=-1 / 255),
        lambda: PGD(steps=0),
        lambda: PGD(steps=2.5),
        lambda: PGD(steps=True),
        lambda: PGD(eps="8/255"),
        lambda: FGSM(eps=-0.1),
        lambda: FGSM(step_size=0),
        lambda: FGSM(eps=0.0),
    ],
)
def test_invalid_arguments_raise_value_error(make):
    with pytest.raises(ValueError, match=r"eps|step_size|steps"):
        make()


def test_a_scaled_attack_is_the_same_attack_on_a_smaller_budget():
    """eps warm-up: half the budget means half the eps and half the step, same everything else."""
    for attack in (PGD(eps=EPS, step_size=2 / 255, steps=3), FGSM(eps=EPS)):
        half = attack.scaled(0.5)
        assert type(half) is type(attack) and (half.steps, half.random_start) == (
            attack.steps,
            attack.random_start,
        )
        assert half.eps == pytest.approx(attack.eps / 2)
        assert half.step_size == pytest.approx(attack.step_size / 2)
        assert attack.eps == EPS  # the original is untouched
        x = edge_images()
        assert (half(tiny_net(), x, labels()) - x).abs().max() <= half.eps
    with pytest.raises(ValueError, match="factor"):
        PGD().scaled(0.0)


def test_a_custom_objective_is_ascended_instead_of_the_bce():
    """TRADES's inner attack: `loss(logits, y)` with soft targets is what the steps maximise."""
    net, x = tiny_net(), edge_images()
    with torch.no_grad():
        target = net.eval()(x)

    def moved(logits: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return (logits - clean).pow(2).mean()

    x_adv = PGD(eps=EPS, steps=5)(net, x, target, loss=moved)
    with torch.no_grad():
        assert moved(net(x_adv), target) > moved(net(x), target)


def test_start_std_starts_near_the_input_as_trades_does():
    """With start_std and no steps the result is x + start_std * N(0, 1), seeded by torch."""
    x = torch.full((2, 3, 16, 16), 0.5)
    attack = PGD(eps=EPS, steps=1)
    attack.steps = 0  # only the start
    net = tiny_net()
    torch.manual_seed(3)
    start = attack(net, x, labels(2), start_std=0.001)
    torch.manual_seed(3)
    expected = x + 0.001 * torch.randn_like(x)
    torch.testing.assert_close(start, expected)
    assert (start - x).abs().max() < 0.01  # not the uniform draw in the whole ball


def test_eot_samples_average_each_steps_gradient_over_fresh_draws():
    """PGD(samples=k) costs k passes per step and, against a model that draws a random
    transformation per pass, follows the average gradient (EOT)."""
    calls = []

    class Noisy(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return (x * torch.randn(1)).mean(dim=(1, 2, 3))

    x = torch.full((2, 3, 4, 4), 0.5)
    attack = PGD(eps=8 / 255, step_size=2 / 255, steps=3, samples=4)
    x_adv = attack(Noisy(), x, torch.ones(2))
    assert len(calls) == 12 and attack.passes == 12
    assert (x_adv - x).abs().max() <= 8 / 255
    with pytest.raises(ValueError, match="samples"):
        PGD(samples=0)
