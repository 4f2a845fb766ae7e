"""The model zoo: the ranking architectures teams serve, as small PyTorch modules with declared
inputs (dtype, shape, side), deterministic weights and one-user x N-candidate requests.

Every model is built from a spec (get_spec(name, scale)):
  inputs   (name, dtype, shape tail after the batch axis, side, table, user columns)
           side is "user", "context", "item" or "mixed" (a float input whose leading
           `user columns` columns are user side; the rest are item side)
  tables   {table name: vocabulary}; "mini" caps every vocabulary at MINI_VOCAB_CAP rows,
           "full" is the benchmark size (not committed)
  hist     behaviour sequence length T (mini 20, full 100) and the valid length of requests
  outputs  output names
Everything random comes from numpy's PCG64 generator seeded by a fixed integer and a CRC32 of the
tensor's name (as in peers_common.py), filled row by row, so a mini embedding table is exactly the
first rows of the full one and the weights do not depend on torch's RNG or the machine.

A request is one user x N candidates: user and context inputs (and the user columns of a mixed
input) are identical on every row; ids are drawn from [1, vocab), id 0 is sequence padding.

Usage:
  model = build_model("deepfm", "mini"); make_weights("deepfm", model)
  req = make_request("deepfm", 16, "mini")   # {input name: np.ndarray}
"""
import copy
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHT_SEED = 20251115
REQUEST_SEED = 11
SCALES = ("mini", "full")
MINI_VOCAB_CAP = 200
HIST = {"mini": (20, 13), "full": (100, 67)}  # (T, valid length in requests)

# --------------------------------------------------------------------------------------------
# Fields: (name, table vocabulary at full scale, side)
# --------------------------------------------------------------------------------------------
CTR_FIELDS = [
    ("user_id", 200_000, "user"),
    ("user_age", 10, "user"),
    ("user_gender", 3, "user"),
    ("user_city", 400, "user"),
    ("hour", 24, "context"),
    ("device", 8, "context"),
    ("item_id", 500_000, "item"),
    ("item_cate", 2_000, "item"),
    ("item_brand", 50_000, "item"),
    ("item_shop", 100_000, "item"),
]
# DeepFM's 20 fields: the 10 above and 10 more small ones.
DEEPFM_FIELDS = CTR_FIELDS[:6] + [
    ("user_level", 8, "user"),
    ("user_os", 5, "user"),
    ("user_tag", 1_000, "user"),
    ("net_type", 6, "context"),
    ("page", 30, "context"),
] + CTR_FIELDS[6:] + [
    ("item_price_bucket", 50, "item"),
    ("item_age_days", 366, "item"),
    ("item_seller_level", 10, "item"),
    ("item_tag", 5_000, "item"),
    ("item_source", 12, "item"),
]
ESMM_FIELDS = CTR_FIELDS[:4] + [
    ("user_segment", 100, "user"),
    ("user_occupation", 20, "user"),
    ("user_geo", 1_000, "user"),
] + CTR_FIELDS[4:6] + CTR_FIELDS[6:] + [
    ("intention_node", 500, "item"),
    ("price_bucket", 50, "item"),
    ("item_seller", 80_000, "item"),
    ("item_city", 400, "item"),
    ("item_season", 4, "item"),
]
DIN_FIELDS = [("user_id", 200_000, "user"), ("user_age", 10, "user"), ("hour", 24, "context")]


def _ids(fields, dense_user=2, dense_item=2, emb_dim=8):
    """A spec over one int64 [B] input per field and a mixed float `dense` input."""
    inputs = [(n, "int64", [], s, n, None) for n, _, s in fields]
    if dense_user + dense_item:
        side = "mixed" if dense_user and dense_item else ("user" if dense_user else "item")
        inputs.append(("dense", "float32", [dense_user + dense_item], side, None, dense_user))
    return {"emb_dim": emb_dim, "fields": [n for n, _, _ in fields],
            "tables": {n: v for n, v, _ in fields}, "inputs": inputs,
            "n_dense": dense_user + dense_item, "outputs": ["prob"]}


def _din_spec(att_act, att_layers, att_input, softmax, mask, head_act="prelu"):
    inputs = [(n, "int64", [], s, n, None) for n, _, s in DIN_FIELDS]
    inputs += [("item_id", "int64", [], "item", "item", None),
               ("item_cate", "int64", [], "item", "cate", None),
               ("hist_item_ids", "int64", ["T"], "user", "item", None),
               ("hist_cate_ids", "int64", ["T"], "user", "cate", None)]
    if mask in ("len_mul", "len_where"):
        inputs.append(("hist_len", "int64", [], "user", None, None))
    inputs.append(("dense", "float32", [3], "mixed", None, 1))
    tables = {n: v for n, v, _ in DIN_FIELDS}
    tables.update(item=500_000, cate=2_000)
    return {"emb_dim": 8, "tables": tables, "inputs": inputs, "outputs": ["prob"],
            "att_act": att_act, "att_layers": att_layers, "att_input": att_input,
            "softmax": softmax, "mask": mask, "head_act": head_act, "n_dense": 3}


def _seq_spec(extra_item=(), dense=None):
    """BST/DIEN: user id and age, candidate item and category, the behaviour sequence."""
    inputs = [("user_id", "int64", [], "user", "user_id", None),
              ("user_age", "int64", [], "user", "user_age", None),
              ("item_id", "int64", [], "item", "item", None),
              ("item_cate", "int64", [], "item", "cate", None),
              ("hist_item_ids", "int64", ["T"], "user", "item", None),
              ("hist_cate_ids", "int64", ["T"], "user", "cate", None),
              ("hist_len", "int64", [], "user", None, None)]
    return {"emb_dim": 8, "inputs": inputs, "outputs": ["prob"],
            "tables": {"user_id": 200_000, "user_age": 10, "item": 500_000, "cate": 2_000}}


def _two_tower_spec():
    inputs = [(n, "int64", [], s, n, None) for n, _, s in CTR_FIELDS[:6]]
    inputs += [("hist_item_ids", "int64", ["T"], "user", "item_id", None),
               ("user_dense", "float32", [2], "user", None, 2)]
    inputs += [(n, "int64", [], s, n, None) for n, _, s in CTR_FIELDS[6:9]]
    inputs.append(("item_dense", "float32", [2], "item", None, 0))
    return {"emb_dim": 8, "tables": {n: v for n, v, _ in CTR_FIELDS[:9]}, "inputs": inputs,
            "outputs": ["score"], "tower": [64, 32]}


