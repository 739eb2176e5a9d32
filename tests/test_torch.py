"""PyTorch both ways: ``to_torch()`` of every network, ``sn.from_torch`` of modules."""

from __future__ import annotations

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.features.patches import patch_spec

torch = pytest.importorskip("torch")

from tests.conftest import assert_rel  # noqa: E402

RNG = np.random.default_rng(5)


def _r(*shape):
    return RNG.standard_normal(shape)


def _cases():
    """(id, network, X for predict, X for the torch module, from_torch kwargs)."""
    X = _r(7, 5)
    sig5, sig6 = _r(7, 5), _r(7, 6)
    img = _r(7, 1, 4, 5)
    X3 = _r(7, 2, 9)
    X4 = _r(7, 2, 5, 6)
    out1 = patch_spec(X3.shape[1:], 3, 2, 1).out_shape
    out2 = patch_spec(X4.shape[1:], (2, 3), (1, 2), 1).out_shape
    return [
        ("linear_fc", sn.LinearFC([_r(5, 3), _r(3, 2)]), X, X, {}),
        ("linear_fc_scalar", sn.LinearFC([_r(5, 3), _r(3, 3), _r(3, 1)], scalar_output=True),
         X, X, {}),
        ("relu_mlp_bias", sn.ReLUMLP(_r(5, 4), _r(4), bias=_r(4)), X, X, {}),
        ("relu_mlp_vector", sn.ReLUMLP(_r(5, 4), _r(4, 2)), X, X, {}),
        ("circular_relu", sn.CircularReLUNet(_r(5, 4), _r(5, 4), _r(4)), X, X, {}),
        ("circular_cnn_odd", sn.CircularCNN([_r(3, 5), _r(3, 5)]), sig5, sig5[:, None], {}),
        ("circular_cnn_even_depth3", sn.CircularCNN([_r(3, 6), _r(3, 6), _r(3, 6)],
                                                    hidden="unit_norm"), sig6, sig6[:, None], {}),
        ("circular_cnn_2d", sn.CircularCNN([_r(2, 4, 5), _r(2, 4, 5)]), img, img, {}),
        ("linear_cnn_1d", sn.LinearCNN(_r(4, 2, 3), _r(4, *out1, 2), 2, 1, None,
                                       scalar_output=False), X3, X3, {}),
        ("linear_cnn_1d_sum", sn.LinearCNN(_r(4, 2, 3), _r(4, 1), 1, 0, "sum"), X3, X3, {}),
        ("linear_cnn_1d_mean", sn.LinearCNN(_r(4, 2, 3), _r(4, 1), 1, 0, "mean"), X3, X3, {}),
        ("linear_cnn_2d", sn.LinearCNN(_r(4, 2, 2, 3), _r(4, *out2, 1), (1, 2), 1, None),
         X4, X4, {"input_shape": X4.shape[1:]}),
        ("linear_cnn_2d_sum", sn.LinearCNN(_r(4, 2, 2, 3), _r(4, 1), 1, 0, "sum"), X4, X4, {}),
        ("relu_cnn_1d_sum", sn.ReLUCNN(_r(6, 4), _r(4), 3, 2, 1, "sum"), X3, X3, {}),
        ("relu_cnn_2d_mean", sn.ReLUCNN(_r(12, 4), _r(4), (2, 3), 1, 0, "mean"), X4, X4, {}),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_to_torch_forward_equals_predict_and_from_torch_inverts_it(case):
    _, net, X, Xt, kwargs = case
    module = net.to_torch()
    assert isinstance(module, torch.nn.Sequential)
    assert all(p.dtype == torch.float64 for p in module.parameters())
    with torch.no_grad():
        out = module(torch.as_tensor(Xt)).numpy()
    pred = net.predict(X)
    assert out.shape[0] == pred.shape[0] and out.size == pred.size
    scale = max(1.0, float(np.abs(pred).max()))
    np.testing.assert_allclose(out.reshape(pred.shape), pred, rtol=0, atol=1e-12 * scale)
    back = sn.from_torch(module, **kwargs)
    assert type(back) is type(net)
    assert len(back.weights) == len(net.weights)
    for a, b in zip(back.weights, net.weights):
        np.testing.assert_array_equal(a, b)


def test_conv_with_circular_padding_mode_is_read_as_circular_cnn():
    """A PyTorch user's circular convolution (padding_mode='circular', odd length)."""
    d, m = 7, 3
    conv = torch.nn.Conv1d(1, m, d, padding=d // 2, padding_mode="circular", bias=False,
                           dtype=torch.float64)
    module = torch.nn.Sequential(conv, torch.nn.Flatten(),
                                 torch.nn.Linear(m * d, 1, bias=False, dtype=torch.float64))
    X = _r(9, d)
    net = sn.from_torch(module)
    assert isinstance(net, sn.CircularCNN)
    with torch.no_grad():
        out = module(torch.as_tensor(X[:, None])).numpy()[:, 0]
    np.testing.assert_allclose(net.predict(X), out, rtol=0, atol=1e-12)


def test_certify_a_relu_network_trained_in_pytorch():
    """The certificate brackets the global optimum (found by the exhaustive convex program)
    and its upper bound is the PyTorch training objective, computed in PyTorch."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 2))
    y = np.maximum(X @ [1.0, -1.0], 0) - 0.5 * np.maximum(X @ [0.3, 1.0], 0)
    beta = 0.05
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 6, bias=True, dtype=torch.float64), torch.nn.ReLU(),
        torch.nn.Linear(6, 1, bias=False, dtype=torch.float64),
    )
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

    def objective():
        fit = 0.5 * torch.sum((model(Xt)[:, 0] - yt) ** 2)
        return fit + 0.5 * beta * sum(torch.sum(p**2) for p in model.parameters())

    for _ in range(300):  # plain gradient descent (torch.optim's first import is slow)
        model.zero_grad()
        objective().backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.02 * p.grad
    net = sn.from_torch(model, loss="squared")
    assert isinstance(net, sn.ReLUMLP) and net.bias is not None
    cert = sn.certify(net, X, y, beta)
    assert_rel(cert.upper_bound, float(objective().detach()), 1e-12, "torch objective")
    optimum = sn.ConvexReLU(X, y, beta, bias=True).solve(tol=1e-9)
    assert optimum.status == "optimal"
    tol = 1e-6 * max(1.0, optimum.objective)
    assert cert.lower_bound <= optimum.objective + tol
    assert optimum.objective <= cert.upper_bound + tol
    # the convex program's own network, sent through PyTorch and back, is certified optimal
    prog = sn.ConvexReLU(X, y, beta, bias=True)
    prog.solve(tol=1e-9)
    again = sn.certify(sn.from_torch(prog.network().to_torch()), X, y, beta, loss="squared")
    assert again.gap <= 1e-5 * max(1.0, optimum.objective)


def test_pytorchs_default_relu_network_with_an_output_bias():
    """PyTorch's default Linear, ReLU, Linear (biases everywhere), trained with weight decay
    on every parameter but the output bias: the output bias is read as the unpenalized
    offset, the loss is asked for (never assumed), and the certificate brackets the global
    optimum of the problem with an intercept (the exhaustive convex program)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 2))
    labels = np.where(X[:, 0] - 0.5 * X[:, 1] ** 2 + 0.3 > 0, 1.0, -1.0)
    beta = 0.2
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(2, 5, dtype=torch.float64), torch.nn.ReLU(),
                                torch.nn.Linear(5, 1, dtype=torch.float64))
    Xt, yt = torch.as_tensor(X), torch.as_tensor(labels)
    decayed = [model[0].weight, model[0].bias, model[2].weight]

    def objective():
        fit = torch.sum(torch.nn.functional.softplus(-yt * model(Xt)[:, 0]))
        return fit + 0.5 * beta * sum(torch.sum(p**2) for p in decayed)

    for _ in range(400):
        model.zero_grad()
        objective().backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
    unknown = sn.from_torch(model)
    assert unknown.offset is not None and unknown.loss is None
    with pytest.raises(sn.InvalidInputError, match="training loss of this ReLUMLP is unknown.*loss="):
        sn.certify(unknown, X, labels, beta)
    net = sn.from_torch(model, loss="logistic")
    np.testing.assert_allclose(net.predict(X), model(Xt).detach().numpy()[:, 0], atol=1e-12)
    cert = sn.certify(net, X, labels, beta)
    assert_rel(cert.upper_bound, float(objective().detach()), 1e-10, "torch objective")
    optimum = sn.ConvexReLU(X, labels, beta, loss="logistic", bias=True,
                            intercept=True).solve(tol=1e-9)
    assert cert.lower_bound <= optimum.objective * (1 + 1e-6) + 1e-8
    assert optimum.objective <= cert.upper_bound * (1 + 1e-6)
    # the global optimum's network through PyTorch (output bias = offset) and back
    prog = sn.ConvexReLU(X, labels, beta, loss="logistic", bias=True, intercept=True)
    prog.solve(tol=1e-9)
    module = prog.network().to_torch()
    assert module[-1].bias is not None
    again = sn.certify(sn.from_torch(module, loss="logistic"), X, labels, beta)
    assert again.relative_gap <= 1e-5
    with pytest.raises(sn.InvalidInputError, match="squared loss only"):
        sn.from_torch(torch.nn.Sequential(_lin(2, 1)), loss="logistic")


