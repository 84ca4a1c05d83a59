r"""Equations (1)–(5) transcribed literally, one image at a time, as plain matrix algebra.

These are references, not building blocks: slow, single-head, ungrouped and unscaled, written exactly as
the paper prints them (rows are pixels or tokens, W ∈ R^{C_in×C_out} multiplies from the right). The test
suite and the first notebook check every module of :mod:`vtlab.vt` against them with the module's own
weights (``.matrix()`` gives a point-wise convolution's weight as the paper's W).

Shapes: X̄ (HW, C), T (L, CT).
"""

from __future__ import annotations

import torch


def eq1_static_tokens(X_bar: torch.Tensor, W_A: torch.Tensor, W_V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1): A = softmax(X̄ W_A^T) normalised over the HW pixels, T = A^T (X̄ W_V). Returns (T, A)."""
    A = torch.softmax(X_bar @ W_A.T, dim=0)
    return A.T @ (X_bar @ W_V), A


def eq2_position_encoding(A_downsampled: torch.Tensor, W_A_to_P: torch.Tensor) -> torch.Tensor:
    """(2): P = downsample(A)^T W_{A→P}, with downsample(A) ∈ R^{H̄W̄×L}. Returns P (L, Cp)."""
    return A_downsampled.T @ W_A_to_P


def eq3_transformer(T_in: torch.Tensor, K: torch.Tensor, Q: torch.Tensor, V: torch.Tensor,
                    F: torch.Tensor) -> torch.Tensor:
    """(3): T_out = T_in + softmax((T_in K)(T_in Q)^T) (T_in V) F, the softmax over each row."""
    return T_in + torch.softmax((T_in @ K) @ (T_in @ Q).T, dim=1) @ (T_in @ V) @ F


def eq4_projector(X_bar_in: torch.Tensor, T_out: torch.Tensor, Q_T_to_X: torch.Tensor, K_T_to_X: torch.Tensor,
                  V_T_to_X: torch.Tensor) -> torch.Tensor:
    """(4): X̄_out = X̄_in + softmax((X̄_in Q_{T→X})(T_out K_{T→X})^T) (T_out V_{T→X}), softmax over tokens."""
    return X_bar_in + torch.softmax((X_bar_in @ Q_T_to_X) @ (T_out @ K_T_to_X).T, dim=1) @ (T_out @ V_T_to_X)


def eq5_dynamic_tokens(T_in: torch.Tensor, X_bar_in: torch.Tensor, W_T_to_WA: torch.Tensor,
                       W_V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(5): T'_in = concat_L(T_in,b, tokenizer(T_in,a W_{T→WA}, X_in)), the tokenizer being (1).
    Returns (T'_in, A) with A the coefficients of the L/2 new tokens."""
    L = T_in.shape[0]
    T_a, T_b = T_in[: L // 2], T_in[L // 2:]
    new_tokens, A = eq1_static_tokens(X_bar_in, T_a @ W_T_to_WA, W_V)
    return torch.cat([T_b, new_tokens], dim=0), A
