"""Models: a fully connected network and two small convolutional networks.

Every model here is a plain object with two pure functions, in the manner of
optax and the stax-style libraries::

    params = model.init(key, input_dim)   # a pytree (a list of dicts of arrays)
    out = model.apply(params, x)          # x of shape (n, input_dim) -> out of shape (n,)

so that ``model.apply`` is an ``apply_fn(params, x) -> (n,)`` usable with
everything in :mod:`lplr_core` (NTKs, diagnostics, training). Any other function
with that signature works too; only the ``"structured"`` NTK method needs to
know that it is looking at an :class:`MLP`.

Outputs are scalar: one real number per sample, the setting of the paper.

``apply`` is a pure function of ``(params, x)``: it can be jitted, vmapped (over a
batch of parameter pytrees stacked on a leading axis, or over inputs) and
differentiated in ``params`` and ``x``; its shape checks are static, so they run
under those transformations too. ``init`` takes an int seed or a ``jax.random`` key
(a traced key or seed inside ``jit``/``vmap`` works, e.g. ``jax.vmap(lambda k:
mlp.init(k, d))(keys)``).

:func:`model_of` tells which of these models a function computes, through
``jax.jit``/``functools.partial`` wrappers: the ``"structured"`` NTK uses it.
"""

from __future__ import annotations

import math
import functools
from dataclasses import dataclass
from typing import Any, Callable, Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax.typing import ArrayLike

from lplr_core._validation import (
    check_choice,
    describe,
    check_float_dtype,
    check_int,
    check_key,
    check_real,
    check_sequence_of_ints,
)
from lplr_core.tree_math import PyTree

__all__ = ["Activation", "Parameterization", "ACTIVATIONS", "ACTIVATION_NAMES",
           "PARAMETERIZATIONS", "MLP", "CNN", "ResNetCNN", "Model", "model_of", "param_count",
           "activation_fn", "avg_pool2"]

#: The activation names (a ``Literal`` type for annotations).
Activation = Literal["relu", "tanh", "erf", "gelu", "softplus", "linear"]
#: The parameterization names (a ``Literal`` type for annotations).
Parameterization = Literal["ntk", "standard"]

#: The activation names as a tuple, in the order of :data:`Activation`.
ACTIVATION_NAMES: tuple[str, ...] = get_args(Activation)
#: The parameterization names, in the order of :data:`Parameterization`.
PARAMETERIZATIONS: tuple[str, ...] = get_args(Parameterization)

_ACTIVATION_FUNCTIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "erf": jax.scipy.special.erf,
    "gelu": lambda h: jax.nn.gelu(h, approximate=False),
    "softplus": jax.nn.softplus,
    "linear": lambda h: h,
}
#: Elementwise nonlinearities by name (keys: :data:`ACTIVATION_NAMES`). "gelu" is the
#: exact (erf-based) GELU, so that its derivative is smooth and its Gaussian
#: expectations are well defined.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    name: _ACTIVATION_FUNCTIONS[name] for name in ACTIVATION_NAMES}
assert set(ACTIVATIONS) == set(_ACTIVATION_FUNCTIONS)


def activation_fn(name: Activation) -> Callable[[jax.Array], jax.Array]:
    """The elementwise function registered under ``name`` in :data:`ACTIVATIONS`."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]


def param_count(params: PyTree) -> int:
    """Number of scalar parameters ``p`` in a pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def _check_common(activation: Any, parameterization: Any, w_std: Any, b_std: Any):
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    w_std = check_real("w_std", w_std, minimum=0.0, strict_min=True)
    b_std = check_real("b_std", b_std, minimum=0.0)
    return w_std, b_std