def _dcn_spec():
    # DeepCTR-torch style: one float input X, every id a column (cast to long in the model), the
    # user/context columns first (ids then dense), then the item columns.
    user = [f for f in CTR_FIELDS if f[2] != "item"]
    item = [f for f in CTR_FIELDS if f[2] == "item"]
    cols = [n for n, _, _ in user] + ["dense_u0", "dense_u1"] + [n for n, _, _ in item] + \
        ["dense_i0", "dense_i1"]
    return {"emb_dim": 8, "tables": {n: v for n, v, _ in CTR_FIELDS}, "x_columns": cols,
            "inputs": [("X", "float32", [len(cols)], "mixed", None, len(user) + 2)],
            "outputs": ["prob"], "n_dense": 4}


def _dlrm_spec():
    # Every sparse feature is a fixed-length bag ([B, L] ids, no padding: EmbeddingBag's
    # padding_idx does not export) summed by nn.EmbeddingBag.
    inputs = [("dense", "float32", [4], "mixed", None, 2),
              ("user_id", "int64", [1], "user", "user_id", None),
              ("user_tags", "int64", [5], "user", "user_tag", None),
              ("hour", "int64", [1], "context", "hour", None),
              ("item_id", "int64", [1], "item", "item_id", None),
              ("item_cate", "int64", [1], "item", "item_cate", None),
              ("item_tags", "int64", [5], "item", "item_tag", None)]
    return {"emb_dim": 16, "inputs": inputs, "outputs": ["prob"], "full_bags": True,
            "tables": {"user_id": 200_000, "user_tag": 5_000, "hour": 24, "item_id": 500_000,
                       "item_cate": 2_000, "item_tag": 5_000}}


def _youtube_spec():
    inputs = [("user_age", "int64", [], "user", "user_age", None),
              ("user_gender", "int64", [], "user", "user_gender", None),
              ("user_city", "int64", [], "user", "user_city", None),
              ("hist_item_ids", "int64", ["T"], "user", "item_in", None),
              ("search_tokens", "int64", [8], "user", "token", None),
              ("example_age", "float32", [1], "context", None, 1),
              ("item_id", "int64", [], "item", "item_out", None)]
    return {"emb_dim": 16, "inputs": inputs, "outputs": ["prob"],
            "tables": {"user_age": 10, "user_gender": 3, "user_city": 400, "item_in": 500_000,
                       "token": 50_000, "item_out": 500_000}}


SPECS = {
    "wdl": _ids(CTR_FIELDS),
    "deepfm": _ids(DEEPFM_FIELDS),
    "xdeepfm": dict(_ids(CTR_FIELDS), cin=[16, 16]),
    "dcn": _dcn_spec(),
    "dcnv2": _ids(CTR_FIELDS),
    "autoint": _ids(CTR_FIELDS),
    "nfm": _ids(CTR_FIELDS),
    "afm": _ids(CTR_FIELDS, dense_user=0, dense_item=0),
    "fibinet": _ids(CTR_FIELDS),
    # DIN: attention activation, MLP widths, attention input, softmax, mask form
    "din_prelu3": _din_spec("prelu", [64, 32, 16], "q,k,q-k,q*k", False, "len_mul"),
    "din_dice2_softmax": _din_spec("dice", [32, 16], "q,k,q*k", True, "len_where",
                                   head_act="dice"),
    "din_sigmoid1_softmax": _din_spec("sigmoid", [36], "q,k", True, "ids_additive"),
    "din_prelu2_qkprod": _din_spec("prelu", [80, 40], "q,k,q*k", False, "ids_where"),
    "bst": _seq_spec(),
    "bst_torch": _seq_spec(),
    "dien": _seq_spec(),
    "dice_mlp": _ids(CTR_FIELDS),
    "dssm_cosine": _two_tower_spec(),
    "dssm_dot": _two_tower_spec(),
    "youtube_dnn": _youtube_spec(),
    "mmoe": dict(_ids(CTR_FIELDS), outputs=["ctr", "cvr"]),
    "ple": dict(_ids(CTR_FIELDS), outputs=["ctr", "cvr"]),
    "dlrm": _dlrm_spec(),
    "esmm_v2": dict(_ids(ESMM_FIELDS, dense_user=1, dense_item=2),
                    outputs=["pctr", "pcvr", "pctcvr"]),
}
SPECS["wdl"]["inputs"].insert(-1, ("cross_gender_cate", "int64", [], "item", "cross_gender_cate",
                                   None))
SPECS["wdl"]["tables"]["cross_gender_cate"] = 6_000
SPECS["esmm_v2"]["inputs"].insert(7, ("user_tags", "int64", [5], "user", "tag", None))
SPECS["esmm_v2"]["tables"]["tag"] = 3_000

DESCRIPTIONS = {
    "wdl": "Wide & Deep: wide = per-field weights + a crossed feature + dense; deep = MLP 64-32",
    "deepfm": "DeepFM, 20 fields: first order + FM 0.5*((sum v)^2 - sum v^2) + MLP 128-64",
    "xdeepfm": "xDeepFM: linear + CIN [16,16] (Conv1d, split half) + MLP 64-32",
    "dcn": "DCN (DeepCTR-torch style single float input X): 3 vector cross layers || MLP 64-32",
    "dcnv2": "DCN-v2: 2 full-matrix cross layers, then MLP 64-32 (stacked)",
    "autoint": "AutoInt+: 2 self-attention layers over fields (2 heads x 8) + MLP 64-32",
    "nfm": "NFM: linear + bi-interaction pooling -> BatchNorm -> MLP 32-16",
    "afm": "AFM: linear + attention over the 45 pairwise products (softmax over pairs)",
    "fibinet": "FiBiNET: SENET reweighting + bilinear interaction (field-all) -> MLP 64-32",
    "din_prelu3": "DIN: PReLU attention MLP 64-32-16, [q,k,q-k,q*k], no softmax, "
                  "mask hist_len Less/Cast/Mul",
    "din_dice2_softmax": "DIN: Dice attention MLP 32-16 (BatchNorm over transposed [B,H,T]), "
                         "[q,k,q*k], softmax, masked_fill(Where) by hist_len; Dice head",
    "din_sigmoid1_softmax": "DIN: sigmoid attention MLP 36, [q,k], softmax with an additive "
                            "-inf mask (masked_fill) from hist ids != 0",
    "din_prelu2_qkprod": "DIN: PReLU attention MLP 80-40, [q,k,q*k], no softmax, Where mask "
                         "from hist ids != 0",
    "bst": "BST: one transformer layer (2 heads, LayerNorm, FFN) over [history, target] "
           "with positions, then MLP 64-32",
    "bst_torch": "BST with torch.nn.TransformerEncoderLayer (batch_first, GELU, "
                 "src_key_padding_mask) over [history, target], then MLP 64-32",
    "dlrm": "DLRM: bottom MLP 32-16 over dense, EmbeddingBag(sum) per bag feature "
            "(fixed length), pairwise dot interaction (bmm, lower triangle), top MLP 64-32",
    "dien": "DIEN-style: GRU interest extractor over the history, then DIN attention "
            "(sigmoid 32, [q,h,q*h], softmax)",
    "dice_mlp": "Keras-style DNN: Linear -> BatchNorm -> Dice (own BatchNorm, no affine, "
                "eps 1e-9) x3 (128-64-32)",
    "dssm_cosine": "DSSM two towers (MLP 64-32 each), sigmoid(5 * cosine)",
    "dssm_dot": "DSSM two towers (MLP 64-32 each), sigmoid(dot)",
    "youtube_dnn": "YouTube DNN: mean-pooled watch history and search tokens + demographics "
                   "-> MLP 128-64-16; sigmoid(u . item_out[item] + bias[item])",
    "mmoe": "MMoE: 3 experts (32), softmax gate per task, towers 16 -> ctr, cvr",
    "ple": "PLE: 2 CGC levels (1 expert per task + 2 shared, 32), towers 16 -> ctr, cvr",
    "esmm_v2": "ESMM, 18 fields + a summed multi-hot user_tags: towers 128-64-32, "
               "pctr, pcvr, pctcvr",
}


