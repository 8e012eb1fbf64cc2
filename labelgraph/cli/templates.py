"""Text written by ``labelgraph init``."""

PROJECT_TEMPLATE = """\
# A labelgraph project. Paths are relative to this file. Run it with:  labelgraph run project.yaml
# Every setting is here; the optional ones are commented out with their defaults.
name: my-project

# The unlabelled pool: JSONL (one {"id": ..., "text": ...} a line) or CSV with a header.
pool: pool.jsonl
text_field: text          # the column that holds the text (seed and test files may keep a column named text)
id_field: id              # optional: without such a column, ids are <file stem>-<line> (a warning says so)
# label_field: label      # the column of labels in seed and test files (or one named label)
# max_text_chars: 20000   # a longer text is an error naming its line

# The labels, each with a one-line description (the embedded annotator embeds these).
labels:
  positive: the text expresses a favourable opinion
  negative: the text expresses an unfavourable opinion

# seed: seed.jsonl        # optional: items labelled already ({"text", "label"})
# test: test.jsonl        # optional: a held-out labelled set to measure the student model each round

batch_size: 20            # items a person is asked per round
budget: 60                # labels a person may be asked for, in all
max_rounds: 8
# stop_when_stable: {kappa: 0.99, rounds: 3, sample: 1000}   # stop when new labels stop changing predictions
strategy: hybrid    # random | least_confidence | margin | entropy | coreset | hybrid | cold_start | llm | module:Class
annotator: embedded       # embedded (no LLM) | llm | none (no machine lane) | module:factory
machine:                  # the machine lane: the annotator labels the pool in bulk, most uncertain first
  scope: all              # all | a number of texts | a share of the pool (0 to 1)
  # per_round: 200        # texts a round (default: all at once; an LLM: 25 per unit of llm.concurrency)
quality:                  # machine labels are accepted while the accepted set is shown to be this right
  # enabled: true         # false: accept every machine label unchecked (no target; a baseline)
  target_accuracy: 0.95   # the accepted labels' accuracy must reach this...
  confidence: 0.9         # ...as a lower bound at this confidence, not a point guess
  audit: 0.05             # share of your batch drawn at random from the whole pool: any label may be checked
  explore: 0.3            # share of your batch drawn from the strategy's picks; the rest audits and fixes
  # min_checks: 30        # checks a set needs inside it before it is tested
# critic:                 # how p_correct is learnt from the machine labels you checked
#   min_checks: 20        # checks before p_correct ranks labels (until then: the checks' accuracy for all)
#   cs: [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]   # regularisations tried by cross-validation
#   folds: 5              # folds of the out-of-fold consensus model
#   consensus_rows: 5000  # most machine labels the consensus model trains on
#   neighbours: 10        # nearest texts consulted for agreement
# student_learns_from: auto   # accepted machine labels (by p_correct); proposals too: all, or auto when they help
# student:                # the classifier retrained every round ("Which student" in the README)
#   kind: logistic        # logistic (a second a round) | finetune (encoder trained: minutes on a CPU) | module:Class
#   model: minilm         # finetune: the encoder to start from (minilm, all-mpnet-base-v2, or a folder)
#   min_labels: 40        # finetune: labels before the encoder is first tuned
#   retune_growth: 0.25   # finetune: tuned again once the labels grew by this share (1 epoch from the last weights)
neighbours: 10            # labelled neighbours the annotator consults (the LLM's demonstrations)
# embedding: all-mpnet-base-v2   # the encoder (the default) | minilm (all-MiniLM-L6-v2: about 4x faster, weaker)
#                               # | a sentence-transformers folder | a hub id | module:factory

# An LLM for annotator: llm, critic_llm, generator or strategy: llm (see "Use a real LLM" in the README).
# llm:
#   model: gpt-4o-mini               # or a LangChain string without base_url: openai:gpt-4o-mini, ollama:qwen2.5
#   base_url: http://127.0.0.1:8000/v1   # any OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI)
#   api_key_env: OPENAI_API_KEY      # the variable that holds the key (never the key itself)
#   samples: 1                       # answers per item; their votes give the label distribution
#   logprobs: false
#   concurrency: 8
#   timeout: 60
#   max_retries: 4
#   prices: {input: 0.15, output: 0.60}   # USD per million tokens, for status and cost_budget
#   cost_budget: 5.0                 # stop cleanly once LLM calls cost this much
# critic_llm: false       # also ask the LLM to judge each label (one more signal for p_correct)
# generator:              # synthetic examples for rare labels and counterfactual edits
#   per_round: 4
#   counterfactuals: true
#   max_similarity: 0.92
# tools:                  # LangChain tools: dotted paths, entry-point names, or search_memory
#   - search_memory
#   - {path: mypkg.tools:lexicon, vote: true}   # a labelling function: returns a label or abstains
# tool_steps: 3

# Scaling out: memory on a Chroma server, checkpoints in PostgreSQL (the DSN is read from the variable).
# memory: {url: http://127.0.0.1:8000}
# checkpoints: {postgres_env: LABELGRAPH_POSTGRES_DSN}
# scale: {ray: auto}    # embed over Ray (pip install 'labelgraph[ray]'): auto, ray://HOST:10001 or off
# scale: {vectors: float16}   # a large pool: the run folder's vectors in half the bytes (picks barely move)

run_dir: runs/my-project
random_seed: 0
"""