def _check_layers(params: Any, expected: list, model: str) -> None:
    """Static shape check of a model's parameters (shapes only: safe under ``jit``).

    ``expected`` lists ``(path, w_shape, b_shape)`` with ``path`` a tuple of
    keys into ``params``. Parameters of another model, or of the same model with
    other widths, would otherwise fail deep inside JAX or, worse, silently
    compute a different network.
    """
    def fail(why):
        raise ValueError(f"params must be the parameters returned by {model}.init; {why}")

    for path, w_shape, b_shape in expected:
        node, where = params, "params"
        for key in path:
            if isinstance(key, int):
                ok = isinstance(node, (list, tuple)) and key < len(node)
            else:
                ok = isinstance(node, dict) and key in node
            if not ok:
                fail(f"{where} has no entry {key!r} (got {describe(node)})")
            node, where = node[key], f"{where}[{key!r}]"
        if not isinstance(node, dict) or set(node) != {"w", "b"}:
            fail(f"{where} must be a dict with keys 'w' and 'b'; got {describe(node)}")
        for name, shape in (("w", w_shape), ("b", b_shape)):
            got = tuple(np.shape(node[name]))
            if got != shape:
                fail(f"{where}[{name!r}] has shape {got}, expected {shape}")


def _check_length(params: Any, length: int, model: str) -> None:
    if not isinstance(params, (list, tuple)) or len(params) != length:
        got = describe(params) if not isinstance(params, (list, tuple)) else \
            f"a {type(params).__name__} of length {len(params)}"
        raise ValueError(f"params must be the list of {length} layers returned by "
                         f"{model}.init; got {got}")


def _key(name: str, key: Any) -> jax.Array:
    """A PRNG key from a key or an int seed; a traced int seed (inside ``jit``/``vmap``)
    becomes a key without the range check, which needs its value."""
    if isinstance(key, jax.core.Tracer) and key.shape == () and jnp.issubdtype(
            key.dtype, jnp.integer):
        return jax.random.PRNGKey(key)
    return check_key(name, key)


def _check_x(x: Any, input_dim: int, model: str) -> jax.Array:
    """Static shape check used inside ``apply`` (safe under ``jit``)."""
    if not hasattr(x, "ndim"):
        x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, {input_dim}) for this {model}; "
                         f"got shape {tuple(x.shape)}")
    if x.shape[1] != input_dim:
        raise ValueError(f"x must have {input_dim} features for these params; "
                         f"got shape {tuple(x.shape)}")
    return x


