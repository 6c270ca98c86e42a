"""From a closed ticket's conversation to a case draft, every sentence with the messages it came from.

The ``extractive`` drafter segments the conversation by role and cue, and writes nothing that was
not said in the ticket:

* problem: the customer's messages before the agent starts working on it (greetings and filler removed);
* diagnosis: the agent's checks, questions and findings, and the customer's answers to them or
  other statements of fact;
* solution: the agent's instructions, every item of a list the agent sends (a list is never cut), and
  the actions the agent took, up to the customer's closing confirmation (what the agent says after
  it is a sign-off: a note taken, a request for a rating);
* outcome: the customer's confirmation, thanks or rating, and the system's closing note.

A ticket that was not resolved is not drafted, and the reason is given: still open, no solution in
the conversation, transferred away, or the customer not satisfied (a rating of 1–2 stars or an
explicit complaint at the end). With an ``openai:`` model, the versioned ``prompts/draft.yaml`` asks
for JSON in the case schema with each sentence's message ids; an invalid reply gets one retry, then
a clear error.

Each sentence the rules place in a section is then checked by that section's small logistic model
(``sentence_model``, weights in ``models/draft_sentences.json``, trained on annotated real chats by
``python -m evals.train_drafts``); a sentence it finds unlikely is left out.

The package: ``draft`` (the draft and what it becomes), ``cues`` (what each sentence of a
conversation is), ``extractive`` (the default drafter), ``sentence_model`` (the learned check),
``model`` (drafting with a chat model).
"""

from .cues import skip_reason
from .draft import Draft, DraftSentence
from .extractive import draft_extractive
from .model import check_draft_json, draft_with_model

__all__ = ["Draft", "DraftSentence", "check_draft_json", "draft_extractive", "draft_with_model", "skip_reason"]
