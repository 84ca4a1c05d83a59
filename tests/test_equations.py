"""Each equation module equals the literal transcription of its equation (vtlab.vt.literal) with the same
weights, when single-head and unscaled; grouped weights are the block-diagonal matrices of the equations."""

import math

import pytest
import torch
from einops import rearrange

from vtlab.vt import (
    DynamicTokenizer,
    NonLocalBlock,
    PositionEncoder,
    Projector,
    StaticTokenizer,
    Transformer,
    VisualTransformer,
    VTConfig,
    literal,
)

N, C, CT, L, H, W = 2, 16, 24, 6, 5, 7
ATOL = 1e-5


def feature_map(n=N, c=C, h=H, w=W):
    return torch.randn(n, c, h, w, dtype=torch.float64)


def bar(X):  # X̄ of one image: (C, H, W) -> (HW, C)
    return rearrange(X, "c y x -> (y x) c")


def randomize(module):
    """Random weights everywhere (default inits would leave some outputs near-trivial)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return module.double()


def test_eq1_static_tokenizer_is_literal():
    tok = randomize(StaticTokenizer(C, CT, L, heads=1, position_encoding=False, scaled=False))
    X = feature_map()
    T, A = tok(X)
    assert T.shape == (N, L, CT) and A.shape == (N, 1, H * W, L)
    for n in range(N):
        T_ref, A_ref = literal.eq1_static_tokens(bar(X[n]), tok.W_A, tok.W_V.matrix())
        torch.testing.assert_close(T[n], T_ref, atol=ATOL, rtol=0)
        torch.testing.assert_close(A[n, 0], A_ref, atol=ATOL, rtol=0)
    # each token is a weighted average: the coefficients of every token sum to 1 over the pixels
    torch.testing.assert_close(A.sum(dim=2), torch.ones(N, 1, L, dtype=A.dtype))


def test_eq2_position_encoding_is_literal_and_concatenated():
    tok = randomize(StaticTokenizer(C, CT, L, heads=1, position_encoding=True, scaled=False,
                                    position_size=8, position_downsample=1))
    X = feature_map()
    T, A = tok(X)
    pe = tok.position_encoder
    assert pe.HW_bar == 16 and pe.Cp == 16
    A_down = pe.downsample(A, (H, W))
    assert A_down.shape == (N, 16, L)
    W_V = tok.W_V.matrix()
    for n in range(N):
        P = literal.eq2_position_encoding(A_down[n], pe.W_A_to_P.matrix())
        torch.testing.assert_close(pe(A, (H, W))[n], P, atol=ATOL, rtol=0)
        # T = [A^T X̄ ‖ P] W_V: equation (1)'s tokens plus the position encoding's share of W_V
        pooled = A[n, 0].T @ bar(X[n])
        torch.testing.assert_close(T[n], torch.cat([pooled, P], dim=1) @ W_V, atol=ATOL, rtol=0)


def test_eq2_downsample_is_plain_resize_without_strided_convs():
    pe = PositionEncoder(heads=1, size=6, num_downsample=0).double()
    with torch.no_grad():
        pe.downsample_convs[0].weight.fill_(1.0)  # the 1x1 head-merging conv as identity
    A = torch.rand(1, 1, 12 * 12, 3, dtype=torch.float64)
    down = pe.downsample(A, (12, 12))
    maps = rearrange(A, "n h (y x) l -> (n l) h y x", y=12)
    expected = torch.nn.functional.interpolate(maps, size=(6, 6), mode="bilinear", align_corners=False)
    torch.testing.assert_close(down, rearrange(expected, "l 1 y x -> 1 (y x) l"))


def test_eq3_transformer_is_literal_even_with_groups():
    for groups in (1, 4):
        tf = randomize(Transformer(CT, heads=1, kqv_groups=groups, scaled=False))
        T_in = torch.randn(N, L, CT, dtype=torch.float64)
        T_out = tf(T_in)
        for n in range(N):
            ref = literal.eq3_transformer(T_in[n], tf.K.matrix(), tf.Q.matrix(), tf.V.matrix(), tf.F.matrix())
            torch.testing.assert_close(T_out[n], ref, atol=ATOL, rtol=0)
        if groups > 1:  # the grouped weight really is block-diagonal
            K = tf.K.matrix()
            assert torch.count_nonzero(K[: CT // groups, CT // 2 // groups:]) == 0


def test_eq3_scaling_divides_the_logits_by_sqrt_dk():
    tf = randomize(Transformer(CT, heads=1, scaled=True))
    T_in = torch.randn(1, L, CT, dtype=torch.float64)
    K = tf.K.matrix() / math.sqrt(CT // 2)
    ref = literal.eq3_transformer(T_in[0], K, tf.Q.matrix(), tf.V.matrix(), tf.F.matrix())
    torch.testing.assert_close(tf(T_in)[0], ref, atol=ATOL, rtol=0)


def test_eq3_multi_head_is_per_head_attention_concatenated():
    heads = 4
    tf = randomize(Transformer(CT, heads=heads, scaled=False))
    T_in = torch.randn(1, L, CT, dtype=torch.float64)[0]
    K, Q, V = tf.K.matrix(), tf.Q.matrix(), tf.V.matrix()
    dk, dv = CT // 2 // heads, CT // heads
    per_head = [torch.softmax((T_in @ K[:, h * dk:(h + 1) * dk]) @ (T_in @ Q[:, h * dk:(h + 1) * dk]).T, dim=1)
                @ (T_in @ V[:, h * dv:(h + 1) * dv]) for h in range(heads)]
    expected = T_in + torch.cat(per_head, dim=1) @ tf.F.matrix()
    torch.testing.assert_close(tf(T_in[None])[0], expected, atol=ATOL, rtol=0)


def test_eq4_projector_is_literal_even_with_groups():
    for q_groups, kv_groups in ((1, 1), (4, 2)):
        proj = randomize(Projector(C, CT, heads=1, query_groups=q_groups, kv_groups=kv_groups, scaled=False))
        X, T_out = feature_map(), torch.randn(N, L, CT, dtype=torch.float64)
        X_out = proj(X, T_out)
        assert X_out.shape == X.shape
        for n in range(N):
            ref = literal.eq4_projector(bar(X[n]), T_out[n], proj.Q_T_to_X.matrix(), proj.K_T_to_X.matrix(),
                                        proj.V_T_to_X.matrix())
            torch.testing.assert_close(bar(X_out[n]), ref, atol=ATOL, rtol=0)


def test_eq5_dynamic_tokenizer_is_literal():
    tok = randomize(DynamicTokenizer(C, CT, L, heads=1, position_encoding=False, scaled=False))
    X, T_in = feature_map(), torch.randn(N, L, CT, dtype=torch.float64)
    T_new, A = tok(X, T_in)
    assert T_new.shape == (N, L, CT) and A.shape == (N, 1, H * W, L // 2)
    for n in range(N):
        ref, A_ref = literal.eq5_dynamic_tokens(T_in[n], bar(X[n]), tok.W_T_to_WA.matrix(), tok.W_V.matrix())
        torch.testing.assert_close(T_new[n], ref, atol=ATOL, rtol=0)
        torch.testing.assert_close(A[n, 0], A_ref, atol=ATOL, rtol=0)
    # the second half of the old tokens is carried over unchanged, first in the new set
    torch.testing.assert_close(T_new[:, : L // 2], T_in[:, L // 2:])


def test_multi_head_tokenizer_gives_each_head_its_own_coefficients():
    heads = 4
    tok = randomize(StaticTokenizer(C, CT, L, heads=heads, position_encoding=False, scaled=False))
    X = feature_map(n=1)
    T, A = tok(X)
    d = C // heads
    X_bar = bar(X[0])
    for h in range(heads):
        A_h = torch.softmax(X_bar[:, h * d:(h + 1) * d] @ tok.W_A[:, h * d:(h + 1) * d].T, dim=0)
        torch.testing.assert_close(A[0, h], A_h, atol=ATOL, rtol=0)
    pooled = torch.cat([A[0, h].T @ X_bar[:, h * d:(h + 1) * d] for h in range(heads)], dim=1)
    torch.testing.assert_close(T[0], pooled @ tok.W_V.matrix(), atol=ATOL, rtol=0)


def test_nonlocal_block_is_equation_3_on_every_pixel():
    block = randomize(NonLocalBlock(C, scaled=False))
    X = feature_map(n=1)
    tf = block.transformer
    ref = literal.eq3_transformer(bar(X[0]), tf.K.matrix(), tf.Q.matrix(), tf.V.matrix(), tf.F.matrix())
    torch.testing.assert_close(bar(block(X)[0]), ref, atol=ATOL, rtol=0)


def test_stage_keeps_tokens_and_feature_map_and_renews_half_the_tokens():
    config = VTConfig(C=C, CT=CT, L=L, depth=3, heads=2, kqv_groups=2, query_groups=2, kv_groups=2,
                      position_size=4, position_downsample=1)
    stage = VisualTransformer(in_channels=8, config=config).double().eval()
    X_out, T_out, coefficients = stage(feature_map(c=8), return_coefficients=True)
    assert X_out.shape == (N, C, H, W) and T_out.shape == (N, L, CT)
    # first block static (L new tokens), later ones dynamic (L/2 new tokens)
    assert [A.shape[-1] for A in coefficients] == [L, L // 2, L // 2]
    assert isinstance(stage.blocks[0].tokenizer, StaticTokenizer)
    assert all(isinstance(b.tokenizer, DynamicTokenizer) for b in stage.blocks[1:])
    static = VisualTransformer(8, config.replace(dynamic=False))
    assert all(isinstance(b.tokenizer, StaticTokenizer) for b in static.blocks)


@pytest.mark.parametrize("hw", [(1, 1), (3, 11), (20, 20)])
def test_position_encoding_handles_any_map_size(hw):
    tok = StaticTokenizer(C, CT, L, heads=2)
    T, _ = tok(torch.randn(1, C, *hw))
    assert T.shape == (1, L, CT)
