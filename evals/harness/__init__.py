"""The evaluation harness (``casepilot eval``): datasets as files, runs as folders, comparisons and a gate.

    datasets   load and validate answer / retrieval, tag and draft sets (errors name file:line:field)
    convert    build such sets from the public data in ``../shared/data/dev/``
    metrics    retrieval, citation, abstention, tag and draft metrics; paired bootstrap
    ragas_eval ragas' non-LLM metrics through its own EvaluationDataset (LLM-judged ones with a judge)
    runner     ``eval run``: a resumable run folder (config.json, items.jsonl, summary.json, reports)
    report     report.md and report.html with plots
    compare    ``eval compare``: metric deltas with paired bootstrap CIs, items that got worse, the gate
"""
