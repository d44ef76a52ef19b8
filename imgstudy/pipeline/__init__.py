"""The orchestration of each dvc.yaml stage: run(params, files) -> result, one module per stage.

A stage module (stages/<name>.py) parses its command line into the stage's Files, loads the params
(the variant's, for a per-variant stage), calls run() and prints describe(result); tools call the
same functions. Each run() reads only the files its Files name as inputs and writes only those it
names as outputs, which are what dvc.yaml declares.
"""
