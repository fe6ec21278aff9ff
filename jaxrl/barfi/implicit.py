"""Outer gradients of a bi-level problem  phi* = argmax_phi J(theta(phi)),  theta(phi) = argmax J_phi.

Three estimators of dJ/dphi, each given ``v = grad_theta J`` (the outer objective's gradient at the
inner parameters):

- ``implicit_outer_gradient``: the implicit function theorem at the inner optimum,
  dJ/dphi = -v^T [hess_theta J_phi]^{-1} d/dphi grad_theta J_phi, with the inverse-Hessian-vector
  product from a Neumann series of ``num_terms`` terms and step ``alpha`` (Lorraine et al. 2020);
- the first-order variant, the same with ``num_terms = 0`` (the inverse Hessian replaced by
  -alpha * I);
- ``unrolled_outer_gradient``: differentiate through a short unroll of inner updates (a meta-gradient).

Parameters are arbitrary pytrees; the inner objective is ``inner_objective(theta, phi) -> scalar``,
maximised over theta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def hessian_vector_product(
    inner_objective: Callable[[PyTree, PyTree], jax.Array], theta: PyTree, phi: PyTree
) -> Callable[[PyTree], PyTree]:
    """``p -> hess_theta J_phi(theta) p`` by forward-over-reverse differentiation."""
    grad_theta = jax.grad(inner_objective, argnums=0)
    return lambda p: jax.jvp(lambda t: grad_theta(t, phi), (theta,), (p,))[1]


def neumann_inverse_hvp(
    hvp: Callable[[PyTree], PyTree],
    v: PyTree,
    alpha: float | jax.Array,
    num_terms: int | jax.Array,
    max_terms: int | None = None,
) -> PyTree:
    """Approximate H^{-1} v for a negative-definite H (the Hessian of an objective being maximised).

    p = v, s = v; repeat K times: p <- p + alpha * H p, s <- s + p; return -alpha * s. This is
    -alpha * sum_{k<=K} (I + alpha H)^k v, which converges to H^{-1} v when the eigenvalues of H lie in
    (-2 / alpha, 0). ``num_terms`` may be a traced integer (a batch axis); the loop then runs
    ``max_terms`` (static) iterations and freezes after ``num_terms``.
    """
    if max_terms is None:
        if not isinstance(num_terms, int):
            raise ValueError("a traced num_terms needs a static max_terms")
        max_terms = num_terms

    def body(i, carry):
        p, s = carry
        hp = hvp(p)
        new_p = jax.tree.map(lambda a, b: a + alpha * b, p, hp)
        new_s = jax.tree.map(lambda a, b: a + b, s, new_p)
        active = i < num_terms
        return jax.tree.map(lambda new, old: jnp.where(active, new, old), (new_p, new_s), (p, s))

    _, s = jax.lax.fori_loop(0, max_terms, body, (v, v))
    return jax.tree.map(lambda x: -alpha * x, s)


def mixed_vector_product(
    inner_objective: Callable[[PyTree, PyTree], jax.Array], theta: PyTree, phi: PyTree, u: PyTree
) -> PyTree:
    """``u^T d/dphi grad_theta J_phi(theta)``: a pytree shaped like phi."""
    grad_theta = jax.grad(inner_objective, argnums=0)
    u = jax.lax.stop_gradient(u)
    return jax.grad(lambda ph: tree_vdot(grad_theta(theta, ph), u))(phi)


def implicit_outer_gradient(
    inner_objective: Callable[[PyTree, PyTree], jax.Array],
    theta: PyTree,
    phi: PyTree,
    v: PyTree,
    alpha: float | jax.Array,
    num_terms: int | jax.Array,
    max_terms: int | None = None,
) -> PyTree:
    """dJ/dphi = -(H^{-1} v)^T d/dphi grad_theta J_phi, with H^{-1} v from the Neumann series.

    With ``num_terms = 0`` this is the first-order estimate alpha * v^T d/dphi grad_theta J_phi.
    """
    hvp = hessian_vector_product(inner_objective, theta, phi)
    inverse_hvp = neumann_inverse_hvp(hvp, v, alpha, num_terms, max_terms)
    mixed = mixed_vector_product(inner_objective, theta, phi, inverse_hvp)
    return jax.tree.map(lambda x: -x, mixed)


def unrolled_outer_gradient(
    unroll: Callable[[PyTree], PyTree],
    outer_gradient_at: Callable[[PyTree], PyTree],
    phi: PyTree,
) -> tuple[PyTree, PyTree]:
    """dJ/dphi through an unroll: ``unroll(phi) -> theta_U`` (a few inner updates from the current theta),
    ``outer_gradient_at(theta_U) -> grad_theta J(theta_U)``. Returns ``(dJ/dphi, theta_U)``."""
    theta_unrolled, pullback = jax.vjp(unroll, phi)
    v = jax.lax.stop_gradient(outer_gradient_at(theta_unrolled))
    (grad_phi,) = pullback(v)
    return grad_phi, theta_unrolled
