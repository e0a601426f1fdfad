"""Speculative decoding inside the serving engine (`axk1 serve --speculative`): every decode row drafts one token
with the model's MTP module and the main model verifies [pending token, draft] in the same batched step
(axk1/infer/speculative.py explains the drafter and the acceptance rule; this is its batched, paged form).

The MTP layer's latents live in one more pool of the paged cache, indexed by the same block tables, so they follow
each sequence through preemption and prefix-cache hits like the model's own. Each row reserves two slots per step
(Scheduler lookahead 2); the draft's slot counts as cached only when the draft is kept (a rejected draft's latent
is overwritten by the next step before anything reads it), and a block is offered to the prefix cache only once
every token in it is final.

Output: greedy rows give exactly the plain engine's tokens (the draft is kept only when it is the main model's
argmax); so do seeded sampled rows (the row's own draw picks the token, one draw a token as without drafts, and the
draft, q's most likely token, is kept only when it is that token: the reply depends on the seed, not on the load,
prefix hits, preemption or n); unseeded sampled rows keep their distribution with the better acceptance of the
standard rule (the draft is drawn from q and accepted with probability min(1, p/q), else the token is drawn from
the normalised max(p - q, 0)). A row with no draft logits (its prompt came whole from the prefix cache, so no
prefill ran for it) drafts its pending token deterministically (q one-hot), which the same rules verify. A row
with a structured-output constraint (axk1/infer/guided.py) is not drafted: it shares the step, and its token is
sampled from its masked logits as the plain engine samples it.
Legend: R rows, S slots read, K blocks per row, A = 2R entries, T packed prefill tokens, D hidden, V vocabulary.
"""

from __future__ import annotations

import torch

from axk1.infer.guided import mask_guided
from axk1.infer.sampling import GREEDY_BELOW, next_token_probs, sample_categorical, sample_next
from axk1.infer.sequence import Sequence
from axk1.infer.speculative import MTPDrafter, accept_draft


