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
    encoder = PositionEncoder(heads=1, size=8, num_downsample=1)
    tok = randomize(StaticTokenizer(C, CT, L, heads=1, position_encoding=encoder, scaled=False))
    assert tok.position_encoder is encoder
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


def nearest_resize(maps: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour resize written out (PyTorch's "nearest", Listing 2's default mode): output pixel i reads
    input pixel floor(i * H_in / H_out). maps (..., H, W) → (..., size, size)."""
    H, W = maps.shape[-2:]
    rows = [int(i * H / size) for i in range(size)]
    cols = [int(j * W / size) for j in range(size)]
    return maps[..., rows, :][..., :, cols]


def conv3x3_stride2(maps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 3×3, stride-2, padding-1 convolution without bias written as sums: maps (B, C_in, H, W), weight
    (C_out, C_in, 3, 3) → (B, C_out, ceil(H/2), ceil(W/2))."""
    B, C_in, H, W = maps.shape
    padded = torch.zeros(B, C_in, H + 2, W + 2, dtype=maps.dtype)
    padded[:, :, 1:-1, 1:-1] = maps
    out = torch.zeros(B, weight.shape[0], (H + 1) // 2, (W + 1) // 2, dtype=maps.dtype)
    for y in range(out.shape[2]):
        for x in range(out.shape[3]):
            patch = padded[:, :, 2 * y:2 * y + 3, 2 * x:2 * x + 3]  # (B, C_in, 3, 3)
            out[:, :, y, x] = torch.einsum("bcij,ocij->bo", patch, weight)
    return out


def test_eq2_downsample_against_an_independent_transcription():
    # resize only (no strided conv, and one head: no head-merging conv), maps as equation (1) leaves them
    pe = PositionEncoder(heads=1, size=6, num_downsample=0, resize="nearest", unit_mean=False).double()
    assert len(pe.downsample_convs) == 0
    A = torch.rand(1, 1, 12 * 12, 3, dtype=torch.float64)
    maps = rearrange(A, "n h (y x) l -> n l h y x", y=12)[0, :, 0]  # (L, 12, 12)
    expected = maps[:, ::2, ::2]  # 12 -> 6 nearest keeps every other row and column
    torch.testing.assert_close(nearest_resize(maps, 6), expected)
    torch.testing.assert_close(pe.downsample(A, (12, 12)), rearrange(expected, "l y x -> 1 (y x) l"))
    # unit_mean (the default) is the same maps times HW
    unit = PositionEncoder(heads=1, size=6, num_downsample=0, resize="nearest").double()
    torch.testing.assert_close(unit.downsample(A, (12, 12)), 144 * rearrange(expected, "l y x -> 1 (y x) l"))
    # a non-integer ratio (14 -> 12 rows, 10 -> 12 columns: upsampling repeats) and the full path with two heads,
    # a strided 3x3 conv and the head-merging 1x1 conv, for a batch of two
    torch.manual_seed(0)
    heads, L = 2, 4
    pe = PositionEncoder(heads=heads, size=12, num_downsample=1, resize="nearest").double()
    A = torch.rand(2, heads, 14 * 10, L, dtype=torch.float64)
    maps = rearrange(A, "n h (y x) l -> (n l) h y x", y=14) * (14 * 10)
    resized = nearest_resize(maps, 12)
    strided = conv3x3_stride2(resized, pe.downsample_convs[0].weight.detach())
    merged = torch.einsum("bchw,c->bhw", strided, pe.downsample_convs[1].weight.detach()[0, :, 0, 0])
    expected = rearrange(merged, "(n l) y x -> n (y x) l", n=2)
    torch.testing.assert_close(pe.downsample(A, (14, 10)), expected)
    # bilinear (the default): a map resized 12 -> 6 is the mean of each 2x2 block (half-pixel centres), written out
    bilinear = PositionEncoder(heads=1, size=6, num_downsample=0, unit_mean=False).double()
    A = torch.rand(1, 1, 12 * 12, 3, dtype=torch.float64)
    maps = rearrange(A, "n h (y x) l -> l (n h) y x", y=12)[:, 0]
    block_means = rearrange(maps, "l (y a) (x b) -> l y x (a b)", a=2, b=2).mean(-1)
    torch.testing.assert_close(bilinear.downsample(A, (12, 12)), rearrange(block_means, "l y x -> 1 (y x) l"))
    with pytest.raises(ValueError, match="resize"):
        PositionEncoder(resize="bicubic")
    # the 3x3 convs start at U(±1/fan-in)
    wide = PositionEncoder(heads=3, size=12, num_downsample=2)
    for conv in wide.downsample_convs[:2]:
        assert conv.weight.abs().max() <= 1 / 27 and conv.weight.abs().max() > 0.8 / 27


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


@pytest.mark.parametrize("fused", [False, True], ids=["matmul", "fused-sdpa"])
def test_eq4_projector_is_literal_even_with_groups(fused):
    for q_groups, kv_groups in ((1, 1), (4, 2)):
        proj = randomize(Projector(C, CT, heads=1, query_groups=q_groups, kv_groups=kv_groups, scaled=False,
                                   fused=fused))
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


# References for the forms the modules run by default: multi-head, grouped and scaled. Each is written from the
# equations and Appendix A, head by head, with the module's weights as the paper's matrices.

def softmax_rows(logits, dim):
    return torch.softmax(logits, dim=dim)


@pytest.mark.parametrize("heads", [1, 4])
def test_scaled_static_and_dynamic_tokenizers_against_a_per_head_reference(heads):
    d = C // heads
    X = feature_map()
    static = randomize(StaticTokenizer(C, CT, L, heads=heads, position_encoding=False, scaled=True))
    dynamic = randomize(DynamicTokenizer(C, CT, L, heads=heads, position_encoding=False, scaled=True))
    T_in = torch.randn(N, L, CT, dtype=torch.float64)
    T, A = static(X)
    T_dyn, A_dyn = dynamic(X, T_in)
    for n in range(N):
        X_bar = bar(X[n])
        # the static W_A is stored at its working scale (Listing 1's filter / √(C/h)); the dynamic one is divided
        for W_A, module, tokens, coefficients, kept in (
                (static.W_A, static, T[n], A[n], None),
                (T_in[n, :L // 2] @ dynamic.W_T_to_WA.matrix() / math.sqrt(d), dynamic, T_dyn[n], A_dyn[n],
                 T_in[n, L // 2:])):
            pooled = []
            for h in range(heads):  # A_h = softmax over pixels of X̄_h W_A,hᵀ (/ √(C/h)); each head pools its channels
                A_h = softmax_rows(X_bar[:, h * d:(h + 1) * d] @ W_A[:, h * d:(h + 1) * d].T, dim=0)
                torch.testing.assert_close(coefficients[h], A_h, atol=ATOL, rtol=0)
                pooled.append(A_h.T @ X_bar[:, h * d:(h + 1) * d])
            new = torch.cat(pooled, dim=1) @ module.W_V.matrix()
            torch.testing.assert_close(tokens, new if kept is None else torch.cat([kept, new]), atol=ATOL, rtol=0)


@pytest.mark.parametrize("fused", [False, True], ids=["matmul", "fused-sdpa"])
def test_scaled_multi_head_grouped_projector_against_a_per_head_reference(fused):
    heads = 4
    d = C // heads
    proj = randomize(Projector(C, CT, heads=heads, query_groups=4, kv_groups=2, scaled=True, fused=fused))
    X, T_out = feature_map(), torch.randn(N, L, CT, dtype=torch.float64)
    X_out = proj(X, T_out)
    Q, K, V = proj.Q_T_to_X.matrix(), proj.K_T_to_X.matrix(), proj.V_T_to_X.matrix()
    for n in range(N):
        X_bar = bar(X[n])
        queries, keys, values = X_bar @ Q, T_out[n] @ K, T_out[n] @ V
        heads_out = [softmax_rows(queries[:, h * d:(h + 1) * d] @ keys[:, h * d:(h + 1) * d].T / math.sqrt(d), dim=1)
                     @ values[:, h * d:(h + 1) * d] for h in range(heads)]
        torch.testing.assert_close(bar(X_out[n]), X_bar + torch.cat(heads_out, dim=1), atol=ATOL, rtol=0)


def batch_norm_eval(X, norm):  # (x - running mean) / √(running var + eps) · γ + β, per channel
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return (X - norm.running_mean[:, None, None]) * scale[:, None, None] + norm.bias[:, None, None]


def layer_norm(T, norm):  # per token, over its CT channels
    centred = T - T.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + norm.eps) * norm.weight + norm.bias


def test_a_block_is_the_composition_of_its_equations():
    """A whole block (eval mode): X̂ = BN(X_in); T_in from (1)+(2) on X̂ (or (5)); T_out = LN((3)(LN(T_in)));
    X_out = ReLU(BN((4)(X_in, T_out))), written out with the literal equations and the norms' formulas."""
    config = VTConfig(C=C, CT=CT, L=L, depth=2, heads=1, kqv_groups=1, query_groups=1, kv_groups=1,
                      position_encoding=False, scaled=False, centre_filter_tokens=False)
    stage = VisualTransformer(in_channels=C, config=config)
    randomize(stage)
    for block in stage.blocks:  # running statistics that are not the identity
        for norm in (block.tokenizer_norm, block.feature_norm):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    stage.eval()
    X = feature_map()
    X_out, T_out, coefficients = stage(X, return_coefficients=True)
    for n in range(N):
        X_cur, T_prev = X[n], None
        for b, block in enumerate(stage.blocks):
            X_hat = bar(batch_norm_eval(X_cur, block.tokenizer_norm))
            if T_prev is None:
                T_in, A = literal.eq1_static_tokens(X_hat, block.tokenizer.W_A, block.tokenizer.W_V.matrix())
            else:
                T_in, A = literal.eq5_dynamic_tokens(T_prev, X_hat, block.tokenizer.W_T_to_WA.matrix(),
                                                     block.tokenizer.W_V.matrix())
            torch.testing.assert_close(coefficients[b][n, 0], A, atol=ATOL, rtol=0)
            tf = block.transformer
            T_cur = layer_norm(literal.eq3_transformer(layer_norm(T_in, block.token_norm), tf.K.matrix(),
                                                       tf.Q.matrix(), tf.V.matrix(), tf.F.matrix()),
                               block.transformer_norm)
            pr = block.projector
            X_bar_out = literal.eq4_projector(bar(X_cur), T_cur, pr.Q_T_to_X.matrix(), pr.K_T_to_X.matrix(),
                                              pr.V_T_to_X.matrix())
            X_proj = rearrange(X_bar_out, "(y x) c -> c y x", y=H)
            X_cur, T_prev = torch.relu(batch_norm_eval(X_proj, block.feature_norm)), T_cur
        torch.testing.assert_close(X_out[n], X_cur, atol=ATOL, rtol=0)
        torch.testing.assert_close(T_out[n], T_prev, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["vt_resnet_mini", "vt_fpn_resnet_mini"])
def test_samples_in_a_batch_stay_independent(name):
    """In eval mode each image's output depends on that image alone: permuting the batch permutes the outputs,
    and changing one image leaves the others' outputs as they were."""
    import vtlab

    torch.manual_seed(0)
    model = vtlab.create_model(name, num_classes=5).double().eval()
    images = torch.randn(4, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        out = model(images)
        order = torch.tensor([2, 0, 3, 1])
        torch.testing.assert_close(model(images[order]), out[order], atol=1e-9, rtol=0)
        altered = images.clone()
        altered[1] = torch.randn(3, 64, 64, dtype=torch.float64) * 3
        changed = model(altered)
    keep = torch.tensor([0, 2, 3])
    torch.testing.assert_close(changed[keep], out[keep], atol=1e-9, rtol=0)
    assert not torch.allclose(changed[1], out[1])


@pytest.mark.parametrize("name", ["vt_resnet_mini", "vt_fpn_resnet_mini"])
def test_fused_attention_is_the_same_model(name):
    """``fused_attention=True`` (the projector as one scaled_dot_product_attention call) changes how equation (4)
    is computed, not what: with the same weights, the outputs and every gradient match the matmul path, in float64
    and in training mode (batch statistics)."""
    import vtlab

    models = []
    for fused in (False, True):
        torch.manual_seed(0)
        models.append(vtlab.create_model(name, num_classes=5, fused_attention=fused).double().train())
    assert all(p.fused for p in models[1].modules() if isinstance(p, Projector))
    assert any(isinstance(p, Projector) for p in models[1].modules())
    images = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    outputs = []
    for model in models:
        out = model(images)
        out.square().mean().backward()
        outputs.append(out)
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-10, rtol=0)
    for (name_a, a), (_, b) in zip(models[0].named_parameters(), models[1].named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-10, rtol=1e-8, msg=name_a)


def test_centred_filter_tokens_are_equation_5_on_T_in_a_minus_its_mean():
    """centre_filter_tokens (vtlab's option): W_A = (T_in,a − mean over its L/2 tokens) W_T→WA, the rest as (5)."""
    centred = randomize(DynamicTokenizer(C, CT, L, position_encoding=False, scaled=False, centre_filter_tokens=True))
    X, T_in = feature_map(), torch.randn(N, L, CT, dtype=torch.float64)
    T, A = centred(X, T_in)
    T_a = T_in[:, :L // 2]
    shifted = torch.cat([T_a - T_a.mean(dim=1, keepdim=True), T_in[:, L // 2:]], dim=1)
    for n in range(N):
        T_ref, A_ref = literal.eq5_dynamic_tokens(shifted[n], bar(X[n]), centred.W_T_to_WA.matrix(),
                                                  centred.W_V.matrix())
        torch.testing.assert_close(A[n, 0], A_ref, atol=ATOL, rtol=0)
        torch.testing.assert_close(T[n, L // 2:], T_ref[L // 2:], atol=ATOL, rtol=0)
        torch.testing.assert_close(T[n, :L // 2], T_in[n, L // 2:], atol=ATOL, rtol=0)  # T_in,b carried over