def get_spec(name, scale="mini"):
    """The spec of model `name` at `scale`; a fresh copy."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    spec = copy.deepcopy(SPECS[name])
    spec["name"], spec["scale"] = name, scale
    if scale == "mini":
        spec["tables"] = {k: min(v, MINI_VOCAB_CAP) for k, v in spec["tables"].items()}
    spec["hist_len_max"], spec["hist_len"] = HIST[scale]
    spec["inputs"] = [(n, dt, [spec["hist_len_max"] if d == "T" else d for d in shape], side,
                       table, ucols) for n, dt, shape, side, table, ucols in spec["inputs"]]
    return spec


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------
class Dice(nn.Module):
    """DeepCTR-torch Dice: p = sigmoid(BN(x)); y = alpha * (1 - p) * x + p * x. For 3-D
    [B, T, C] input the BatchNorm runs over C on the transposed [B, C, T] tensor."""

    def __init__(self, channels, dim=2, keras=False):
        super().__init__()
        # Keras DeepCTR: BatchNormalization(center=False, scale=False, epsilon=1e-9).
        self.bn = (nn.BatchNorm1d(channels, eps=1e-9, affine=False) if keras
                   else nn.BatchNorm1d(channels, eps=1e-8))
        self.dim = dim
        self.alpha = nn.Parameter(torch.zeros(channels if dim == 2 else (channels, 1)))

    def forward(self, x):
        if self.dim == 2:
            p = torch.sigmoid(self.bn(x))
            return self.alpha * (1 - p) * x + p * x
        x = torch.transpose(x, 1, 2)
        p = torch.sigmoid(self.bn(x))
        out = self.alpha * (1 - p) * x + p * x
        return torch.transpose(out, 1, 2)


def activation(kind, width, dim=2):
    if kind == "relu":
        return nn.ReLU()
    if kind == "prelu":  # per channel; one slope on [B, T, C] (as DeepCTR-torch's attention)
        return nn.PReLU(width if dim == 2 else 1)
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "dice":
        return Dice(width, dim)
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.1)
    raise ValueError(kind)


class MLP(nn.Module):
    """Linear [-> BatchNorm] -> activation per hidden width; `out` > 0 adds a last Linear."""

    def __init__(self, d_in, widths, act="relu", out=0, bn=False, dim=2, keras_dice=False):
        super().__init__()
        layers = []
        for w in widths:
            layers.append(nn.Linear(d_in, w))
            if bn:
                layers.append(nn.BatchNorm1d(w))
            layers.append(Dice(w, dim, keras=True) if keras_dice else activation(act, w, dim))
            d_in = w
        if out:
            layers.append(nn.Linear(d_in, out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class FieldModel(nn.Module):
    """Base for models over one int64 [B] input per field and a float `dense` input."""

    def __init__(self, spec, linear=False):
        super().__init__()
        self.spec = spec
        self.d = spec["emb_dim"]
        self.fields = list(spec["fields"])
        self.n_dense = spec.get("n_dense", 0)
        self.emb = nn.ModuleDict({f: nn.Embedding(spec["tables"][f], self.d) for f in self.fields})
        if linear:  # first-order weights: one scalar per id, a linear map of dense
            self.lin = nn.ModuleDict({f: nn.Embedding(spec["tables"][f], 1) for f in self.fields})
            if self.n_dense:
                self.lin_dense = nn.Linear(self.n_dense, 1)

    def split(self, args):
        ids = args[:len(self.fields)]
        dense = args[len(self.fields)] if self.n_dense else None
        return ids, dense

    def stacked(self, ids):  # [B, F, d]
        return torch.stack([self.emb[f](i) for f, i in zip(self.fields, ids)], 1)

    def linear_logit(self, ids, dense):
        logit = torch.cat([self.lin[f](i) for f, i in zip(self.fields, ids)], -1).sum(
            -1, keepdim=True)
        if dense is not None:
            logit = logit + self.lin_dense(dense)
        return logit

    def flat(self, emb, dense):  # [B, F*d (+ n_dense)]
        x = emb.flatten(1)
        return x if dense is None else torch.cat([x, dense], -1)


def pair_indices(n):
    rows, cols = [], []
    for i in range(n):
        for j in range(i + 1, n):
            rows.append(i)
            cols.append(j)
    return torch.tensor(rows), torch.tensor(cols)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
class WDL(FieldModel):
    def __init__(self, spec):
        super().__init__(spec, linear=True)
        self.cross = nn.Embedding(spec["tables"]["cross_gender_cate"], 1)
        self.deep = MLP(len(self.fields) * self.d + self.n_dense, [64, 32], "relu", out=1)

    def forward(self, *args):
        ids = args[:len(self.fields)]
        cross, dense = args[len(self.fields)], args[len(self.fields) + 1]
        wide = self.linear_logit(ids, dense) + self.cross(cross)
        deep = self.deep(self.flat(self.stacked(ids), dense))
        return torch.sigmoid(wide + deep)


class DeepFM(FieldModel):
    def __init__(self, spec):
        super().__init__(spec, linear=True)
        self.dnn = MLP(len(self.fields) * self.d + self.n_dense, [128, 64], "relu", out=1)

    def forward(self, *args):
        ids, dense = self.split(args)
        v = self.stacked(ids)                                           # [B,F,d]
        square_of_sum = torch.pow(torch.sum(v, 1, keepdim=True), 2)     # [B,1,d]
        sum_of_square = torch.sum(v * v, 1, keepdim=True)
        fm = 0.5 * torch.sum(square_of_sum - sum_of_square, 2)          # [B,1]
        return torch.sigmoid(self.linear_logit(ids, dense) + fm + self.dnn(self.flat(v, dense)))


class XDeepFM(FieldModel):
    """CIN as in DeepCTR-torch: z = x0 (x) x_k over fields, Conv1d(kernel 1), split half."""

    def __init__(self, spec):
        super().__init__(spec, linear=True)
        m = len(self.fields)
        self.sizes = spec["cin"]
        self.convs = nn.ModuleList()
        prev, total = m, 0
        for i, s in enumerate(self.sizes):
            self.convs.append(nn.Conv1d(m * prev, s, 1))
            last = i == len(self.sizes) - 1
            prev = s if last else s // 2
            total += prev
        self.cin_out = nn.Linear(total, 1, bias=False)
        self.dnn = MLP(m * self.d + self.n_dense, [64, 32], "relu", out=1)

    def forward(self, *args):
        ids, dense = self.split(args)
        x0 = self.stacked(ids)                                          # [B,m,d]
        b, m, d = x0.shape
        hidden, outs = x0, []
        for i, conv in enumerate(self.convs):
            z = x0.unsqueeze(2) * hidden.unsqueeze(1)                   # [B,m,H,d]
            z = z.reshape(b, m * hidden.shape[1], d)
            z = F.relu(conv(z))                                          # [B,s,d]
            if i < len(self.convs) - 1:
                nxt, direct = torch.split(z, self.sizes[i] // 2, 1)
                hidden = nxt
                outs.append(direct)
            else:
                outs.append(z)
        cin = self.cin_out(torch.sum(torch.cat(outs, 1), -1))
        return torch.sigmoid(self.linear_logit(ids, dense) + cin + self.dnn(self.flat(x0, dense)))


class DCN(nn.Module):
    """DCN with DeepCTR-torch's single float input: ids are columns of X, cast to long."""

    def __init__(self, spec):
        super().__init__()
        self.d = spec["emb_dim"]
        cols = spec["x_columns"]
        self.id_cols = [(c, i) for i, c in enumerate(cols) if c in spec["tables"]]
        self.dense_cols = [i for i, c in enumerate(cols) if c not in spec["tables"]]
        self.emb = nn.ModuleDict({c: nn.Embedding(spec["tables"][c], self.d)
                                  for c, _ in self.id_cols})
        dim = len(self.id_cols) * self.d + len(self.dense_cols)
        self.kernels = nn.ParameterList([nn.Parameter(torch.zeros(dim, 1)) for _ in range(3)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(dim)) for _ in range(3)])
        self.dnn = MLP(dim, [64, 32], "relu")
        self.out = nn.Linear(dim + 32, 1)

    def forward(self, X):
        embs = [self.emb[c](X[:, i].long()) for c, i in self.id_cols]
        dense = torch.cat([X[:, i:i + 1] for i in self.dense_cols], -1)
        x0 = torch.cat(embs + [dense], -1)                               # [B,D]
        xl = x0
        for w, b in zip(self.kernels, self.biases):
            xl = x0 * torch.matmul(xl, w) + b + xl
        return torch.sigmoid(self.out(torch.cat([xl, self.dnn(x0)], -1)))