def test_modules_are_float64_unless_a_dtype_is_asked_for():
    """sdpnets' modules are float64 (a float32 tensor is refused by PyTorch itself);
    to_torch(dtype=torch.float32) takes float32 inputs and agrees to float32 precision."""
    rng = np.random.default_rng(4)
    net = sn.ReLUMLP(rng.standard_normal((3, 4)), rng.standard_normal(4),
                     bias=rng.standard_normal(4), offset=0.5)
    X = rng.standard_normal((6, 3))
    x32 = torch.as_tensor(X, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="dtype|Double|Float"):
        net.to_torch()(x32)
    module = net.to_torch(dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in module.parameters())
    np.testing.assert_allclose(module(x32).detach().numpy()[:, 0], net.predict(X), rtol=1e-5,
                               atol=1e-5)


def _lin(i, o, bias=False):
    return torch.nn.Linear(i, o, bias=bias, dtype=torch.float64)


@pytest.mark.parametrize(
    ("module", "match"),
    [
        (lambda: torch.nn.Sequential(_lin(3, 4), torch.nn.Tanh(), _lin(4, 1)),
         r"layer 1 \(Tanh"),
        (lambda: torch.nn.Sequential(_lin(3, 4), _lin(4, 1, bias=True)),
         r"layer 1 \(Linear.*has a bias"),
        (lambda: torch.nn.Sequential(_lin(3, 4), torch.nn.ReLU(), _lin(4, 4), torch.nn.ReLU(),
                                     _lin(4, 1)),
         r"layer 1 \(ReLU.*Linear, ReLU, Linear"),
        (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, dilation=2, bias=False),
                                     torch.nn.Flatten(), _lin(2, 1)),
         r"layer 0 \(Conv1d.*dilation"),
        (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, bias=False), torch.nn.ReLU(),
                                     torch.nn.MaxPool1d(2), torch.nn.Flatten(), _lin(2, 1)),
         r"layer 2 \(MaxPool1d"),
        (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, padding=2, padding_mode="circular",
                                                     bias=False), torch.nn.Flatten(), _lin(10, 1)),
         r"layer 0 \(Conv1d.*must cover the whole signal"),
        (lambda: torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, padding=1, padding_mode="circular",
                                                     bias=False), torch.nn.Flatten(), _lin(10, 1)),
         r"layer 2 \(Linear.*reads m \* d = 6 values"),
        (lambda: torch.nn.GRU(3, 4), r"GRU has its own forward"),
    ],
)
def test_unsupported_modules_name_the_layer_and_what_is_supported(module, match):
    with pytest.raises(sn.InvalidInputError, match=match) as info:
        sn.from_torch(module())
    assert "LinearFC:" in str(info.value) and "ReLUMLP:" in str(info.value)