@dataclass(frozen=True)
class MLP:
    r"""A fully connected network with scalar output.

    With hidden widths ``widths = (n_1, ..., n_L)``, input dimension ``n_0 = d``,
    ``n_{L+1} = 1``, activation :math:`\phi`, weight scale :math:`\sigma_w`
    (``w_std``) and bias scale :math:`\sigma_b` (``b_std``), the forward pass is,
    for :math:`l = 1, \dots, L+1` with :math:`x^{(0)} = x`,

    * ``parameterization="ntk"`` (Jacot et al. 2018):
      :math:`h^{(l)} = \frac{\sigma_w}{\sqrt{n_{l-1}}} W^{(l)} x^{(l-1)} + \sigma_b b^{(l)}`,
      with every entry of :math:`W^{(l)}` and :math:`b^{(l)}` drawn i.i.d. from
      :math:`\mathcal N(0, 1)`;
    * ``parameterization="standard"``:
      :math:`h^{(l)} = W^{(l)} x^{(l-1)} + b^{(l)}` with
      :math:`W^{(l)}_{ij} \sim \mathcal N(0, \sigma_w^2 / n_{l-1})` and
      :math:`b^{(l)}_i \sim \mathcal N(0, \sigma_b^2)`;

    and :math:`x^{(l)} = \phi(h^{(l)})` for :math:`l \le L`; the output is
    :math:`f(x; \theta) = h^{(L+1)}`. Both parameterizations define the same
    function at initialization; they differ in their gradients, hence in the NTK
    and in the step sizes gradient descent tolerates. ``widths=()`` is the linear
    model :math:`f(x) = \frac{\sigma_w}{\sqrt d} w^\top x + \sigma_b b` (ntk).

    Parameters are stored as a list of ``{"w": (n_{l-1}, n_l), "b": (n_l,)}``
    dicts, first layer first.

    Args:
      widths: hidden-layer widths, an int or a sequence of ints ``>= 1`` (may be
        empty for a linear model).
      activation: one of ``"relu"``, ``"tanh"``, ``"erf"``, ``"gelu"``,
        ``"softplus"``, ``"linear"``.
      parameterization: ``"ntk"`` or ``"standard"``.
      w_std: :math:`\sigma_w > 0`.
      b_std: :math:`\sigma_b \ge 0` (``0`` removes the biases' effect in the ntk
        parameterization and zero-initializes them in the standard one).

    Examples:
      >>> import jax.numpy as jnp
      >>> from lplr_core.models import MLP
      >>> mlp = MLP((16,), "tanh")
      >>> params = mlp.init(0, 3)          # an int seed or a jax.random key
      >>> [layer["w"].shape for layer in params]
      [(3, 16), (16, 1)]
      >>> mlp.apply(params, jnp.ones((5, 3))).shape
      (5,)
    """

    widths: tuple[int, ...]
    activation: Activation = "relu"
    parameterization: Parameterization = "ntk"
    w_std: float = 1.0
    b_std: float = 0.1

    def __init__(self, widths: int | tuple[int, ...] = (), activation: Activation = "relu",
                 parameterization: Parameterization = "ntk", *, w_std: float = 1.0,
                 b_std: float = 0.1):
        if isinstance(widths, (tuple, list)) and len(widths) == 0:
            widths = ()
        else:
            widths = check_sequence_of_ints("widths", widths, minimum=1)
        w_std, b_std = _check_common(activation, parameterization, w_std, b_std)
        object.__setattr__(self, "widths", tuple(widths))
        object.__setattr__(self, "activation", activation)
        object.__setattr__(self, "parameterization", parameterization)
        object.__setattr__(self, "w_std", w_std)
        object.__setattr__(self, "b_std", b_std)

    @property
    def depth(self) -> int:
        """Number of hidden layers ``L``."""
        return len(self.widths)

    def layer_sizes(self, input_dim: int) -> tuple[int, ...]:
        """``(n_0, n_1, ..., n_L, 1)``."""
        return (input_dim, *self.widths, 1)

    def init(self, key: ArrayLike, input_dim: int, *, dtype: Any = None
             ) -> list[dict[str, jax.Array]]:
        """Draw parameters; see the class docstring for the variances.

        Args:
          key: a ``jax.random`` key or a non-negative int seed (traced keys and seeds
            work under ``jax.jit`` and ``jax.vmap``).
          input_dim: the input dimension ``d >= 1``.
          dtype: floating dtype of the parameters (default: JAX's default float).
        Returns:
          A list of ``{"w", "b"}`` dicts, one per layer.
        """
        key = _key("key", key)
        input_dim = check_int("input_dim", input_dim, minimum=1)
        dtype = check_float_dtype("dtype", dtype)
        sizes = self.layer_sizes(input_dim)
        keys = jax.random.split(key, len(sizes) - 1)
        params = []
        for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:]):
            kw, kb = jax.random.split(k)
            w = jax.random.normal(kw, (fan_in, fan_out), dtype)
            b = jax.random.normal(kb, (fan_out,), dtype)
            if self.parameterization == "standard":
                w = w * (self.w_std / math.sqrt(fan_in))
                b = b * self.b_std
            params.append({"w": w, "b": b})
        return params

    def scales(self, fan_in: int) -> tuple[float, float]:
        """Multipliers ``(a, c)`` in ``h = a x W + c b`` for a layer of fan-in ``fan_in``."""
        if self.parameterization == "ntk":
            return self.w_std / math.sqrt(fan_in), self.b_std
        return 1.0, 1.0

    def forward(self, params: PyTree, x: jax.Array) -> tuple[list[jax.Array], list[jax.Array]]:
        """All intermediate values: ``(pre, post)`` lists.

        ``post[0] = x`` and ``post[l] = phi(pre[l-1])``; ``pre[-1]`` has shape
        ``(n, 1)`` and is the output. Used by the structured NTK.
        """
        phi = ACTIVATIONS[self.activation]
        post = [x]
        pre = []
        for layer_index, layer in enumerate(params):
            a, c = self.scales(layer["w"].shape[0])
            h = a * (post[-1] @ layer["w"]) + c * layer["b"]
            pre.append(h)
            if layer_index < len(params) - 1:
                post.append(phi(h))
        return pre, post

    def apply(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """The network's outputs, shape ``(n,)``, for inputs ``x`` of shape ``(n, d)``.

        Pure: jittable, vmappable (over stacked params or over inputs) and
        differentiable in ``params`` and ``x``; the shape checks are static.
        """
        model = f"MLP(widths={self.widths})"
        _check_length(params, self.depth + 1, model)
        first = params[0].get("w") if isinstance(params[0], dict) else None
        if np.ndim(first) != 2:
            raise ValueError(f"params[0]['w'] must be the first layer's weight matrix, of shape "
                             f"(input_dim, {self.layer_sizes(0)[1]}), as returned by "
                             f"{model}.init; got {describe(first)}")
        sizes = self.layer_sizes(int(np.shape(first)[0]))
        _check_layers(params, [((i,), (a, b), (b,)) for i, (a, b) in
                               enumerate(zip(sizes[:-1], sizes[1:]))], model)
        x = _check_x(x, sizes[0], "MLP")
        pre, _ = self.forward(params, x)
        return pre[-1][:, 0]

    def __call__(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """``self.apply(params, x)`` (a subclass's own ``apply`` when it overrides it)."""
        return self.apply(params, x)


def _conv(x, w, scale):
    return scale * lax.conv_general_dilated(
        x, w, window_strides=(1, 1), padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def avg_pool2(x: jax.Array) -> jax.Array:
    """2x2 average pooling with stride 2 of NHWC images ``(n, h, w, c)`` (an odd last
    row or column is cropped): shape ``(n, h // 2, w // 2, c)``."""
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    x = x[:, : 2 * h2, : 2 * w2, :]
    return x.reshape(n, h2, 2, w2, 2, c).mean(axis=(2, 4))


class _ConvBase:
    """Shared parts of the two convolutional models."""

    image_shape: tuple[int, int, int]
    activation: Activation
    parameterization: Parameterization
    w_std: float
    b_std: float
    kernel_size: int

    def _setup(self, image_shape, activation, parameterization, w_std, b_std, kernel_size):
        image_shape = check_sequence_of_ints("image_shape", image_shape, minimum=1)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels); got {image_shape}")
        self.image_shape = image_shape
        self.w_std, self.b_std = _check_common(activation, parameterization, w_std, b_std)
        self.activation = activation
        self.parameterization = parameterization
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)

    def _check_poolings(self, pools: int, what: str) -> None:
        # Each 2x2 pooling halves the map; a map that reaches 0x0 would make the
        # global average an empty mean (NaN), so reject it up front.
        size = min(self.image_shape[:2])
        if size < 2 ** pools:
            raise ValueError(
                f"image_shape {self.image_shape} is too small for {pools} 2x2 poolings "
                f"({what}): the spatial size must be >= {2 ** pools}")

    @property
    def input_dim(self) -> int:
        return int(np.prod(self.image_shape))

    def _layer(self, key, shape, fan_in, dtype):
        kw, kb = jax.random.split(key)
        w = jax.random.normal(kw, shape, dtype)
        b = jax.random.normal(kb, (shape[-1],), dtype)
        if self.parameterization == "standard":
            w = w * (self.w_std / math.sqrt(fan_in))
            b = b * self.b_std
        return {"w": w, "b": b}

    def scales(self, fan_in: int) -> tuple[float, float]:
        """Multipliers ``(a, c)`` in ``h = a (x * W) + c b`` for a layer of fan-in ``fan_in``."""
        if self.parameterization == "ntk":
            return self.w_std / math.sqrt(fan_in), self.b_std
        return 1.0, 1.0

    def conv_layer(self, layer: PyTree, x: jax.Array) -> jax.Array:
        """One convolution layer ``a conv(x, w) + c b`` on NHWC images (SAME, stride 1)."""
        k1, k2, cin, _ = layer["w"].shape
        a, c = self.scales(k1 * k2 * cin)
        return _conv(x, layer["w"], a) + c * layer["b"]

    def dense_layer(self, layer: PyTree, x: jax.Array) -> jax.Array:
        """One dense layer ``a x W + c b``."""
        a, c = self.scales(layer["w"].shape[0])
        return a * (x @ layer["w"]) + c * layer["b"]

    def _check_init_args(self, key, input_dim, dtype):
        key = _key("key", key)
        input_dim = check_int("input_dim", input_dim, minimum=1)
        if input_dim != self.input_dim:
            raise ValueError(f"input_dim must equal prod(image_shape) = {self.input_dim} for "
                             f"image_shape {self.image_shape}; got {input_dim}")
        return key, check_float_dtype("dtype", dtype)

    def _conv_shapes(self, cin, cout):
        k = self.kernel_size
        return (k, k, cin, cout), (cout,)

    def images(self, x: ArrayLike) -> jax.Array:
        """Flattened inputs ``(n, H*W*C)`` as NHWC images (static shape check)."""
        x = _check_x(x, self.input_dim, type(self).__name__)
        return x.reshape((x.shape[0], *self.image_shape))


class CNN(_ConvBase):
    r"""A small convolutional network with scalar output.

    Inputs are flattened images, ``x`` of shape ``(n, H*W*C)``; they are reshaped
    to ``image_shape = (H, W, C)``. For each entry of ``channels`` the network
    applies a ``kernel_size`` x ``kernel_size`` convolution (stride 1, SAME
    padding), the activation, and 2x2 average pooling; then global average
    pooling and a dense read-out to one output. Parameterizations and
    initialization follow :class:`MLP`, with a convolution's fan-in equal to
    ``kernel_size**2 * C_in``.

    Args:
      channels: output channels of each convolution (one 2x2 pooling each).
      image_shape: ``(H, W, C)`` of the inputs.
      activation: a name in :data:`ACTIVATION_NAMES`.
      parameterization: ``"ntk"`` or ``"standard"``.
      kernel_size: the convolutions' spatial size.
      w_std: :math:`\sigma_w > 0`.
      b_std: :math:`\sigma_b \ge 0`.
    """

    def __init__(self, channels: Any = (8, 16), image_shape: Any = (28, 28, 1),
                 activation: Activation = "relu", parameterization: Parameterization = "ntk", *,
                 kernel_size: int = 3, w_std: float = 1.0, b_std: float = 0.1):
        self.channels = check_sequence_of_ints("channels", channels, minimum=1)
        self._setup(image_shape, activation, parameterization, w_std, b_std, kernel_size)
        self._check_poolings(len(self.channels), f"one per entry of channels={self.channels}")

    def __repr__(self):
        return (f"CNN(channels={self.channels}, image_shape={self.image_shape}, "
                f"activation={self.activation!r}, parameterization={self.parameterization!r})")

    def init(self, key: ArrayLike, input_dim: int, *, dtype: Any = None
             ) -> list[dict[str, jax.Array]]:
        """Parameters for inputs of dimension ``input_dim = prod(image_shape)``.

        Args:
          key: a ``jax.random`` key or a non-negative int seed.
          input_dim: ``prod(image_shape)``.
          dtype: floating dtype of the parameters (default: JAX's default float).
        """
        key, dtype = self._check_init_args(key, input_dim, dtype)
        keys = jax.random.split(key, len(self.channels) + 1)
        k = self.kernel_size
        params = []
        cin = self.image_shape[2]
        for key_l, cout in zip(keys[:-1], self.channels):
            params.append(self._layer(key_l, (k, k, cin, cout), k * k * cin, dtype))
            cin = cout
        params.append(self._layer(keys[-1], (cin, 1), cin, dtype))
        return params

    def apply(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """Outputs of shape ``(n,)`` (pure: jittable, vmappable, differentiable)."""
        _check_length(params, len(self.channels) + 1, repr(self))
        cins = (self.image_shape[2], *self.channels[:-1])
        expected = [((i,), *self._conv_shapes(cin, cout))
                    for i, (cin, cout) in enumerate(zip(cins, self.channels))]
        expected.append(((len(self.channels),), (self.channels[-1], 1), (1,)))
        _check_layers(params, expected, repr(self))
        phi = ACTIVATIONS[self.activation]
        z = self.images(x)
        for layer in params[:-1]:
            z = avg_pool2(phi(self.conv_layer(layer, z)))
        z = z.mean(axis=(1, 2))
        return self.dense_layer(params[-1], z)[:, 0]

    def __call__(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """``self.apply(params, x)`` (a subclass's own ``apply`` when it overrides it)."""
        return self.apply(params, x)


class ResNetCNN(_ConvBase):
    r"""A small ResNet-style convolutional network with scalar output.

    A stem convolution to ``channels`` channels, then ``blocks`` residual blocks
    ``z <- (z + conv(phi(conv(phi(z))))) / sqrt(2)`` (the ``1/sqrt(2)`` keeps the
    forward variance constant across blocks), a 2x2 average pooling after every
    ``pool_every`` blocks, global average pooling and a dense read-out.
    Parameterizations and initialization follow :class:`MLP`.

    Args:
      channels: channels of every convolution.
      blocks: number of residual blocks.
      image_shape: ``(H, W, C)`` of the inputs.
      activation: a name in :data:`ACTIVATION_NAMES`.
      parameterization: ``"ntk"`` or ``"standard"``.
      kernel_size: the convolutions' spatial size.
      pool_every: a 2x2 average pooling after every ``pool_every`` blocks.
      w_std: :math:`\sigma_w > 0`.
      b_std: :math:`\sigma_b \ge 0`.
    """

    def __init__(self, channels: int = 16, blocks: int = 2, image_shape: Any = (28, 28, 1),
                 activation: Activation = "relu", parameterization: Parameterization = "ntk", *,
                 kernel_size: int = 3, pool_every: int = 1, w_std: float = 1.0,
                 b_std: float = 0.1):
        self.channels = check_int("channels", channels, minimum=1)
        self.blocks = check_int("blocks", blocks, minimum=0)
        self.pool_every = check_int("pool_every", pool_every, minimum=1)
        self._setup(image_shape, activation, parameterization, w_std, b_std, kernel_size)
        self._check_poolings(self.blocks // self.pool_every,
                             f"blocks={self.blocks}, pool_every={self.pool_every}")

    def __repr__(self):
        return (f"ResNetCNN(channels={self.channels}, blocks={self.blocks}, "
                f"image_shape={self.image_shape}, activation={self.activation!r}, "
                f"parameterization={self.parameterization!r})")

    def init(self, key: ArrayLike, input_dim: int, *, dtype: Any = None) -> dict[str, Any]:
        """Parameters ``{"stem", "blocks": [[conv, conv], ...], "head"}``.

        Args:
          key: a ``jax.random`` key or a non-negative int seed.
          input_dim: ``prod(image_shape)``.
          dtype: floating dtype of the parameters (default: JAX's default float).
        """
        key, dtype = self._check_init_args(key, input_dim, dtype)
        k, c = self.kernel_size, self.channels
        keys = jax.random.split(key, 2 * self.blocks + 2)
        cin = self.image_shape[2]
        stem = self._layer(keys[0], (k, k, cin, c), k * k * cin, dtype)
        blocks = [[self._layer(keys[1 + 2 * i], (k, k, c, c), k * k * c, dtype),
                   self._layer(keys[2 + 2 * i], (k, k, c, c), k * k * c, dtype)]
                  for i in range(self.blocks)]
        head = self._layer(keys[-1], (c, 1), c, dtype)
        return {"stem": stem, "blocks": blocks, "head": head}

    def apply(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """Outputs of shape ``(n,)`` (pure: jittable, vmappable, differentiable)."""
        model = repr(self)
        if not isinstance(params, dict) or set(params) != {"stem", "blocks", "head"}:
            raise ValueError(f"params must be the dict with keys 'stem', 'blocks', 'head' "
                             f"returned by {model}.init; got {describe(params)}")
        blocks = params["blocks"]
        if not isinstance(blocks, (list, tuple)) or len(blocks) != self.blocks or not all(
                isinstance(b, (list, tuple)) and len(b) == 2 for b in blocks):
            raise ValueError(f"params['blocks'] must be a list of {self.blocks} pairs of "
                             f"convolutions, as returned by {model}.init; got {describe(blocks)}")
        c = self.channels
        expected = [(("stem",), *self._conv_shapes(self.image_shape[2], c)),
                    (("head",), (c, 1), (1,))]
        expected += [(("blocks", i, j), *self._conv_shapes(c, c))
                     for i in range(self.blocks) for j in range(2)]
        _check_layers(params, expected, model)
        phi = ACTIVATIONS[self.activation]
        z = self.conv_layer(params["stem"], self.images(x))
        for i, (conv1, conv2) in enumerate(params["blocks"]):
            branch = self.conv_layer(conv2, phi(self.conv_layer(conv1, phi(z))))
            z = (z + branch) / math.sqrt(2.0)
            if (i + 1) % self.pool_every == 0:
                z = avg_pool2(z)
        z = phi(z).mean(axis=(1, 2))
        return self.dense_layer(params["head"], z)[:, 0]

    def __call__(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """``self.apply(params, x)`` (a subclass's own ``apply`` when it overrides it)."""
        return self.apply(params, x)


#: The models of this module (those with a structured NTK rule in :mod:`lplr_core.ntk`).
Model = MLP | CNN | ResNetCNN
_MODEL_CLASSES = (MLP, CNN, ResNetCNN)
_UNWRAP_LIMIT = 32


def _own_apply(model: Any, func: Any) -> bool:
    """``func`` is the library's own ``apply`` of ``model``'s class (not an override)."""
    return any(isinstance(model, cls) and func is cls.apply for cls in _MODEL_CLASSES)


def model_of(apply_fn: Any) -> Model | None:
    """The :class:`MLP`, :class:`CNN` or :class:`ResNetCNN` that ``apply_fn`` computes, or None.

    A function says what it is through explicit attributes, followed through
    wrappers that keep a reference to what they wrap:

    * a model itself (models are callable) or its bound ``apply`` (``model.apply``,
      whose ``__self__`` is the model), when the method is this module's own
      ``apply`` (a subclass overriding ``apply`` is not recognized);
    * a ``model`` attribute holding one of these models: set it on a wrapper of your
      own to declare that it computes exactly ``model.apply``;
    * ``__wrapped__`` (``jax.jit``, ``functools.wraps``) and ``functools.partial``
      objects that bind no argument (``.func``) are looked through.

    A lambda or any other function says nothing and gives None: the generic NTK
    methods are used for it. Static: safe to call anywhere, no array is touched.

    Args:
      apply_fn: a callable ``apply_fn(params, x)``.

    Examples:
      >>> import functools, jax
      >>> from lplr_core.models import MLP, model_of
      >>> mlp = MLP((8,))
      >>> model_of(jax.jit(mlp.apply)) is mlp, model_of(functools.partial(mlp.apply)) is mlp
      (True, True)
      >>> model_of(lambda p, x: mlp.apply(p, x)) is None
      True
    """
    fn = apply_fn
    for _ in range(_UNWRAP_LIMIT):
        if isinstance(fn, _MODEL_CLASSES):
            own = _own_apply(fn, type(fn).apply) and any(
                type(fn).__call__ is cls.__call__ for cls in _MODEL_CLASSES)
            return fn if own else None
        declared = getattr(fn, "model", None)
        if isinstance(declared, _MODEL_CLASSES):
            return declared
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, _MODEL_CLASSES):
            return owner if _own_apply(owner, getattr(fn, "__func__", None)) else None
        if isinstance(fn, functools.partial):
            if fn.args or fn.keywords:
                return None
            fn = fn.func
            continue
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is None or wrapped is fn:
            return None
        fn = wrapped
    return None
