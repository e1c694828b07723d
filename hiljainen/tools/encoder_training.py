"""The contrastive fine-tune behind hiljainen-notes-e5, made cheap enough for 2 cores.

Each step embeds a batch of pairs and pulls partners together, every other text of the batch
pushed away (MultipleNegativesRankingLoss, both directions). Two things keep a step short without
changing that loss:
- the embeddings and the lower `frozen_layers` layers are not taught, so their output is computed
  once per distinct text (no dropout, as at serving time) and only the upper layers run each step;
- a step's texts go through those layers in parts of `part`, sorted by length, so a short note is
  not padded to the batch's longest.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hiljainen.pipeline.embed import E5_PREFIXES

if TYPE_CHECKING:
    import torch

    from hiljainen.tools.notes_encoder import Recipe

Progress = Callable[[str], None]
Pair = tuple[str, str, str]  # text, text, label


def in_batch_loss(sims: Any, same: Any) -> Any:
    """The symmetric in-batch contrastive loss of scaled similarities (row i's partner is column i);
    `same` marks pairs of one label, which are not each other's negatives."""
    import torch

    sims = sims.masked_fill(same & ~torch.eye(len(sims), dtype=torch.bool), -1e4)
    target = torch.arange(len(sims))
    return (torch.nn.functional.cross_entropy(sims, target)
            + torch.nn.functional.cross_entropy(sims.T, target)) / 2


class SplitEncoder:
    """A SentenceTransformer run as a frozen lower part, cached per text, and a taught upper part."""

    def __init__(self, model: Any, frozen_layers: int, max_tokens: int) -> None:
        self.model = model
        self.transformer: Any = model[0].auto_model
        self.frozen_layers = frozen_layers
        self.max_tokens = max_tokens
        self.transformer.embeddings.requires_grad_(False)
        for layer in self.transformer.encoder.layer[:frozen_layers]:
            layer.requires_grad_(False)
        self.states: dict[str, torch.Tensor] = {}

    def _mask(self, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.transformer.config, inputs_embeds=hidden,
                                         attention_mask=mask)

    def cache(self, texts: Sequence[str], chunk: int = 64) -> None:
        """Compute the lower layers' output of every text not yet cached (in eval mode, unpadded)."""
        import torch

        todo = sorted(set(texts) - self.states.keys(), key=len)
        prefix = E5_PREFIXES["passage"]
        was_training = self.transformer.training
        self.transformer.eval()
        with torch.no_grad():
            for start in range(0, len(todo), chunk):
                part = todo[start:start + chunk]
                features = self.model[0].tokenizer([prefix + t for t in part], padding=True, truncation=True,
                                                   max_length=self.max_tokens, return_tensors="pt")
                hidden = self.transformer.embeddings(input_ids=features["input_ids"])
                mask = self._mask(hidden, features["attention_mask"])
                for layer in self.transformer.encoder.layer[:self.frozen_layers]:
                    hidden = layer(hidden, mask)
                for text, h, n in zip(part, hidden, features["attention_mask"].sum(dim=1), strict=True):
                    self.states[text] = h[:int(n)].clone()
        self.transformer.train(was_training)

    def upper(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence vectors (not normalised) of cached texts through the upper layers, in one padded pass."""
        import torch

        rows = [self.states[t] for t in texts]
        hidden = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        lengths = torch.tensor([len(r) for r in rows])
        mask = (torch.arange(hidden.shape[1])[None, :] < lengths[:, None]).long()
        extended = self._mask(hidden, mask)
        for layer in self.transformer.encoder.layer[self.frozen_layers:]:
            hidden = layer(hidden, extended)
        return self.model[1]({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]

    def embed(self, texts: Sequence[str], part: int) -> torch.Tensor:
        """Unit vectors of cached texts, embedded `part` at a time in order of length."""
        import torch

        by_length = sorted(range(len(texts)), key=lambda i: (len(self.states[texts[i]]), i))
        parts = [self.upper([texts[i] for i in by_length[s:s + part]]) for s in range(0, len(texts), part)]
        out = torch.cat(parts)[torch.argsort(torch.tensor(by_length))]
        return torch.nn.functional.normalize(out, dim=-1)


def step_loss(encoder: SplitEncoder, batch: Sequence[Pair], recipe: Recipe) -> Any:
    """The batch's contrastive loss: texts and partners embedded together, compared across."""
    import torch

    both = encoder.embed([a for a, _, _ in batch] + [b for _, b, _ in batch], recipe.part)
    sims = both[:len(batch)] @ both[len(batch):].T * recipe.scale
    labels = [lab for _, _, lab in batch]
    return in_batch_loss(sims, torch.tensor([[li == lj for lj in labels] for li in labels]))


def fine_tune(base: Any, pairs: Sequence[Pair], recipe: Recipe, say: Progress) -> Any:
    """The base model trained on `pairs` (a SentenceTransformer, in eval mode)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    encoder = SplitEncoder(model, recipe.frozen_layers, recipe.max_tokens)
    started = time.monotonic()
    encoder.cache([t for a, b, _ in pairs for t in (a, b)])
    seconds = time.monotonic() - started
    say(f"lower {recipe.frozen_layers} layers of {len(encoder.states)} texts in {seconds:.0f} s")
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    steps = int(len(pairs) // recipe.batch_size * recipe.epochs)
    warm = max(1, int(steps * recipe.warmup_share))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    rnd = random.Random(recipe.seed)
    order = [i for _ in range(int(np.ceil(recipe.epochs)) + 1) for i in range(len(pairs))]
    model.train()
    started = time.monotonic()
    for step in range(steps):
        batch = [pairs[i] for i in order[step * recipe.batch_size:(step + 1) * recipe.batch_size]]
        batch = [(a, b, lab) if rnd.random() < 0.5 else (b, a, lab) for a, b, lab in batch]
        loss = step_loss(encoder, batch, recipe)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        if step % 10 == 0 or step == steps - 1:
            say(f"step {step + 1}/{steps}, loss {loss.item():.3f}, {time.monotonic() - started:.0f} s")
    model.eval()
    model.max_seq_length = 512
    return model