def test_from_torch_refuses_non_modules_and_ambiguous_2d_layouts():
    with pytest.raises(sn.InvalidInputError, match="torch.nn.Module"):
        sn.from_torch(np.eye(3))
    net = sn.LinearCNN(_r(2, 1, 2, 2), _r(2, 3, 3, 1), 1, 0, None)
    with pytest.raises(sn.InvalidInputError, match=r"input_shape=\(C, H, W\)"):
        sn.from_torch(net.to_torch())
    with pytest.raises(sn.InvalidInputError, match="gives 16 positions"):
        sn.from_torch(net.to_torch(), input_shape=(1, 5, 5))


def test_relu_cnn_to_torch_spatial_dims():
    """An integer kernel on images: spatial_dims says the module is 2-D."""
    X = _r(5, 1, 4, 4)
    net = sn.ReLUCNN(_r(4, 3), _r(3), 2, 1, 0, "sum")
    module = net.to_torch(spatial_dims=2)
    assert isinstance(module[0], torch.nn.Conv2d)
    with torch.no_grad():
        out = module(torch.as_tensor(X)).numpy()[:, 0]
    np.testing.assert_allclose(out, net.predict(X), rtol=0, atol=1e-12 * max(1, np.abs(out).max()))
    with pytest.raises(sn.InvalidInputError, match="not a multiple of the kernel"):
        sn.ReLUCNN(_r(5, 3), _r(3), 2).to_torch(spatial_dims=2)
