"""(being written)"""


def build_eval_callback(cfg, source, tokenizer, fmt, bench, record, loggers):
    if not cfg.callbacks.unpact_eval.enabled:
        return None
    raise NotImplementedError
