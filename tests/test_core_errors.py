"""Every bad input named in the core engine issue gets a message naming the argument,
the expected and the received value."""

import pytest
import torch

import rnnkit
from rnnkit.cells import LSTMCell
from rnnkit.layers import Recurrent, RecurrentStack


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, batch_first=True)


def test_input_of_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"`input`.*2-D or 3-D.*shape \(2, 3, 4, 3\)"):
        lstm(torch.randn(2, 3, 4, 3))
    with pytest.raises(ValueError, match=r"`inputs`.*3-D.*shape \(5, 3\)"):
        Recurrent(LSTMCell(3, 4))(torch.randn(5, 3))


def test_input_of_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"`input`.*input_size=3.*shape \(2, 5, 7\)"):
        lstm(torch.randn(2, 5, 7))


def test_integer_input(lstm):
    with pytest.raises(TypeError, match=r"`input`.*floating-point.*torch.int64"):
        lstm(torch.ones(2, 5, 3, dtype=torch.int64))


def test_empty_batch_and_zero_length_sequence(lstm):
    with pytest.raises(ValueError, match=r"`input`.*non-empty batch.*shape \(0, 5, 3\)"):
        lstm(torch.randn(0, 5, 3))
    with pytest.raises(ValueError, match=r"`input`.*at least one time step.*shape \(2, 0, 3\)"):
        lstm(torch.randn(2, 0, 3))


@pytest.mark.parametrize("lengths,error,pattern", [
    (torch.tensor([5, 5, 5]), ValueError, r"`lengths`.*shape \(2,\).*got shape \(3,\)"),
    (torch.tensor([[5, 5]]), ValueError, r"`lengths`.*shape \(2,\).*got shape \(1, 2\)"),
    (torch.tensor([5.0, 2.0]), TypeError, r"`lengths`.*integer.*torch.float32"),
    ([5, 2.5], TypeError, r"`lengths`.*integers.*2.5"),
    (torch.tensor([5, 0]), ValueError, r"`lengths`.*>= 1.*length of 0"),
    (torch.tensor([5, -2]), ValueError, r"`lengths`.*>= 1.*length of -2"),
    (torch.tensor([6, 2]), ValueError, r"`lengths`.*<= the sequence length 5.*length of 6"),
    ("5", TypeError, r"`lengths`.*1-D integer tensor or list.*str"),
])
def test_bad_lengths(lstm, lengths, error, pattern):
    with pytest.raises(error, match=pattern):
        lstm(torch.randn(2, 5, 3), lengths=lengths)


def test_state_of_wrong_shape_or_device_or_dtype(lstm):
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"`hx` \(h_0\).*expected shape \(1, 2, 4\).*got shape \(1, 3, 4\)"):
        lstm(x, (torch.zeros(1, 3, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match=r"`hx` \(c_0\).*expected shape \(1, 2, 4\).*got shape \(2, 2, 4\)"):
        lstm(x, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4)))
    with pytest.raises(TypeError, match=r"`hx`.*tuple \(h_0, c_0\)"):
        lstm(x, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"`hx` \(h_0\).*on cpu.*on meta"):
        lstm(x, (torch.zeros(1, 2, 4, device="meta"), torch.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match=r"`hx` \(h_0\).*dtype torch.float32.*torch.float64"):
        lstm(x, (torch.zeros(1, 2, 4, dtype=torch.float64), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match=r"`state`.*expected shape \(2, 4\).*got shape \(2, 5\)"):
        Recurrent(LSTMCell(3, 4), batch_first=True)(x, (torch.zeros(2, 5), torch.zeros(2, 4)))


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU, rnnkit.RNN])
@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8"])
def test_hidden_size_and_num_layers_must_be_positive_integers(cls, value):
    with pytest.raises(ValueError, match=rf"`hidden_size`.*positive integer.*{value!r}".replace("(", r"\(")):
        cls(3, value)
    with pytest.raises(ValueError, match=r"`num_layers`.*positive integer"):
        cls(3, 4, num_layers=value)


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.2"])
def test_dropout_outside_unit_interval(value):
    with pytest.raises(ValueError, match=r"`dropout`.*\[0, 1\].*" + repr(value).replace(".", r"\.")):
        rnnkit.LSTM(3, 4, num_layers=2, dropout=value)
    with pytest.raises(ValueError, match=r"`dropout`"):
        RecurrentStack("gru", 3, [4, 4], dropout=value)


def test_unknown_nonlinearity_and_init_name():
    with pytest.raises(ValueError, match=r"`nonlinearity`.*\['relu', 'tanh'\].*'sigmoid'"):
        rnnkit.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"`init`.*'xavier_uniform'.*got 'xavier'"):
        rnnkit.LSTM(3, 4, init="xavier")
    with pytest.raises(ValueError, match=r"`activation`.*got 'tanhh'"):
        rnnkit.GRU(3, 4, activation="tanhh")


def test_proj_size_must_be_smaller_than_hidden_size():
    with pytest.raises(ValueError, match=r"`proj_size`.*smaller than hidden_size=4.*got 4"):
        rnnkit.LSTM(3, 4, proj_size=4)


def test_packed_input_with_lengths_is_refused(lstm):
    from torch.nn.utils.rnn import pack_padded_sequence

    packed = pack_padded_sequence(torch.randn(2, 5, 3), [5, 3], batch_first=True)
    with pytest.raises(ValueError, match=r"PackedSequence `input` and `lengths`"):
        lstm(packed, lengths=torch.tensor([5, 3]))
