"""The BERT-style workload both BERT benchmarks measure: a Hugging Face BertModel from a config
(6 layers, hidden 384, 12 heads, random weights), batches of 8 x 32 tokens with varied padding,
and the sentence embeddings fidelity is judged on."""
from __future__ import annotations

import torch
from transformers import BertConfig, BertModel

import lepton_ir

HIDDEN = 384


def encoder(outliers: bool = False) -> BertModel:
    """With ``outliers``: two hidden dimensions whose output-LayerNorm gain is 40 in every layer, as
    trained BERTs have (Kovaleva et al. 2021, "BERT Busters"); random weights have none."""
    torch.manual_seed(0)
    config = BertConfig(hidden_size=HIDDEN, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    model = BertModel(config).eval()
    if outliers:
        with torch.no_grad():
            for layer in model.encoder.layer:
                layer.output.LayerNorm.weight[[77, 300]] = 40.0
    return model


class Batches:
    """Token ids and attention masks, 8 sentences of 8-32 tokens padded to 32; seeded."""

    def __init__(self, seed: int = 0):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.randint(1000, 30000, (8, 32), generator=self.generator)
        mask = torch.ones(8, 32, dtype=torch.long)
        for i, length in enumerate(torch.randint(8, 33, (8,), generator=self.generator)):
            mask[i, length:] = 0
        return ids, mask


def traced(model: BertModel, batch: Batches) -> lepton_ir.Module:
    """The encoder traced on one batch, the attention mask passed by keyword as users do."""
    ids, mask = batch()
    return lepton_ir.trace(model, (ids,), {"attention_mask": mask}, name="bert")


def sentence_embeddings(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unpadded tokens, L2-normalised."""
    m = mask.unsqueeze(-1).double()
    return torch.nn.functional.normalize((hidden.double() * m).sum(1) / m.sum(1), dim=-1)