class DCNv2(FieldModel):
    def __init__(self, spec):
        super().__init__(spec)
        dim = len(self.fields) * self.d + self.n_dense
        self.cross = nn.ModuleList([nn.Linear(dim, dim) for _ in range(2)])
        self.dnn = MLP(dim, [64, 32], "relu", out=1)

    def forward(self, *args):
        ids, dense = self.split(args)
        x0 = self.flat(self.stacked(ids), dense)
        xl = x0
        for layer in self.cross:
            xl = x0 * layer(xl) + xl
        return torch.sigmoid(self.dnn(xl))


class AutoInt(FieldModel):
    def __init__(self, spec, heads=2, att=8, layers=2):
        super().__init__(spec)
        self.heads, self.att = heads, att
        self.att_layers = nn.ModuleList()
        d_in = self.d
        for _ in range(layers):
            self.att_layers.append(nn.ModuleDict({
                k: nn.Linear(d_in, heads * att, bias=False) for k in ("q", "k", "v", "res")}))
            d_in = heads * att
        m = len(self.fields)
        self.att_out = nn.Linear(m * d_in, 1, bias=False)
        self.dnn = MLP(m * self.d + self.n_dense, [64, 32], "relu", out=1)

    def forward(self, *args):
        ids, dense = self.split(args)
        v = self.stacked(ids)
        x = v
        b, m, _ = v.shape
        for layer in self.att_layers:
            def heads(t):
                return t.reshape(b, m, self.heads, self.att).transpose(1, 2)  # [B,H,m,a]
            q, k, val = heads(layer["q"](x)), heads(layer["k"](x)), heads(layer["v"](x))
            a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), -1)       # [B,H,m,m]
            o = torch.matmul(a, val).transpose(1, 2).reshape(b, m, self.heads * self.att)
            x = F.relu(o + layer["res"](x))
        return torch.sigmoid(self.att_out(x.flatten(1)) + self.dnn(self.flat(v, dense)))


class NFM(FieldModel):
    def __init__(self, spec):
        super().__init__(spec, linear=True)
        self.bn = nn.BatchNorm1d(self.d)
        self.dnn = MLP(self.d + self.n_dense, [32, 16], "relu", out=1)

    def forward(self, *args):
        ids, dense = self.split(args)
        v = self.stacked(ids)
        bi = 0.5 * (torch.pow(v.sum(1), 2) - (v * v).sum(1))           # [B,d]
        deep = self.dnn(torch.cat([self.bn(bi), dense], -1))
        return torch.sigmoid(self.linear_logit(ids, dense) + deep)


class AFM(FieldModel):
    def __init__(self, spec, att=8):
        super().__init__(spec, linear=True)
        rows, cols = pair_indices(len(self.fields))
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.att = nn.Linear(self.d, att)
        self.att_h = nn.Linear(att, 1, bias=False)
        self.proj = nn.Linear(self.d, 1, bias=False)

    def forward(self, *args):
        ids, dense = self.split(args)
        v = self.stacked(ids)
        p = v[:, self.rows] * v[:, self.cols]                           # [B,P,d]
        a = torch.softmax(self.att_h(F.relu(self.att(p))), 1)           # [B,P,1]
        return torch.sigmoid(self.linear_logit(ids, dense) + self.proj((a * p).sum(1)))


