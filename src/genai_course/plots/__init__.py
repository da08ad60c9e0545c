"""The figures the notebooks show, one module per lab (prompting, finetuning, rlhf)."""
