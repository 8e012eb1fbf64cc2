"""Text written by ``labelgraph init``."""

PROJECT_TEMPLATE = """\
# A labelgraph project: label movie-review sentences as positive or negative.
# Paths are relative to this file. Run it with:  labelgraph run project.yaml
name: my-project

# The unlabelled pool: JSONL (one {"id": ..., "text": ...} a line) or CSV with a header.
pool: pool.jsonl
text_field: text          # the column that holds the text
id_field: id              # optional: without it, ids are <file stem>-<line>

# The labels, each with a one-line description (the embedded annotator embeds these).
labels:
  positive: the text expresses a favourable opinion
  negative: the text expresses an unfavourable opinion

# seed: seed.jsonl        # optional: items labelled already ({"text", "label"})
# test: test.jsonl        # optional: a held-out labelled set to measure the student model each round

batch_size: 20            # items selected per round
budget: 60                # labels a person may be asked for, in all
max_rounds: 8
strategy: hybrid          # random | least_confidence | margin | entropy | coreset | hybrid | cold_start | module:Class
annotator: embedded       # embedded (no LLM) | module:factory
critic:                   # the embedded critic accepts a label only when all of these hold
  min_confidence: 0.7
  min_neighbour_agreement: 0.6
  min_student_probability: 0.5
  min_labels_to_trust: 10
neighbours: 10            # labelled neighbours the annotator and critic consult
run_dir: runs/my-project
random_seed: 0
"""
