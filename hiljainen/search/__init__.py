"""Similarity search behind the search page, a note's similar notes, as-you-type suggestions with
"this is what I mean too" and the /api/v1 search: `query` (text and filters), `engine` (retrieval:
one `SearchEngine` per process, held by the runtime as `Runtime.search()`), `keywords` (its
in-memory keyword index), `suggest` (who may see which note under a form), `sql` (its queries).
The pages and the API endpoints are in hiljainen.web (`search`, `api.search`).

Who sees what:
- Leaders and admins search all notes; staff search their own signed notes only (the same notes
  "My notes" lists). The same rule holds for a note's page and its similar notes.
- Suggestions under a note form show notes by the same kind of writer only: the staff form shows
  colleagues' staff notes of the writer's unit, a touchpoint's public form shows customers',
  relatives' and partners' notes of the touchpoint's unit. A note is shown only when its writer
  chose to let others see it (`shareable`; ticked by default on the staff form, unticked on the
  public one) and it is safe to show: processed, written in the last suggest.SUGGEST_DAYS days, not a
  duplicate, and nothing was redacted from it (a note that held personal data is never shown to
  another writer, even with the data replaced by markers). No author, contact or unit details
  are shown with it.
- Notes linked as duplicates are left out of search results and suggestions; their original
  lists them on its page.

How a search runs: the query is lemmatised (Finnish and English spaCy pipelines) into keyword
terms and embedded; the meaning side asks the vector index with the language direction removed
from the query vector (so a Finnish query also finds English notes), the keyword side asks an
in-memory BM25 index of note lemmas kept current from SQL; filters are applied in SQL (and by the
vector index when that is cheaper, see engine.semantic_hits); the two rankings are merged by
reciprocal-rank fusion (`hiljainen.pipeline.fusion`) and matching words are highlighted.
"""
