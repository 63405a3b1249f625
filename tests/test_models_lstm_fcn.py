"""LSTM-FCN (classifier with conv=True) and patching: shapes, masks, a plain twin, save/load, bad input."""

import pytest
import torch
from torch import nn

from rnnkit.models import ClassifierConfig, SequenceClassifier
from rnnkit.models.conv import ConvBranch, MaskedBatchNorm1d, patch_steps


def make(**kw):
    torch.manual_seed(0)
    base = dict(num_classes=3, input_size=2, hidden_size=6, conv=True, conv_filters=(5, 7, 4), conv_kernels=(8, 5, 3))
    base.update(kw)
    return SequenceClassifier(ClassifierConfig(**base))


def train_briefly(model, x, lengths=None, steps=3):
    """A few optimizer steps in training mode, so the batch norms hold non-trivial running statistics."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        model(x, lengths).logsumexp(dim=-1).mean().backward()
        optimizer.step()
    return model.eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("patch", [1, 4])
def test_shapes_for_any_cell_features_and_tokens(cell, patch):
    model = make(cell=cell, patch=patch, bidirectional=True, pooling="mean")
    assert model.summarize(torch.randn(5, 13, 2), lengths=[13, 1, 3, 9, 2]).shape == (5, 2 * 6 + 4)
    assert model(torch.randn(5, 13, 2), lengths=[13, 1, 3, 9, 2]).shape == (5, 3)
    assert model.encoder.rnn.input_size == 2 * patch
    tokens = make(cell=cell, patch=patch, input_size=None, vocab_size=11, padding_idx=0, embedding_size=3)
    assert tokens(torch.randint(0, 11, (5, 7))).shape == (5, 3)


def test_defaults_are_the_papers_filters_and_kernels():
    model = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=1, conv=True))
    assert [c.out_channels for c in model.conv.convs] == [128, 256, 128]
    assert [c.kernel_size[0] for c in model.conv.convs] == [8, 5, 3]
    assert model.head.in_features == 64 + 128
    assert SequenceClassifier(ClassifierConfig(num_classes=2, input_size=1)).conv is None


@pytest.mark.parametrize("patch", [1, 3])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padded_batch_equals_each_sample_alone(patch, pooling):
    x = torch.randn(4, 11, 2)
    lengths = torch.tensor([11, 2, 7, 5])
    model = train_briefly(make(patch=patch, pooling=pooling, cell="gru", bidirectional=True), x, lengths)
    batched = model(x, lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(batched[i:i + 1], model(x[i:i + 1, :n]), rtol=1e-5, atol=1e-5)
    garbage = x.clone()
    garbage[1, 2:] = 100.0  # padded steps: neither the convolutions nor the pooling may read them
    garbage[3, 5:] = -50.0
    torch.testing.assert_close(model(garbage, lengths=lengths), batched)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # the twin's padding="same" with an even kernel
def test_conv_branch_equals_plain_torch_layers_without_padding():
    torch.manual_seed(1)
    branch = ConvBranch(3, (6, 8), (8, 5))
    twin = nn.ModuleList([nn.Conv1d(3, 6, 8, padding="same", bias=False), nn.BatchNorm1d(6),
                          nn.Conv1d(6, 8, 5, padding="same", bias=False), nn.BatchNorm1d(8)])
    twin.load_state_dict({f"{i}.{k}": v for i, module in enumerate([branch.convs[0], branch.norms[0], branch.convs[1],
                                                                     branch.norms[1]])
                          for k, v in module.state_dict().items()})

    def plain(x):  # (B, T, 3)
        u = x.transpose(1, 2)
        u = torch.relu(twin[1](twin[0](u)))
        u = torch.relu(twin[3](twin[2](u)))
        return u.mean(dim=2)

    x = torch.randn(4, 10, 3)
    mask = torch.ones(4, 10, dtype=torch.bool)
    for training in (True, False):  # training: batch statistics (and running ones updated alike); eval: running
        branch.train(training), twin.train(training)
        torch.testing.assert_close(branch(x, mask), plain(x), rtol=1e-5, atol=1e-6)
    for ours, theirs in ((branch.norms[0], twin[1]), (branch.norms[1], twin[3])):
        torch.testing.assert_close(ours.running_mean, theirs.running_mean)
        torch.testing.assert_close(ours.running_var, theirs.running_var)
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 1


def test_masked_batch_norm_counts_only_valid_steps():
    torch.manual_seed(2)
    norm, twin = MaskedBatchNorm1d(3), nn.BatchNorm1d(3)
    x = torch.randn(3, 3, 6)
    lengths = [6, 2, 4]
    mask = torch.arange(6)[None, :] < torch.tensor(lengths)[:, None]
    valid = torch.cat([x[i, :, :n] for i, n in enumerate(lengths)], dim=1)[None]  # (1, 3, 12): the valid steps only
    out = norm(x, mask)
    expected = twin(valid)[0]
    torch.testing.assert_close(torch.cat([out[i, :, :n] for i, n in enumerate(lengths)], dim=1), expected)
    torch.testing.assert_close(norm.running_mean, twin.running_mean)
    torch.testing.assert_close(norm.running_var, twin.running_var)


def test_gradients_do_not_flow_from_padded_steps():
    model = make(patch=2).train()
    x = torch.randn(3, 9, 2, requires_grad=True)
    model(x, lengths=[9, 4, 6]).sum().backward()
    assert x.grad[1, 4:].abs().max() == 0 and x.grad[2, 6:].abs().max() == 0
    assert x.grad[1, :4].abs().max() > 0


def test_patch_steps_matches_reshaping_by_hand():
    x = torch.arange(2 * 7 * 1, dtype=torch.float32).reshape(2, 7, 1)
    patched, lengths = patch_steps(x, torch.tensor([7, 3]), 3)
    assert patched.shape == (2, 3, 3) and lengths.tolist() == [3, 1]
    assert patched[0].tolist() == [[0, 1, 2], [3, 4, 5], [6, 0, 0]]
    assert patched[1, 0].tolist() == [7, 8, 9] and patched[1, 1:].abs().max() == 0  # past length 3: zeros
    same, none = patch_steps(x, None, 1)
    assert same is x and none is None


def test_config_round_trip_and_save_load(tmp_path):
    from safetensors.torch import load_file, save_file

    x = torch.randn(3, 12, 2)
    model = train_briefly(make(patch=4), x)
    config = ClassifierConfig.from_dict(model.config.to_dict())
    assert config == model.config and config.conv_filters == (5, 7, 4)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    again = SequenceClassifier(config)
    again.load_state_dict(load_file(str(tmp_path / "w.safetensors")))
    again.eval()
    torch.testing.assert_close(again(x), model(x))


def test_bad_configs_name_the_argument():
    with pytest.raises(ValueError, match=r"`conv_kernels`.*one kernel size per convolution \(3"):
        make(conv_kernels=(8, 5))
    with pytest.raises(ValueError, match=r"`conv_filters`.*positive integers.*\(128, 0\)"):
        make(conv_filters=(128, 0), conv_kernels=(8, 5))
    with pytest.raises(ValueError, match="`patch`"):
        make(patch=0)
    with pytest.raises(TypeError, match="`conv`"):
        make(conv="yes")
    with pytest.raises(ValueError, match=r"`mask`.*\(2, 5\)"):
        ConvBranch(1)(torch.randn(2, 5, 1), torch.ones(2, 4, dtype=torch.bool))


def test_streaming_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="conv=True.*cannot run one step at a time"):
        make().stream(2)
    with pytest.raises(ValueError, match="patch > 1"):
        make(conv=False, patch=2).stream(2)
