import inspect
import textwrap
from types import SimpleNamespace

import pytest
import torch

from napari_segreview.errors import FormatError, ModelLoadError
from napari_segreview.inference.models import load_model, select_device, select_output


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.head = torch.nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Net().eval()


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """A module `segreview_testnets` on sys.path with a factory building Net."""
    (tmp_path / "segreview_testnets.py").write_text(
        textwrap.dedent(
            """
            import torch

            {net_source}

            def build():
                return Net()

            def build_wider():
                net = Net()
                net.head = torch.nn.Conv2d(4, 3, 1)
                return net

            NOT_CALLABLE = 3
            """
        ).replace("{net_source}", textwrap.indent(inspect.getsource(Net), " " * 12).lstrip())
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "segreview_testnets:build"


jit_deprecated = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")


def _x():
    return torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@jit_deprecated
def test_torchscript_round_trip(tmp_path, net):
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    model = load_model(path)
    torch.testing.assert_close(model(_x()), net(_x()))
    assert not model.training


def test_torch_export_round_trip(tmp_path, net):
    path = tmp_path / "net.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    ep = torch.export.export(net, (_x(),), dynamic_shapes=({0: batch},))
    torch.export.save(ep, path)
    model = load_model(path)
    torch.testing.assert_close(model(_x()), net(_x()))
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 2, 8, 8)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd, "optimizer": {}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DataParallel
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
    ],
    ids=["bare", "state_dict", "model", "dataparallel", "nested-dataparallel"],
)
def test_factory_checkpoint_variants(tmp_path, net, factory, wrap):
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(net.state_dict()), path)
    model = load_model(path, factory=factory)
    torch.testing.assert_close(model(_x()), net(_x()))
    assert not model.training


def test_factory_callable(tmp_path, net):
    path = tmp_path / "ckpt.pth"
    torch.save(net.state_dict(), path)
    model = load_model(path, factory=Net)
    torch.testing.assert_close(model(_x()), net(_x()))


def test_state_dict_mismatch_lists_keys(tmp_path, net, factory):
    path = tmp_path / "ckpt.pth"
    sd = net.state_dict()
    sd.pop("head.bias")
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, path)
    with pytest.raises(ModelLoadError, match=r"missing head\.bias.*unexpected extra\.weight"):
        load_model(path, factory=factory)


def test_state_dict_wrong_shape(tmp_path, net, factory):
    path = tmp_path / "ckpt.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(ModelLoadError, match=r"wrong shape head\.weight \(2, 4, 1, 1\)"):
        load_model(path, factory="segreview_testnets:build_wider")


def test_many_missing_keys_are_listed_briefly(tmp_path, factory):
    path = tmp_path / "ckpt.pth"
    torch.save({f"w{i}": torch.zeros(1) for i in range(6)}, path)
    with pytest.raises(ModelLoadError, match=r"and 3 more") as err:
        load_model(path, factory=factory)
    assert "w5" not in str(err.value)


def test_not_a_state_dict(tmp_path, factory):
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(ModelLoadError, match="not a state dict"):
        load_model(path, factory=factory)


def test_pickled_module_is_refused_without_running_code(tmp_path, net, factory):
    path = tmp_path / "full.pth"
    torch.save(net, path)  # a whole pickled module: weights_only refuses it
    with pytest.raises(ModelLoadError, match="state_dict"):
        load_model(path, factory=factory)


def test_checkpoint_without_factory(tmp_path, net):
    path = tmp_path / "ckpt.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(ModelLoadError, match="factory="):
        load_model(path)


@jit_deprecated
def test_torchscript_with_factory_is_an_error(tmp_path, net, factory):
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    with pytest.raises(ModelLoadError, match="needs no factory"):
        load_model(path, factory=factory)


def test_file_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(ModelLoadError, match="is a folder"):
        load_model(tmp_path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello, not a model")
    with pytest.raises(ModelLoadError, match="not a TorchScript"):
        load_model(junk)
    junk2 = tmp_path / "junk.pt2"
    junk2.write_bytes(b"hello")
    with pytest.raises(ModelLoadError, match=r"torch\.export"):
        load_model(junk2)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_colon_here", "package.module:function"),
        ("segreview_no_such_module_xyz:build", "cannot be imported"),
        ("segreview_testnets:nope", "has no 'nope'"),
        ("segreview_testnets:NOT_CALLABLE", "not a function"),
    ],
)
def test_factory_errors(tmp_path, net, factory, spec, match):
    path = tmp_path / "ckpt.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(ModelLoadError, match=match):
        load_model(path, factory=spec)


def test_errors_are_format_errors():
    assert issubclass(ModelLoadError, FormatError)
    assert issubclass(ModelLoadError, ValueError)


def test_select_device(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    with pytest.raises(ModelLoadError, match=r"finds no CUDA GPU \(available: cpu\)"):
        select_device("cuda")
    with pytest.raises(ModelLoadError, match="MPS"):
        select_device("mps")
    with pytest.raises(ModelLoadError, match="not a device"):
        select_device("gpu please")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto") == torch.device("mps")


def _spec(key=None, index=None):
    return SimpleNamespace(output_key=key, output_index=index)


def test_select_output():
    a, b = torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)
    assert select_output(a, _spec()) is a
    assert select_output((a, b), _spec()) is a
    assert select_output([a, b], _spec(index=1)) is b
    assert select_output({"out": a, "aux": b}, _spec()) is a
    assert select_output({"out": a, "aux": b}, _spec(key="aux")) is b
    assert select_output({"logits": b, "meta": "x"}, _spec()) is b  # the only tensor


def test_select_output_errors():
    a = torch.zeros(1)
    with pytest.raises(ModelLoadError, match=r"keys \['x', 'y'\].*output_key 'out'"):
        select_output({"x": a, "y": a}, _spec(key="out"))
    with pytest.raises(ModelLoadError, match=r"keys \['x', 'y'\]: set input.output_key"):
        select_output({"x": a, "y": a}, _spec())
    with pytest.raises(ModelLoadError, match="2 outputs"):
        select_output((a, a), _spec(index=2))
    with pytest.raises(ModelLoadError, match="not a tensor"):
        select_output(("text", a), _spec())
    with pytest.raises(ModelLoadError, match="not a tensor, tuple or dict"):
        select_output(3.0, _spec())
