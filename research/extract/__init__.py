"""Claim extraction: from an article's text to draft claim records for a person to confirm.

Sentences keep the locations the claim records use (``sentences``); quantities are read with
their units, multipliers and qualifiers (``quantities``), place and period from the sentence
(``context``); kinds, causal strength and check-worthiness come from cue words (``kinds``);
``drafts`` assembles records in the store's format. Rules and regular expressions only: no
language model, no network. The drafts never enter the store by themselves.

Layer: beside the claim verdicts; imports only the store below it.
"""

from research.extract.drafts import DEFAULT_MIN_SCORE, DraftClaim, drafts_yaml, extract_claims
from research.extract.sentences import Sentence, segment_article, split_sentences

__all__ = ["DEFAULT_MIN_SCORE", "DraftClaim", "Sentence", "drafts_yaml", "extract_claims", "segment_article",
           "split_sentences"]
