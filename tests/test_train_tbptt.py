"""Truncated BPTT: equal to full BPTT when k1 = k2 = T, equal to a hand-written loop otherwise,
variable lengths, and the errors of issue 6."""

import copy

import pytest
import torch
from torch import nn
from train_helpers import PlainTagger, StatefulTagger, max_abs_diff

import rnnkit
from rnnkit.train import SGD, Adam, ArrayLoader, Trainer
from rnnkit.train.tbptt import TBPTT


def data(batch=4, steps=10, features=3, outputs=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, features, generator=g), torch.randn(batch, steps, outputs, generator=g)


def one_epoch(model, x, y, batch_size=4, **kwargs):
    trainer = Trainer(model, loss="mse", optimizer=SGD(learning_rate=0.5), progress=False, **kwargs)
    trainer.fit(ArrayLoader(x, y, batch_size=batch_size, shuffle=False), epochs=1)
    return trainer


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_k1_equal_k2_equal_T_is_full_bptt(cell):
    torch.manual_seed(0)
    x, y = data()
    full = PlainTagger(cell=cell)
    truncated = StatefulTagger(cell=cell)
    truncated.load_state_dict(full.state_dict())
    one_epoch(full, x, y)
    one_epoch(truncated, x, y, tbptt=(10, 10))
    assert max_abs_diff(full, truncated) < 1e-6
    assert max_abs_diff(full, PlainTagger(cell=cell)) > 1e-3  # a real step was taken


def test_a_plain_rnnkit_layer_is_stateful_out_of_the_box():
    torch.manual_seed(0)
    x, y = data(outputs=5)
    full, truncated = rnnkit.GRU(3, 5, batch_first=True), rnnkit.GRU(3, 5, batch_first=True)
    truncated.load_state_dict(full.state_dict())

    class Output(nn.Module):  # the full-BPTT twin: the layer's output only
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)[0]

    one_epoch(Output(full), x, y)
    one_epoch(truncated, x, y, tbptt=10)
    assert max_abs_diff(full, truncated) < 1e-6


