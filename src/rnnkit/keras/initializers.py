"""Keras initializers by name or object. Each returns a float32 tensor of the Keras shape it is
asked for (a Dense kernel is (in, out), a recurrent kernel (units, gates*units)); layers store
the transpose where torch's layout differs.

Fans follow Keras: for a 2-D shape (in, out), fan_in = in and fan_out = out.
"""

from __future__ import annotations

import math

import torch


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype=torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class Zeros(Initializer):
    def __call__(self, shape, dtype=torch.float32):
        return torch.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=torch.float32):
        return torch.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=torch.float32):
        return torch.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=torch.float32):
        return torch.empty(shape, dtype=dtype).uniform_(self.minval, self.maxval, generator=_generator(self.seed))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=torch.float32):
        return torch.empty(shape, dtype=dtype).normal_(self.mean, self.stddev, generator=_generator(self.seed))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Draws with variance ``scale / n`` where n is fan_in, fan_out or their mean."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=torch.float32):
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        gen = _generator(self.seed)
        out = torch.empty(shape, dtype=dtype)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return out.uniform_(-limit, limit, generator=gen)
        if self.distribution == "untruncated_normal":
            return out.normal_(0.0, math.sqrt(variance), generator=gen)
        # 0.8796... is the std of a unit normal truncated to [-2, 2]
        std = math.sqrt(variance) / 0.87962566103423978
        torch.nn.init.trunc_normal_(out, 0.0, std, -2 * std, 2 * std, generator=gen)
        return out

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def GlorotUniform(seed=None):
    return _named(VarianceScaling(1.0, "fan_avg", "uniform", seed), "GlorotUniform")


def GlorotNormal(seed=None):
    return _named(VarianceScaling(1.0, "fan_avg", "truncated_normal", seed), "GlorotNormal")


def HeUniform(seed=None):
    return _named(VarianceScaling(2.0, "fan_in", "uniform", seed), "HeUniform")


def HeNormal(seed=None):
    return _named(VarianceScaling(2.0, "fan_in", "truncated_normal", seed), "HeNormal")


def LecunUniform(seed=None):
    return _named(VarianceScaling(1.0, "fan_in", "uniform", seed), "LecunUniform")


def LecunNormal(seed=None):
    return _named(VarianceScaling(1.0, "fan_in", "truncated_normal", seed), "LecunNormal")


class Orthogonal(Initializer):
    """An orthogonal matrix (Saxe et al. 2014) of the Keras shape, times ``gain``."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=torch.float32):
        out = torch.empty(shape, dtype=dtype)
        if self.seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                return torch.nn.init.orthogonal_(out, self.gain)
        return torch.nn.init.orthogonal_(out, self.gain)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


def _named(init: Initializer, name: str) -> Initializer:
    init.keras_name = name
    return init


def _generator(seed):
    if seed is None:
        return None
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


# Keras' lower-case aliases: kernel_initializer=glorot_uniform()
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, orthogonal, zeros, ones = LecunUniform, LecunNormal, Orthogonal, Zeros, Ones

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "random_normal": RandomNormal, "uniform": RandomUniform, "normal": RandomNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "xavier_uniform": GlorotUniform,
    "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "variance_scaling": VarianceScaling,
}


def get(identifier, *, argument: str = "initializer") -> Initializer:
    """An initializer from a name ('glorot_uniform', 'GlorotUniform'), an object or a callable."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, (str, type))):
        return identifier
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else snake(identifier)
        if key in _BY_NAME:
            return _BY_NAME[key]()
    raise ValueError(
        f"Received an invalid value for argument `{argument}`: expected an initializer name such as "
        f"one of {sorted(_BY_NAME)} or an initializer object, got {identifier!r}."
    )


def snake(name: str) -> str:
    from rnnkit.keras.engine import snake_case

    return snake_case(name)


def serialize(init) -> dict | str:
    if hasattr(init, "keras_name"):
        return {"class_name": init.keras_name, "config": {"seed": init.seed}}
    return {"class_name": type(init).__name__, "config": init.get_config()}


def deserialize(config):
    if isinstance(config, dict):
        key = snake(config["class_name"])
        cls = _BY_NAME.get(key)
        if cls is None:
            raise ValueError(f"Unknown initializer class {config['class_name']!r} in a saved config.")
        return cls(**config.get("config", {}))
    return get(config)