class ServerDrafter:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.mtp = MTPDrafter(engine.model, engine._decode_step)  # refuses a model without MTP, saying what to do
        self.mtp_pool = slice(engine.model.config.num_hidden_layers, None)  # the cache's extra, last pool
        self.drafted = self.accepted = 0

    def after_prefill(self, chunks: list[tuple[Sequence, int, int]], hidden_TD: torch.Tensor,
                      positions_1T: torch.Tensor, read_1S: torch.Tensor, write_1T: torch.Tensor,
                      mask_11TS: torch.Tensor) -> None:
        """The MTP entries of a packed prefill (chunks: sequence, first position, tokens), after its prompt-ending
        sequences sampled their first token: token t pairs with the token after it. Those sequences get their
        first draft logits."""
        nxt, at, owners, t0 = [], [], [], 0
        for s, start, k in chunks:
            tokens = s.all_tokens()
            nxt += [tokens[q + 1] if q + 1 < len(tokens) else 0 for q in range(start, start + k)]
            if start + k == len(tokens) - 1 and not s.finished:  # its chunk ended the prompt; a token was sampled
                at.append(t0 + k - 1)
                owners.append(s)
            t0 += k
        dev = self.engine.device
        view = self.engine.cache.step_view(read_1S, write_1T, self.mtp_pool)
        logits_KV = self.mtp(hidden_TD, torch.tensor(nxt, device=dev), positions_1T, view, 0, mask_11TS,
                             at=torch.tensor(at, dtype=torch.long, device=dev))
        for s, logits_V in zip(owners, logits_KV):
            s.draft_logits = logits_V

    def _draft(self, s: Sequence) -> tuple[int, torch.Tensor | None]:
        """(draft token, its distribution q; None for a row verified by exact match: greedy or seeded)."""
        p, logits_V = s.params, s.draft_logits
        exact = p.temperature < GREEDY_BELOW or s.generator is not None
        if logits_V is None:  # no draft yet: a deterministic guess, verified like any other
            token = s.next_input()
            if exact:
                return token, None
            q_V = torch.zeros(self.engine.vocab_size, device=self.engine.device)
            q_V[token] = 1.0
            return token, q_V
        if exact:  # q's mode (top-k/top-p and temperature keep it): no draw, so the row's stream is its tokens'
            return int(logits_V.argmax()), None
        q_V = next_token_probs(logits_V[None], p.temperature, p.top_p, p.top_k)[0]
        return int(sample_categorical(q_V[None], s.generator)[0]), q_V

    def decode(self, seqs: list[Sequence]) -> None:
        """One draft-and-verify step for these rows (each has one pending token and two reserved slots)."""
        eng = self.engine
        R, dev, bs = len(seqs), eng.device, eng.block_size
        # a constrained row is not drafted (its grammar would have to check the draft, then be rolled back): its
        # pending token is fed again in the draft's place, and refused
        drafts = [(s.next_input(), None) if s.guide is not None else self._draft(s) for s in seqs]
        len_R, read_RS = eng.read_rows(seqs, 2)
        S = read_RS.shape[1]
        pos_R2 = len_R[:, None] + torch.arange(2, device=dev)
        write_R2 = read_RS.gather(1, pos_R2)
        mask_R12S = (torch.arange(S, device=dev)[None, None, :] <= pos_R2[:, :, None])[:, None]
        ids_R2 = torch.tensor([[s.next_input(), d] for s, (d, _) in zip(seqs, drafts)], device=dev)
        main_view = eng.cache.step_view(read_RS, write_R2, slice(0, self.mtp_pool.start))
        h_AD = eng._decode_step.hidden(ids_R2, pos_R2, main_view, 0, mask_R12S)
        logits_R2V = eng._decode_step.logits(h_AD).view(R, 2, -1)
        eng.stats.decode_steps += 1
        eng.stats.decode_rows += R
        self.drafted += sum(s.guide is None for s in seqs)
        mask_guided(seqs, logits_R2V[:, 0])
        nxt_R2, last_R = [], []
        for r, (s, (d, q_V)) in enumerate(zip(seqs, drafts)):
            p = s.params
            s.length += 1  # the pending token is cached
            if s.guide is not None:  # the token from its masked logits, sampled as the plain step samples it
                ok = False
                target = int(sample_next(logits_R2V[r, :1], p.temperature, p.top_p, p.top_k, s.generator)[0])
            elif p.temperature < GREEDY_BELOW:  # as sample_next: logits / T would overflow below it
                target = int(logits_R2V[r, 0].argmax())
                ok = target == d
            elif q_V is None:  # seeded: the row's own draw, as the plain engine takes it (one a token)
                target = int(sample_categorical(next_token_probs(logits_R2V[r, :1], p.temperature, p.top_p, p.top_k),
                                                s.generator)[0])
                ok = target == d
            else:
                p_1V = next_token_probs(logits_R2V[r, :1], p.temperature, p.top_p, p.top_k)
                ok_1, token_1 = accept_draft(p_1V, q_V[None], torch.tensor([d], device=dev), s.generator)
                ok, target = bool(ok_1[0]), int(token_1[0])
            if ok:
                self.accepted += 1
                eng._emit(s, d, logits_R2V[r, 0])
                if not s.finished:
                    s.length += 1  # the draft's latent is kept; the main model's next token comes with it
                    if p.temperature < GREEDY_BELOW:
                        eng._emit(s, int(logits_R2V[r, 1].argmax()), logits_R2V[r, 1])
                    else:
                        eng._take(s, logits_R2V[r, 1:2])
                nxt_R2.append([d, s.next_input() if s.pending else 0])  # the main model's token after d
                last_R.append(2 * r + 1)
            else:
                eng._emit(s, target, logits_R2V[r, 0])
                nxt_R2.append([target, 0])  # entry 2 pairs h of the rejected draft: written, overwritten later
                last_R.append(2 * r)
            if s.length // bs > s.indexed:
                eng.scheduler.committed(s)
        # the next drafts: entry i pairs h at position p_i with the token after it (only kept entries are read)
        mtp_view = eng.cache.step_view(read_RS, write_R2, self.mtp_pool)
        logits_RV = self.mtp(h_AD, torch.tensor(nxt_R2, device=dev).view(-1), pos_R2, mtp_view, 0, mask_R12S,
                             at=torch.tensor(last_R, device=dev))
        for s, logits_V in zip(seqs, logits_RV):
            s.draft_logits = None if s.finished else logits_V