def manual_tbptt(model, x, y, k1, k2, lr=0.5, clip_norm=None):
    """The trusted twin: the textbook loop, written out."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    state, steps = None, x.shape[1]
    for start in range(0, steps, k1):
        end = min(start + k1, steps)
        split = max(start, end - k2)
        optimizer.zero_grad()
        if split > start:
            with torch.no_grad():
                _, state = model(x[:, start:split], state=state)
        state = tuple(s.detach() for s in state) if state is not None else None
        out, state = model(x[:, split:end], state=state)
        loss = nn.functional.mse_loss(out, y[:, split:end])
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        state = tuple(s.detach() for s in state)
    return model


@pytest.mark.parametrize("k1,k2", [(3, 3), (4, 2), (10, 1), (7, 5)])
def test_truncation_equals_the_hand_written_loop_with_clipping(k1, k2):
    torch.manual_seed(1)
    x, y = data(steps=10)
    model = StatefulTagger()
    twin = copy.deepcopy(model)
    trainer = one_epoch(model, x * 3, y * 3, tbptt=(k1, k2), clip_norm=0.5)
    manual_tbptt(twin, x * 3, y * 3, k1, k2, clip_norm=0.5)
    assert max_abs_diff(model, twin) < 1e-5
    assert trainer.global_step == 1  # one batch (of several updates)


def test_variable_lengths_use_valid_steps_only():
    torch.manual_seed(2)
    x, y = data(steps=8)
    lengths = torch.tensor([8, 3, 5, 1])
    padded_x, padded_y = x.clone(), y.clone()
    for i, n in enumerate(lengths):  # what sits in the padding must not matter
        padded_x[i, n:] = 100.0
        padded_y[i, n:] = -100.0
    a, b = StatefulTagger(), StatefulTagger()
    b.load_state_dict(a.state_dict())
    for model, xs, ys in ((a, x, y), (b, padded_x, padded_y)):
        Trainer(model, loss="mse", optimizer=SGD(learning_rate=0.5), progress=False, tbptt=(3, 2)).fit(
            ArrayLoader((xs, lengths), ys, batch_size=4, shuffle=False), epochs=1)
    assert max_abs_diff(a, b) < 1e-6

    # with one window the masked loss equals the loss over the valid steps of a full forward
    full, truncated = PlainTagger(), StatefulTagger()
    truncated.load_state_dict(full.state_dict())
    valid = torch.arange(8).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)

    def masked_mse(outputs, targets):
        return nn.functional.mse_loss(outputs[valid], targets[valid])

    Trainer(full, loss=masked_mse, optimizer=SGD(learning_rate=0.5), progress=False).fit(
        ArrayLoader((x, lengths), y, batch_size=4, shuffle=False), epochs=1)
    Trainer(truncated, loss="mse", optimizer=SGD(learning_rate=0.5), progress=False, tbptt=(8, 8)).fit(
        ArrayLoader((x, lengths), y, batch_size=4, shuffle=False), epochs=1)
    assert max_abs_diff(full, truncated) < 1e-6


def test_finished_samples_keep_their_final_state_across_windows():
    torch.manual_seed(3)
    x, _ = data(steps=9)
    lengths = torch.tensor([9, 2, 4, 7])
    layer = rnnkit.LSTM(3, 4, batch_first=True)
    config = TBPTT.from_argument((3, 3), layer)
    state = None
    with torch.no_grad():
        for start in range(0, 9, 3):
            _, state = config._run(config._adapter, [x], lengths, state, start, start + 3, 1)
        _, expected = layer(x, lengths=lengths)  # each sample's state at its own last step
    assert all(torch.allclose(s, e, atol=1e-6) for s, e in zip(state, expected))


def test_tbptt_training_learns_a_dependency_across_windows():
    torch.manual_seed(4)
    x = torch.randn(64, 12, 1)
    y = torch.cat([torch.zeros(64, 1, 1), x[:, :-1]], dim=1)  # output the previous input
    trainer = Trainer(StatefulTagger(features=1, hidden=8, outputs=1), loss="mse", optimizer=Adam(learning_rate=0.03),
                      progress=False, tbptt=(4, 4), seed=0)
    history = trainer.fit(ArrayLoader(x, y, batch_size=16, seed=0), epochs=8)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert trainer.predict(x).shape == (64, 12, 1)
    assert trainer.evaluate(ArrayLoader(x, y))["loss"] < history.history["loss"][0]


class LastStep(nn.Module):
    """Many-to-one under the protocol: a prediction from the final state."""

    def __init__(self):
        super().__init__()
        self.rnn = rnnkit.GRU(3, 6, batch_first=True)
        self.head = nn.Linear(6, 1)

    def forward(self, x, state=None):
        _, state = self.rnn(x, state)
        return self.head(state[-1]), state


def test_sequence_level_targets_train_on_the_last_window():
    torch.manual_seed(5)
    x, y = torch.randn(8, 10, 3), torch.randn(8, 1)
    full, truncated = LastStep(), LastStep()
    truncated.load_state_dict(full.state_dict())

    class Plain(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)[0]

    one_epoch(Plain(full), x, y, batch_size=8)
    one_epoch(truncated, x, y, batch_size=8, tbptt=(10, 10))
    assert max_abs_diff(full, truncated) < 1e-6
    one_epoch(truncated, x, y, batch_size=8, tbptt=(4, 2))  # earlier windows only advance the state


def test_bad_tbptt_arguments_and_models():
    model = StatefulTagger()
    with pytest.raises(ValueError, match=r"expected k2 <= k1.*got k1=3, k2=5"):
        Trainer(model, tbptt=(3, 5))
    with pytest.raises(ValueError, match=r"expected positive integers \(k1, k2\), got k1=0"):
        Trainer(model, tbptt=(0, 0))
    with pytest.raises(ValueError, match=r"expected positive integers \(k1, k2\), got k2=-1"):
        Trainer(model, tbptt=(4, -1))
    with pytest.raises(ValueError, match=r"argument `tbptt`: expected \(k1, k2\)"):
        Trainer(model, tbptt="long")
    with pytest.raises(ValueError, match="carries no recurrent state: Linear: it has no recurrent layer"):
        Trainer(nn.Linear(3, 2), tbptt=(4, 4))
    with pytest.raises(ValueError, match=r"carries no recurrent state: PlainTagger: its forward\(\) has no `state` argument"):
        Trainer(PlainTagger(), tbptt=(4, 4))

    class NoState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x, state=None):
            return self.lin(x), None

    x, y = data()
    with pytest.raises(ValueError, match="NoState returned state None"):
        Trainer(NoState(), tbptt=(4, 4), progress=False).fit(ArrayLoader(x, y), epochs=1)
    with pytest.raises(ValueError, match="lengths.*LastStep.forward accepts no `lengths` argument"):
        Trainer(LastStep(), tbptt=(4, 4), progress=False).fit(ArrayLoader((x, torch.tensor([10, 3, 4, 5])), y[:, :, :1]), epochs=1)
    with pytest.raises(ValueError, match="sequence-level targets with variable lengths are not supported"):
        Trainer(model, tbptt=(4, 4), progress=False).fit(ArrayLoader((x, torch.tensor([10, 3, 4, 5])), y[:, 0]), epochs=1)


def test_a_recurrent_stack_with_namedtuple_states_trains_by_windows():
    from rnnkit import RecurrentStack

    torch.manual_seed(6)
    x, y = data(steps=9, outputs=4)
    full = RecurrentStack("lstm", 3, [5, 4], batch_first=True)
    truncated = RecurrentStack("lstm", 3, [5, 4], batch_first=True)
    truncated.load_state_dict(full.state_dict())

    class Output(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)[0]

    one_epoch(Output(full), x, y)
    one_epoch(truncated, x, y, tbptt=9)
    assert max_abs_diff(full, truncated) < 1e-6
    lengths = torch.tensor([9, 2, 5, 7])
    trainer = Trainer(truncated, loss="mse", optimizer="sgd", tbptt=(4, 3), clip_value=1.0, progress=False)
    history = trainer.fit(ArrayLoader((x, lengths), y, batch_size=2), epochs=1)
    assert len(history.history["loss"]) == 1