class FiBiNET(FieldModel):
    def __init__(self, spec, reduction=3):
        super().__init__(spec, linear=True)
        m = len(self.fields)
        rows, cols = pair_indices(m)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        r = max(1, m // reduction)
        self.se1 = nn.Linear(m, r, bias=False)
        self.se2 = nn.Linear(r, m, bias=False)
        self.bilinear = nn.Linear(self.d, self.d, bias=False)
        self.dnn = MLP(2 * len(rows) * self.d + self.n_dense, [64, 32], "relu", out=1)

    def interact(self, v):
        return self.bilinear(v[:, self.rows]) * v[:, self.cols]          # [B,P,d]

    def forward(self, *args):
        ids, dense = self.split(args)
        v = self.stacked(ids)
        a = F.relu(self.se2(F.relu(self.se1(v.mean(-1)))))              # [B,m]
        s = v * a.unsqueeze(-1)
        x = torch.cat([self.interact(v).flatten(1), self.interact(s).flatten(1), dense], -1)
        return torch.sigmoid(self.linear_logit(ids, dense) + self.dnn(x))


class DIN(nn.Module):
    """DIN with a configurable target attention (activation, depth, input terms, softmax, mask)."""

    def __init__(self, spec):
        super().__init__()
        d = spec["emb_dim"]
        self.spec = spec
        self.user_fields = [n for n, *_ in DIN_FIELDS]
        self.emb = nn.ModuleDict({t: nn.Embedding(spec["tables"][t], d) for t in spec["tables"]})
        terms = spec["att_input"].split(",")
        self.terms = terms
        self.att = MLP(len(terms) * 2 * d, spec["att_layers"], spec["att_act"], out=1, dim=3)
        self.mask = spec["mask"]
        self.softmax = spec["softmax"]
        t = spec["hist_len_max"]
        self.register_buffer("positions", torch.arange(t, dtype=torch.int64), persistent=False)
        d_in = len(self.user_fields) * d + 2 * d + 2 * d + spec["n_dense"]
        self.head = MLP(d_in, [64, 32], spec["head_act"], out=1)

    def forward(self, user_id, user_age, hour, item_id, item_cate, hist_item_ids, hist_cate_ids,
                *rest):
        dense = rest[-1]
        u = [self.emb["user_id"](user_id), self.emb["user_age"](user_age), self.emb["hour"](hour)]
        q = torch.cat([self.emb["item"](item_id), self.emb["cate"](item_cate)], -1)      # [B,2d]
        k = torch.cat([self.emb["item"](hist_item_ids), self.emb["cate"](hist_cate_ids)], -1)
        qe = q.unsqueeze(1).expand_as(k)
        parts = {"q": qe, "k": k, "q-k": qe - k, "q*k": qe * k}
        score = self.att(torch.cat([parts[t] for t in self.terms], -1)).squeeze(-1)   # [B,T]
        if self.mask.startswith("len"):
            mask = self.positions.unsqueeze(0) < rest[0].unsqueeze(1)
        else:
            mask = hist_item_ids != 0
        if self.mask == "len_mul":
            w = score * mask.to(score.dtype)
        elif self.mask in ("len_where", "ids_where"):
            fill = -2.0 ** 32 + 1 if self.softmax else 0.0
            w = torch.where(mask, score, torch.full_like(score, fill))
        else:  # ids_additive: + 0 where valid, + -inf where padding
            w = score + torch.zeros_like(score).masked_fill(~mask, float("-inf"))
        if self.softmax:
            w = torch.softmax(w, -1)
        pooled = torch.matmul(w.unsqueeze(1), k).squeeze(1)             # [B,2d]
        return torch.sigmoid(self.head(torch.cat(u + [q, pooled, dense], -1)))


class BST(nn.Module):
    """Behavior Sequence Transformer: one post-LN encoder layer over [history, target]."""

    def __init__(self, spec, heads=2):
        super().__init__()
        d = spec["emb_dim"]
        self.emb = nn.ModuleDict({t: nn.Embedding(spec["tables"][t], d) for t in spec["tables"]})
        t = spec["hist_len_max"]
        h = 2 * d
        self.pos = nn.Embedding(t + 1, h)
        self.heads, self.h = heads, h
        self.qkv = nn.ModuleDict({k: nn.Linear(h, h) for k in ("q", "k", "v", "o")})
        self.ln1 = nn.LayerNorm(h)
        self.ffn1 = nn.Linear(h, 2 * h)
        self.ffn2 = nn.Linear(2 * h, h)
        self.ln2 = nn.LayerNorm(h)
        self.register_buffer("positions", torch.arange(t + 1, dtype=torch.int64),
                             persistent=False)
        self.head = MLP((t + 1) * h + 2 * d, [64, 32], "leaky_relu", out=1)

    def forward(self, user_id, user_age, item_id, item_cate, hist_item_ids, hist_cate_ids,
                hist_len):
        target = torch.cat([self.emb["item"](item_id), self.emb["cate"](item_cate)], -1)
        hist = torch.cat([self.emb["item"](hist_item_ids), self.emb["cate"](hist_cate_ids)], -1)
        x = torch.cat([hist, target.unsqueeze(1)], 1) + self.pos(self.positions)  # [B,T+1,h]
        b, n, h = x.shape
        valid = (self.positions[:-1].unsqueeze(0) < hist_len.unsqueeze(1))
        valid = torch.cat([valid, torch.ones_like(valid[:, :1])], 1)            # [B,T+1]
        bias = (1.0 - valid.to(x.dtype)) * -1e9

        def split(t):
            return t.reshape(b, n, self.heads, h // self.heads).transpose(1, 2)
        q, k, v = split(self.qkv["q"](x)), split(self.qkv["k"](x)), split(self.qkv["v"](x))
        s = torch.matmul(q, k.transpose(-1, -2)) / float(np.sqrt(h // self.heads))
        a = torch.softmax(s + bias[:, None, None, :], -1)
        o = self.qkv["o"](torch.matmul(a, v).transpose(1, 2).reshape(b, n, h))
        x = self.ln1(x + o)
        x = self.ln2(x + self.ffn2(F.leaky_relu(self.ffn1(x), 0.1)))
        u = torch.cat([self.emb["user_id"](user_id), self.emb["user_age"](user_age)], -1)
        return torch.sigmoid(self.head(torch.cat([x.flatten(1), u], -1)))


class BSTTorch(nn.Module):
    """BST as a PyTorch user writes it: nn.TransformerEncoderLayer with a key padding mask."""

    def __init__(self, spec, heads=2):
        super().__init__()
        d = spec["emb_dim"]
        self.emb = nn.ModuleDict({t: nn.Embedding(spec["tables"][t], d) for t in spec["tables"]})
        t = spec["hist_len_max"]
        h = 2 * d
        self.pos = nn.Embedding(t + 1, h)
        self.layer = nn.TransformerEncoderLayer(h, heads, 2 * h, dropout=0.0, activation="gelu",
                                                batch_first=True)
        self.register_buffer("positions", torch.arange(t + 1, dtype=torch.int64),
                             persistent=False)
        self.head = MLP((t + 1) * h + 2 * d, [64, 32], "leaky_relu", out=1)

    def forward(self, user_id, user_age, item_id, item_cate, hist_item_ids, hist_cate_ids,
                hist_len):
        target = torch.cat([self.emb["item"](item_id), self.emb["cate"](item_cate)], -1)
        hist = torch.cat([self.emb["item"](hist_item_ids), self.emb["cate"](hist_cate_ids)], -1)
        x = torch.cat([hist, target.unsqueeze(1)], 1) + self.pos(self.positions)
        padding = self.positions[:-1].unsqueeze(0) >= hist_len.unsqueeze(1)
        padding = torch.cat([padding, torch.zeros_like(padding[:, :1])], 1)      # [B,T+1]
        x = self.layer(x, src_key_padding_mask=padding)
        u = torch.cat([self.emb["user_id"](user_id), self.emb["user_age"](user_age)], -1)
        return torch.sigmoid(self.head(torch.cat([x.flatten(1), u], -1)))


class DLRM(nn.Module):
    def __init__(self, spec):
        super().__init__()
        d = spec["emb_dim"]
        self.bags = [(n, table) for n, _, _, _, table, _ in spec["inputs"] if table]
        self.emb = nn.ModuleDict({t: nn.EmbeddingBag(v, d, mode="sum")
                                  for t, v in spec["tables"].items()})
        self.bottom = MLP(4, [32, d], "relu")
        n = len(self.bags) + 1
        li, lj = zip(*[(i, j) for i in range(n) for j in range(i)])
        self.register_buffer("li", torch.tensor(li), persistent=False)
        self.register_buffer("lj", torch.tensor(lj), persistent=False)
        self.top = MLP(d + len(li), [64, 32], "relu", out=1)

    def forward(self, dense, *bags):
        x = self.bottom(dense)                                            # [B,d]
        t = torch.stack([x] + [self.emb[table](ids) for (_, table), ids in zip(self.bags, bags)],
                        1)                                                 # [B,n,d]
        z = torch.bmm(t, t.transpose(1, 2))                               # [B,n,n]
        return torch.sigmoid(self.top(torch.cat([x, z[:, self.li, self.lj]], -1)))


class DIEN(nn.Module):
    """Interest extractor GRU over the history, then DIN attention with the target."""

    def __init__(self, spec):
        super().__init__()
        d = spec["emb_dim"]
        self.emb = nn.ModuleDict({t: nn.Embedding(spec["tables"][t], d) for t in spec["tables"]})
        h = 2 * d
        self.gru = nn.GRU(h, h, batch_first=True)
        self.att = MLP(3 * h, [32], "sigmoid", out=1, dim=3)
        t = spec["hist_len_max"]
        self.register_buffer("positions", torch.arange(t, dtype=torch.int64), persistent=False)
        self.head = MLP(2 * d + 2 * h, [64, 32], "prelu", out=1)

    def forward(self, user_id, user_age, item_id, item_cate, hist_item_ids, hist_cate_ids,
                hist_len):
        q = torch.cat([self.emb["item"](item_id), self.emb["cate"](item_cate)], -1)
        k = torch.cat([self.emb["item"](hist_item_ids), self.emb["cate"](hist_cate_ids)], -1)
        states, _ = self.gru(k)                                           # [B,T,h]
        qe = q.unsqueeze(1).expand_as(states)
        score = self.att(torch.cat([qe, states, qe * states], -1)).squeeze(-1)
        mask = self.positions.unsqueeze(0) < hist_len.unsqueeze(1)
        w = torch.softmax(torch.where(mask, score, torch.full_like(score, -1e9)), -1)
        pooled = torch.matmul(w.unsqueeze(1), states).squeeze(1)
        u = torch.cat([self.emb["user_id"](user_id), self.emb["user_age"](user_age)], -1)
        return torch.sigmoid(self.head(torch.cat([u, q, pooled], -1)))


class DiceMLP(FieldModel):
    """DeepCTR (Keras) DNN with use_bn=True and Dice: Dense -> BatchNorm -> Dice."""

    def __init__(self, spec):
        super().__init__(spec)
        self.dnn = MLP(len(self.fields) * self.d + self.n_dense, [128, 64, 32], bn=True,
                       keras_dice=True, out=1)

    def forward(self, *args):
        ids, dense = self.split(args)
        return torch.sigmoid(self.dnn(self.flat(self.stacked(ids), dense)))


class TwoTower(nn.Module):
    """DSSM: a user tower over user/context ids, mean-pooled history and user dense; an item
    tower over item ids and item dense; score by cosine (scaled) or dot product."""

    def __init__(self, spec, cosine):
        super().__init__()
        d = spec["emb_dim"]
        self.user_fields = [n for n, *_ in CTR_FIELDS[:6]]
        self.item_fields = [n for n, *_ in CTR_FIELDS[6:9]]
        self.emb = nn.ModuleDict({t: nn.Embedding(spec["tables"][t], d) for t in spec["tables"]})
        self.user_tower = MLP(7 * d + 2, spec["tower"], "relu")
        self.item_tower = MLP(3 * d + 2, spec["tower"][:-1], "relu", out=spec["tower"][-1])
        self.cosine = cosine

    def forward(self, user_id, user_age, user_gender, user_city, hour, device, hist_item_ids,
                user_dense, item_id, item_cate, item_brand, item_dense):
        us = [self.emb[f](i) for f, i in zip(self.user_fields, (user_id, user_age, user_gender,
                                                                user_city, hour, device))]
        mask = (hist_item_ids != 0).to(torch.float32).unsqueeze(-1)      # [B,T,1]
        hist = (self.emb["item_id"](hist_item_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        u = self.user_tower(torch.cat(us + [hist, user_dense], -1))
        its = [self.emb[f](i) for f, i in zip(self.item_fields, (item_id, item_cate, item_brand))]
        v = self.item_tower(torch.cat(its + [item_dense], -1))
        if self.cosine:
            return torch.sigmoid(5.0 * F.cosine_similarity(u, v, dim=-1).unsqueeze(-1))
        return torch.sigmoid((u * v).sum(-1, keepdim=True))


class YouTubeDNN(nn.Module):
    def __init__(self, spec):
        super().__init__()
        d = spec["emb_dim"]
        tables = dict(spec["tables"])
        self.emb = nn.ModuleDict({t: nn.Embedding(v, d) for t, v in tables.items()})
        self.item_bias = nn.Embedding(tables["item_out"], 1)
        self.tower = MLP(5 * d + 1, [128, 64], "relu", out=d)

    def forward(self, user_age, user_gender, user_city, hist_item_ids, search_tokens, example_age,
                item_id):
        def mean(ids, table):
            mask = (ids != 0).to(torch.float32).unsqueeze(-1)
            return (self.emb[table](ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        x = torch.cat([self.emb["user_age"](user_age), self.emb["user_gender"](user_gender),
                       self.emb["user_city"](user_city), mean(hist_item_ids, "item_in"),
                       mean(search_tokens, "token"), example_age], -1)
        u = F.relu(self.tower(x))                                         # [B,d]
        logit = (u * self.emb["item_out"](item_id)).sum(-1, keepdim=True) + self.item_bias(item_id)
        return torch.sigmoid(logit)


class MMoE(FieldModel):
    def __init__(self, spec, experts=3, width=32, tasks=2):
        super().__init__(spec)
        dim = len(self.fields) * self.d + self.n_dense
        self.experts = nn.ModuleList([MLP(dim, [width], "relu") for _ in range(experts)])
        self.gates = nn.ModuleList([nn.Linear(dim, experts) for _ in range(tasks)])
        self.towers = nn.ModuleList([MLP(width, [16], "relu", out=1) for _ in range(tasks)])

    def forward(self, *args):
        ids, dense = self.split(args)
        x = self.flat(self.stacked(ids), dense)
        e = torch.stack([ex(x) for ex in self.experts], 1)                # [B,E,w]
        outs = []
        for gate, tower in zip(self.gates, self.towers):
            g = torch.softmax(gate(x), -1).unsqueeze(-1)                  # [B,E,1]
            outs.append(torch.sigmoid(tower((g * e).sum(1))))
        return tuple(outs)


class PLE(FieldModel):
    def __init__(self, spec, levels=2, task_experts=1, shared_experts=2, width=32, tasks=2):
        super().__init__(spec)
        dim = len(self.fields) * self.d + self.n_dense
        self.tasks, self.levels = tasks, levels
        self.task_exp = nn.ModuleList()
        self.shared_exp = nn.ModuleList()
        self.task_gates = nn.ModuleList()
        self.shared_gates = nn.ModuleList()
        d_in = dim
        for lv in range(levels):
            self.task_exp.append(nn.ModuleList([
                nn.ModuleList([MLP(d_in, [width], "relu") for _ in range(task_experts)])
                for _ in range(tasks)]))
            self.shared_exp.append(nn.ModuleList([MLP(d_in, [width], "relu")
                                                  for _ in range(shared_experts)]))
            self.task_gates.append(nn.ModuleList([nn.Linear(d_in, task_experts + shared_experts)
                                                  for _ in range(tasks)]))
            if lv < levels - 1:
                self.shared_gates.append(nn.Linear(d_in, tasks * task_experts + shared_experts))
            d_in = width
        self.towers = nn.ModuleList([MLP(width, [16], "relu", out=1) for _ in range(tasks)])

    def forward(self, *args):
        ids, dense = self.split(args)
        x = self.flat(self.stacked(ids), dense)
        task_in, shared_in = [x] * self.tasks, x
        for lv in range(self.levels):
            t_out = [[e(task_in[t]) for e in self.task_exp[lv][t]] for t in range(self.tasks)]
            s_out = [e(shared_in) for e in self.shared_exp[lv]]
            new_task = []
            for t in range(self.tasks):
                e = torch.stack(t_out[t] + s_out, 1)
                g = torch.softmax(self.task_gates[lv][t](task_in[t]), -1).unsqueeze(-1)
                new_task.append((g * e).sum(1))
            if lv < self.levels - 1:
                e = torch.stack([o for ts in t_out for o in ts] + s_out, 1)
                g = torch.softmax(self.shared_gates[lv](shared_in), -1).unsqueeze(-1)
                shared_in = (g * e).sum(1)
            task_in = new_task
        return tuple(torch.sigmoid(tw(h)) for tw, h in zip(self.towers, task_in))


class ESMMv2(FieldModel):
    def __init__(self, spec):
        super().__init__(spec)
        self.tags = nn.Embedding(spec["tables"]["tag"], self.d)
        dim = (len(self.fields) + 1) * self.d + self.n_dense
        self.ctr = MLP(dim, [128, 64, 32], "relu", out=1)
        self.cvr = MLP(dim, [128, 64, 32], "relu", out=1)

    def forward(self, *args):
        n = len(self.fields)
        ids = args[:7] + args[8:n + 1]
        tags, dense = args[7], args[n + 1]
        mask = (tags != 0).to(torch.float32).unsqueeze(-1)
        pooled = (self.tags(tags) * mask).sum(1)                          # [B,d]
        x = torch.cat([self.emb[f](i) for f, i in zip(self.fields, ids)] + [pooled, dense], -1)
        pctr = torch.sigmoid(self.ctr(x))
        pcvr = torch.sigmoid(self.cvr(x))
        return pctr, pcvr, pctr * pcvr


MODEL_CLASSES = {
    "wdl": WDL, "deepfm": DeepFM, "xdeepfm": XDeepFM, "dcn": DCN, "dcnv2": DCNv2,
    "autoint": AutoInt, "nfm": NFM, "afm": AFM, "fibinet": FiBiNET,
    "din_prelu3": DIN, "din_dice2_softmax": DIN, "din_sigmoid1_softmax": DIN,
    "din_prelu2_qkprod": DIN, "bst": BST, "bst_torch": BSTTorch, "dien": DIEN, "dice_mlp": DiceMLP,
    "dssm_cosine": lambda s: TwoTower(s, cosine=True),
    "dssm_dot": lambda s: TwoTower(s, cosine=False),
    "youtube_dnn": YouTubeDNN, "mmoe": MMoE, "ple": PLE, "dlrm": DLRM, "esmm_v2": ESMMv2,
}
MODELS = list(MODEL_CLASSES)


def build_model(name, scale="mini"):
    """A fresh nn.Module of model `name` at `scale` (weights not yet set)."""
    return MODEL_CLASSES[name](get_spec(name, scale))


# --------------------------------------------------------------------------------------------
# Deterministic weights
# --------------------------------------------------------------------------------------------
def _rng(seed, name):
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _glorot(g, shape, fan_in, fan_out, gain=1.0):
    lim = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return g.uniform(-lim, lim, size=shape)


def _init(g, module, pname, shape, is_last_bias):
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return g.normal(0.0, 0.05 if shape[1] == 1 else 0.1, size=shape)
    if isinstance(module, nn.PReLU) or (isinstance(module, Dice) and pname == "alpha"):
        return g.uniform(0.05, 0.35, size=shape)
    if isinstance(module, nn.BatchNorm1d):
        return {"weight": lambda: g.uniform(0.8, 1.2, size=shape),
                "bias": lambda: g.uniform(-0.1, 0.1, size=shape),
                "running_mean": lambda: g.normal(0.0, 0.2, size=shape),
                "running_var": lambda: g.uniform(0.5, 1.5, size=shape)}[pname]()
    if isinstance(module, nn.LayerNorm):
        return (g.uniform(0.8, 1.2, size=shape) if pname == "weight"
                else g.uniform(-0.1, 0.1, size=shape))
    if isinstance(module, nn.MultiheadAttention) and pname == "in_proj_weight":
        return _glorot(g, shape, shape[1], shape[0] // 3, 1.2)
    if isinstance(module, nn.GRU):
        k = 1.0 / np.sqrt(module.hidden_size)
        return g.uniform(-k, k, size=shape)
    if pname.endswith("bias") or (isinstance(module, DCN) and pname.startswith("biases")):
        a = g.uniform(-0.1, 0.1, size=shape)
        return a - 2.0 if is_last_bias else a
    if isinstance(module, (nn.Linear, nn.Conv1d)):
        fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
        return _glorot(g, shape, fan_in, fan_out, 1.2)
    if isinstance(module, DCN) and pname.startswith("kernels"):
        return _glorot(g, shape, shape[0], 1, 0.5)
    raise ValueError(f"no initializer for {type(module).__name__}.{pname} {shape}")


def make_weights(name, model):
    """Fill `model` with deterministic weights; return {state_dict name: np.ndarray}.

    Final-layer biases (the Linear right before a sigmoid output) get -2 so that outputs look
    like click rates; every other tensor is drawn from its own generator seeded by its name."""
    out = {}
    modules = dict(model.named_modules())
    last_biases = _last_biases(model)
    for full, p in model.state_dict().items():
        if full.endswith("num_batches_tracked"):
            out[full] = p.numpy().copy()
            continue
        mod_name, _, pname = full.rpartition(".")
        module = modules[mod_name]
        if isinstance(module, nn.ParameterList):
            mod_name, _, plist = mod_name.rpartition(".")
            module, pname = modules[mod_name], plist + "." + pname
        g = _rng(WEIGHT_SEED, name + "/" + full)
        a = _init(g, module, pname, tuple(p.shape), full in last_biases)
        out[full] = np.ascontiguousarray(a, dtype=np.float32)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in out.items()})
    return out


def _last_biases(model):
    """Biases of the last Linear of each output MLP (MLP(..., out=1) modules and DCN.out)."""
    names = set()
    for n, m in model.named_modules():
        if isinstance(m, MLP) and isinstance(m.net[-1], nn.Linear) and m.net[-1].out_features == 1:
            names.add(f"{n}.net.{len(m.net) - 1}.bias")
    if isinstance(model, DCN):
        names.add("out.bias")
    return names


# --------------------------------------------------------------------------------------------
# Requests: 1 user x N candidates
# --------------------------------------------------------------------------------------------
def make_request(name, n=16, scale="mini"):
    """{input name: np.ndarray with leading dim n}. User/context inputs (and the user columns of
    a mixed input) are the same on every row; behaviour sequences hold `hist_len` ids then 0."""
    g = _rng(REQUEST_SEED, f"request/{name}")
    spec = get_spec(name, scale)
    tables = spec["tables"]
    hist_len = spec["hist_len"]
    req = {}
    for iname, dtype, shape, side, table, ucols in spec["inputs"]:
        per_request = side in ("user", "context")
        if iname == "hist_len":
            req[iname] = np.full(n, hist_len, np.int64)
        elif iname == "X":
            req[iname] = _x_columns(g, spec, n)
        elif dtype == "float32":
            a = np.empty((n,) + tuple(shape), np.float32)
            a[:, :ucols] = g.normal(0, 1, ucols)
            a[:, ucols:] = g.normal(0, 1, (n, shape[0] - ucols))
            req[iname] = a
        elif shape:  # a sequence or multi-hot list: `length` ids, then padding 0
            length = (hist_len if shape[0] == spec["hist_len_max"] else
                      shape[0] if spec.get("full_bags") else max(1, shape[0] * 3 // 5))
            rows = np.zeros((1 if per_request else n, shape[0]), np.int64)
            rows[:, :length] = g.integers(1, tables[table], (rows.shape[0], length))
            req[iname] = np.tile(rows, (n, 1)) if per_request else rows
        elif per_request:
            req[iname] = np.full(n, g.integers(1, tables[table]), np.int64)
        else:
            req[iname] = g.integers(1, tables[table], n).astype(np.int64)
    return req


def _x_columns(g, spec, n):
    cols = spec["x_columns"]
    sides = {f: s for f, _, s in CTR_FIELDS}
    x = np.empty((n, len(cols)), np.float32)
    for j, c in enumerate(cols):
        if c in spec["tables"]:
            v = spec["tables"][c]
            x[:, j] = (g.integers(1, v) if sides[c] != "item" else g.integers(1, v, n))
        else:
            x[:, j] = g.normal(0, 1) if c.startswith("dense_u") else g.normal(0, 1, n)
    return x


def input_names(name):
    return [i[0] for i in SPECS[name]["inputs"]]


def output_names(name):
    return list(SPECS[name]["outputs"])


def request_inputs(name, scale="mini"):
    """The `rankopt --request-inputs` value: user/context inputs, NAME[0:k] for mixed ones."""
    parts = []
    for iname, _, _, side, _, ucols in get_spec(name, scale)["inputs"]:
        if side in ("user", "context"):
            parts.append(iname)
        elif side == "mixed":
            parts.append(f"{iname}[0:{ucols}]")
    return ",".join(parts)
