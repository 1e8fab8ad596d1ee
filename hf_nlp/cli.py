"""The `hf-nlp` command. Subcommands are mapped in one place, `SUBCOMMANDS`."""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.hub import load_model_and_tokenizer

MODEL_ALIASES = {"opus-mt": "Helsinki-NLP/opus-mt-en-es"}  # the production anchor of the translation recipes


# --------------------------------------------------------------------------- flag values, checked at parse time
# argparse turns an ArgumentTypeError into `error: argument --flag: <message>` and exit 2.


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number; got `{text}`") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}; got {value}")
        return value

    return parse


def _number(minimum: float, below: float | None = None, at_most: float | None = None,
            above_minimum: bool = False) -> Callable[[str], float]:
    """A finite float >= minimum (> with `above_minimum`), and < `below` or <= `at_most` when given."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got `{text}`") from None
        fits = math.isfinite(value) and (value > minimum if above_minimum else value >= minimum)
        fits = fits and (below is None or value < below) and (at_most is None or value <= at_most)
        if not fits:
            low = f"above {minimum}" if above_minimum else f"at least {minimum}"
            high = f" and below {below}" if below is not None else f" and at most {at_most}" if at_most is not None else ""
            raise argparse.ArgumentTypeError(f"must be {low}{high}; got `{text}`")
        return value

    return parse


POSITIVE = _integer(1)


def generate_command(args: argparse.Namespace) -> None:
    from transformers import TextStreamer

    from hf_nlp.generation.sampling import generate_text, sampling_config  # lazy: loaded by this verb only

    if not args.prompt:  # checked before the (slow) model load
        raise UserError("the prompt is empty; pass some text with `--prompt`, e.g. --prompt \"to be or not to b\".")
    config = sampling_config(args.max_new_tokens, args.temperature, args.top_k, args.top_p)
    model, tokenizer = load_model_and_tokenizer(args.model)
    # The user's own prompt is echoed (the tokenizer would give it back lowercased); the streamer
    # then prints each new character as it comes, and a final newline.
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    generate_text(model, tokenizer, args.prompt, config, seed=args.seed, streamer=streamer)


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="run folder, model folder, or Hub id")
    parser.add_argument("--prompt", required=True, help="text to continue")
    parser.add_argument("--max-new-tokens", type=POSITIVE, default=200)
    parser.add_argument("--temperature", type=_number(0), default=None, help="0 = greedy; omit all sampling flags for greedy")
    parser.add_argument("--top-k", type=_integer(0), default=None, help="sample among the k most likely tokens (0: all)")
    parser.add_argument("--top-p", type=_number(0, at_most=1, above_minimum=True), default=None, help="nucleus sampling: smallest set with this mass")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")


def tokenizer_command(args: argparse.Namespace) -> None:
    from hf_nlp.text.bpe import segmentation_stats, train_tokenizer  # lazy: loaded by this verb only

    paths = [Path(p) for p in args.input]
    for path in paths:
        if not path.is_file():
            raise UserError(f"input file `{path}` does not exist; pass text files with --input.")

    def lines():
        for path in paths:
            try:
                with path.open(encoding="utf-8") as handle:
                    yield from (line.rstrip("\n") for line in handle if line.strip())
            except UnicodeDecodeError:
                raise UserError(f"`{path}` is not UTF-8 text; convert it (e.g. iconv -t utf-8) first.") from None

    tokenizer = train_tokenizer(lines(), kind=args.kind, vocab_size=args.vocab_size, dropout=args.dropout,
                                min_frequency=args.min_frequency, lowercase=args.lowercase)
    tokenizer.save_pretrained(args.output)
    stats = segmentation_stats(tokenizer, itertools.islice(lines(), 2000))
    sys.stdout.write(
        f"{args.kind} tokenizer with {len(tokenizer):,} tokens saved to {args.output} "
        f"({stats['tokens_per_word']:.2f} tokens per word, {100 * stats['oov_rate']:.2f} % words with [UNK] "
        f"on the first {stats['words']:,} words of the input)\n"
    )


def add_tokenizer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["train"], help="what to do")
    parser.add_argument("--input", required=True, nargs="+", help="UTF-8 text file(s), one document per line")
    parser.add_argument("--output", required=True, help="folder for the tokenizer (save_pretrained)")
    parser.add_argument("--kind", choices=["bpe", "wordpiece", "unigram"], default="bpe")
    parser.add_argument("--vocab-size", type=POSITIVE, default=8000)
    parser.add_argument("--dropout", type=_number(0, below=1), default=None, help="BPE-dropout rate stored for training time")
    parser.add_argument("--min-frequency", type=_integer(0), default=2)
    parser.add_argument("--lowercase", action="store_true")


def embeddings_command(args: argparse.Namespace) -> None:
    from hf_nlp.text.embeddings import WordVectors  # lazy: loaded by this verb only

    expected = {"analogy": 3, "similar": 1}[args.action]
    if len(args.words) != expected:
        usage = "A B C (computes A - B + C)" if args.action == "analogy" else "WORD"
        raise UserError(f"`embeddings {args.action}` takes {expected} word(s): {usage}.")
    vectors = WordVectors.from_text_file(args.vectors) if args.vectors else WordVectors.from_glove()
    if args.action == "analogy":
        positive, negative, other = args.words  # "king man woman" = king - man + woman
        results = vectors.analogy(negative, positive, other, topn=args.topn)
        sys.stdout.write(f"{positive} - {negative} + {other}:\n")
    else:
        results = vectors.most_similar(args.words[0], topn=args.topn)
        sys.stdout.write(f"nearest to {args.words[0]}:\n")
    for rank, (word, score) in enumerate(results, start=1):
        sys.stdout.write(f"{rank:>3}. {word:<20} {score:.4f}\n")


def add_embeddings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["analogy", "similar"])
    parser.add_argument("words", nargs="*", help="analogy: A B C for A - B + C (king man woman); similar: WORD")
    parser.add_argument("--topn", type=POSITIVE, default=5)
    parser.add_argument("--vectors", default=None, help="GloVe/word2vec text file (default: GloVe 6B 50-d)")


def read_texts(args: argparse.Namespace, usage: str) -> list[str]:
    """The positional texts, then the non-empty lines of `--file`; `usage` shows the command."""
    texts = list(args.texts)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise UserError(f"`{path}` does not exist; pass a text file with one text per line.")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise UserError(f"`{path}` is not UTF-8 text; convert it first (e.g. iconv -f latin1 -t utf-8).") from None
        texts += [line.strip() for line in lines if line.strip()]
    if not texts or any(not t.strip() for t in texts):
        raise UserError(f"nothing to {usage.split()[1]}; pass texts ({usage}) or --file.")
    return texts


def classify_command(args: argparse.Namespace) -> None:
    from hf_nlp.runs import reading_of_model  # lazy: loaded by this verb only
    from hf_nlp.text.long_texts import classify_texts  # lazy: loaded by this verb only

    texts = read_texts(args, 'hf-nlp classify --model DIR "a great film"')
    model, tokenizer = load_model_and_tokenizer(args.model, "AutoModelForSequenceClassification")
    # A long text is read as the run read it: truncated, or as windows pooled as in training.
    reading = reading_of_model(args.model)
    for start in range(0, len(texts), args.batch_size):
        batch = texts[start : start + args.batch_size]
        probabilities = classify_texts(model, tokenizer, batch, reading, args.batch_size)  # (B, num_labels)
        best = probabilities.argmax(-1)
        for text, label, probability in zip(batch, best.tolist(), probabilities.max(-1).values.tolist(), strict=True):
            sys.stdout.write(f"{model.config.id2label[label]}\t{probability:.4f}\t{text}\n")


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", help="texts to classify")
    parser.add_argument("--model", required=True, help="run folder, model folder, or Hub id")
    parser.add_argument("--file", default=None, help="a UTF-8 file with one text per line")
    parser.add_argument("--batch-size", type=POSITIVE, default=64)


def translate_command(args: argparse.Namespace) -> None:
    texts = read_texts(args, 'hf-nlp translate --model DIR "I like soccer"')
    if args.beams < 1:
        raise UserError("`--beams` must be at least 1 (1 is greedy decoding).")
    model_id = MODEL_ALIASES.get(args.model, args.model)
    search = {"batch_size": args.batch_size, "num_beams": args.beams, "max_new_tokens": args.max_new_tokens,
              "unk_penalty": args.unk_penalty, "progress": len(texts) > args.batch_size}
    if args.backend == "ctranslate2":
        from hf_nlp.generation.ctranslate2_backend import (  # lazy: loaded by this verb only
            load_translator,
            translate_texts_ctranslate2,
        )
        from hf_nlp.training.cpu_threads import cpu_threads_per_process  # lazy: loaded by this verb only

        if args.dtype != "float32":
            raise UserError("`--dtype` applies to `--backend transformers`; with ctranslate2 pick `--quantization`.")
        translator, tokenizer = load_translator(model_id, args.quantization, threads=cpu_threads_per_process())
        translations = translate_texts_ctranslate2(translator, tokenizer, texts, **search)
    else:
        from hf_nlp.generation.translate import translate_texts  # lazy: loaded by this verb only

        model, tokenizer = load_model_and_tokenizer(model_id, "AutoModelForSeq2SeqLM", dtype=args.dtype)
        translations = translate_texts(model, tokenizer, texts, **search)
    for text, translation in zip(texts, translations.texts, strict=True):
        sys.stdout.write(f"{translation}\t{text}\n" if args.file else f"{translation}\n")


def add_translate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", help="English sentences to translate")
    parser.add_argument("--model", required=True,
                        help="run folder, model folder, Hub id, or `opus-mt` (Helsinki-NLP/opus-mt-en-es)")
    parser.add_argument("--file", default=None, help="a UTF-8 file with one sentence per line")
    parser.add_argument("--beams", type=POSITIVE, default=1, help="beam width (1: greedy)")
    parser.add_argument("--max-new-tokens", type=POSITIVE, default=60)
    parser.add_argument("--unk-penalty", type=_number(0), default=0.0, help="subtracted from [UNK]'s log-probability")
    parser.add_argument("--batch-size", type=POSITIVE, default=64)
    parser.add_argument("--backend", choices=["transformers", "ctranslate2"], default="transformers",
                        help="ctranslate2: Marian models only, converted once and cached beside the model "
                             "(pip install \".[fast-mt]\")")
    parser.add_argument("--quantization", choices=["int8", "float32"], default="int8",
                        help="weights of the CTranslate2 conversion (--backend ctranslate2)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="weights and compute (--backend transformers); bfloat16 is ~1.8x faster on CPUs with "
                             "AVX512-BF16 or AMX")


def report_command(args: argparse.Namespace) -> None:
    from hf_nlp.reports.suite import suite_report  # lazy: loaded by this verb only

    path = suite_report([Path(d) for d in args.runs], Path(args.output), update=args.update, baseline=args.baseline)
    sys.stdout.write(f"{path}\n")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders, or folders to search for finished runs")
    parser.add_argument("--output", default="reports", help="folder for report.md, report.json and PNGs")
    parser.add_argument("--update", action="store_true",
                        help="keep the runs of the report already in --output that these runs do not replace "
                             "(a run is named by its folder): regenerate one family's table from its runs alone")
    parser.add_argument("--baseline", default=None,
                        help="the translation run (by folder name) the others are tested against with sacrebleu's "
                             "paired bootstrap (default: the first run that saved its test translations)")


def evaluate_command(args: argparse.Namespace) -> None:
    from hf_nlp.evaluation.evaluate_model import evaluate_model  # lazy: loaded by this verb only

    result, path = evaluate_model(args.model, args.task, args.split, source=args.source, batch_size=args.batch_size,
                                  num_beams=args.beams, max_examples=args.max_examples,
                                  output_dir=Path(args.output) if args.output else None)
    shown = {k: v for k, v in result["metrics"].items() if isinstance(v, int | float)}
    sys.stdout.write("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
                     + f"\n{path}\n")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="run folder, model folder, or Hub id")
    parser.add_argument("--task", required=True, choices=["lm", "classification", "translation"])
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--source", default=None,
                        help="data source (default: the one in the run's config.yaml, else the family's default corpus)")
    parser.add_argument("--batch-size", type=POSITIVE, default=64)
    parser.add_argument("--beams", type=POSITIVE, default=None, help="translation: beam width (default: the model's)")
    parser.add_argument("--max-examples", type=POSITIVE, default=None, help="evaluate on the first N examples only")
    parser.add_argument("--output", default=None, help="folder for <split>.json (default: MODEL/eval/)")


def space_command(args: argparse.Namespace) -> None:
    try:
        from hf_nlp.space import launch  # lazy: loaded by this verb only
    except ImportError as error:
        raise UserError(f"the Space needs gradio ({error}); run `pip install -e \".[space]\"`.") from None
    models = args.models or os.environ.get("HF_NLP_SPACE_MODELS") or (
        "space/models.yaml" if Path("space/models.yaml").is_file() else None)
    launch(models, args.host, args.port)


def add_space_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=None,
                        help="models YAML (default: $HF_NLP_SPACE_MODELS, else space/models.yaml, else the run folders)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_integer(1, 65535), default=None, help="default: 7860 or the next free port")


def push_command(args: argparse.Namespace) -> None:
    from hf_nlp.hub import push_model  # lazy: loaded by this verb only

    pushed = push_model(args.model, args.repo_id, private=args.private, revision=args.revision)
    sys.stdout.write(f"{pushed}\n")


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a run folder or a saved model folder")
    parser.add_argument("--repo-id", required=True, help="user/name or org/name on the Hub (HF_ENDPOINT)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--revision", default=None, help="branch to push to (created from main if missing)")


def recipes_command(args: argparse.Namespace) -> None:
    from hf_nlp.recipes import CONFIGS, RECIPES, accelerate_configs  # lazy: loaded by this verb only

    rows = [("RECIPE / CONFIG", "2 CPU cores", "WHAT IT TRAINS")]
    for name, recipe in RECIPES.items():
        rows.append((name, "", recipe.trains))
        for config_name, config in CONFIGS.items():
            if config.recipe == name:
                default = " (default)" if config_name == recipe.default_config else ""
                rows.append((f"  {config_name}{default}", _minutes(config.minutes), config.what))
    width = max(len(row[0]) for row in rows) + 2
    sys.stdout.write("".join(f"{a:<{width}}{b:<13}{c}\n" for a, b, c in rows))
    sys.stdout.write("\nRun one: hf-nlp train RECIPE --config CONFIG [--section.key VALUE ...]; "
                     "edit one: hf-nlp config copy CONFIG\n")
    sys.stdout.write(f"On GPUs and clusters: --accelerate-config {' | '.join(accelerate_configs())} "
                     "(recipes/accelerate/, each headed by its commands)\n")


def _minutes(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    return f"~{minutes * 60:.0f} s" if minutes < 1 else f"~{minutes:g} min"


def _closest(name: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean `{close[0]}`? " if close else ""


def _recipe(name: str) -> str:
    from hf_nlp.recipes import RECIPES  # lazy: loaded by this verb only

    if name not in RECIPES:
        raise UserError(f"unknown recipe `{name}`; {_closest(name, list(RECIPES))}`hf-nlp recipes` lists them.")
    return name


def _shipped_config(name: str) -> str:
    from hf_nlp.recipes import CONFIGS  # lazy: loaded by this verb only

    stem = name.removesuffix(".yaml")
    if stem not in CONFIGS:
        raise UserError(f"unknown config `{name}`; {_closest(stem, list(CONFIGS))}`hf-nlp recipes` lists the shipped "
                        "ones, or pass the path of a YAML file.")
    return stem


def _config_path(value: str | None, recipe: str) -> Path:
    """`--config` as a YAML path, a shipped config's name, or (None) the recipe's default config."""
    from hf_nlp.recipes import CONFIGS, RECIPES, config_file  # lazy: loaded by this verb only

    if value is not None and Path(value).is_file():
        return Path(value).resolve()
    if value is not None and ("/" in value or os.sep in value):
        raise UserError(f"there is no config file `{value}`; check the path, or name a shipped config "
                        "(`hf-nlp recipes` lists them).")
    stem = _shipped_config(value) if value is not None else RECIPES[recipe].default_config
    if CONFIGS[stem].recipe != recipe:
        raise UserError(f"config `{stem}` belongs to the `{CONFIGS[stem].recipe}` recipe; run "
                        f"`hf-nlp train {CONFIGS[stem].recipe} --config {stem}`.")
    return config_file(stem)


def _accelerate_config_path(value: str) -> Path:
    """`--accelerate-config` as a YAML path or a shipped config's name (`recipes/accelerate/NAME.yaml`)."""
    from hf_nlp.recipes import ACCELERATE_CONFIGS_DIR, accelerate_configs  # lazy: loaded by this verb only

    if Path(value).is_file() or "/" in value or os.sep in value or value.endswith((".yaml", ".yml")):
        return Path(value)  # a missing file is named by `accelerate_launch_command`
    if value not in accelerate_configs():
        raise UserError(f"unknown accelerate config `{value}`; {_closest(value, accelerate_configs())}the shipped "
                        f"ones are {', '.join(accelerate_configs())}, or pass the path of a YAML file.")
    return ACCELERATE_CONFIGS_DIR / f"{value}.yaml"


def train_command(args: argparse.Namespace) -> None:
    from hf_nlp.config import config_help, parse_config  # lazy: loaded by this verb only
    from hf_nlp.launch import (  # lazy: loaded by this verb only
        accelerate_launch_command,
        default_accelerate_config,
    )
    from hf_nlp.recipes import RECIPES, config_class, recipe_file  # lazy: loaded by this verb only

    recipe = _recipe(args.recipe)
    config = _config_path(args.config, recipe)
    if args.keys:
        sys.stdout.write(config_help(config_class(recipe)))
        return
    if (args.num_processes or 1) > 1 and not RECIPES[recipe].distributed:
        raise UserError(f"the `{recipe}` recipe runs in one process; leave `--num-processes` out.")
    script_args = ["--config", str(config), *args.overrides]
    parse_config(config_class(recipe), script_args)  # a bad key or value: one sentence now, not after start-up
    import torch

    user_config = _accelerate_config_path(args.accelerate_config) if args.accelerate_config else \
        default_accelerate_config()
    command = accelerate_launch_command(recipe_file(recipe), script_args, args.num_processes, user_config,
                                        gpus=torch.cuda.device_count())
    import shlex

    shown = [f"{k}={v}" for k, v in command.env.items()] + ["accelerate", "launch", *command.argv[4:]]
    sys.stderr.write(f"hf-nlp train: {shlex.join(shown)}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # Become the launcher: Ctrl-C, SIGTERM and the exit status reach the recipe and the shell unchanged.
    os.execve(command.argv[0], command.argv, {**os.environ, **command.env})


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.allow_abbrev = False  # `--train.x` must never be read as an abbreviation of a flag here
    parser.add_argument("recipe", help="a recipe name (`hf-nlp recipes` lists them)")
    parser.add_argument("--config", default=None,
                        help="a shipped config's name or a YAML path (default: the recipe's default config)")
    parser.add_argument("--num-processes", type=POSITIVE, default=None,
                        help="processes to train on (default: 1, or your accelerate config's); on CPU they are "
                             "DDP processes over gloo")
    parser.add_argument("--accelerate-config", default=None,
                        help="an accelerate config: a shipped one's name (cpu_2_processes, gpu_1, multi_gpu, "
                             "two_machines, deepspeed_zero2) or a YAML path (default: the one `accelerate config` "
                             "wrote, if any)")
    parser.add_argument("--keys", action="store_true", help="list the recipe's config keys with their defaults")
    parser.epilog = "Any other `--section.key VALUE` overrides the config, e.g. --train.max_steps 50."


def search_command(args: argparse.Namespace) -> None:
    from hf_nlp.search import Search, read_space, run_search  # lazy: loaded by this verb only

    recipe = _recipe(args.recipe)
    config = _config_path(args.config, recipe)
    output = Path(args.output or f"runs/search_{Path(config).stem}")
    search = Search(recipe, str(config), read_space(Path(args.space)), args.overrides, output,
                    num_processes=args.num_processes, seed=args.seed)
    summary = run_search(search, args.trials)
    best = summary["best"]
    sys.stdout.write(f"{output / 'trials.md'}\n" + (f"best: trial {best['trial']}, {summary['metric']} "
                                                     f"{best['value']:.4f}; {best['config']}\n" if best else ""))


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.allow_abbrev = False  # `--train.x` must never be read as an abbreviation of a flag here
    parser.add_argument("recipe", help="a recipe name (`hf-nlp recipes` lists them)")
    parser.add_argument("--config", default=None, help="the base config: a shipped config's name or a YAML path")
    parser.add_argument("--space", required=True, help="YAML file of `key: {type: float|int|categorical, ...}`")
    parser.add_argument("--trials", type=POSITIVE, required=True,
                        help="trials to finish (completed or pruned), counting those of a resumed study")
    parser.add_argument("--output", default=None,
                        help="folder of the study (study.db), its trials and results (default: runs/search_CONFIG)")
    parser.add_argument("--num-processes", type=POSITIVE, default=None, help="processes per trial (default: 1)")
    parser.add_argument("--seed", type=int, default=42, help="the sampler's seed")
    parser.epilog = "Any other `--section.key VALUE` overrides the base config for every trial."


def config_command(args: argparse.Namespace) -> None:
    import shutil

    from hf_nlp.recipes import CONFIGS, config_file  # lazy: loaded by this verb only

    stem = _shipped_config(args.name)
    destination = Path(args.destination or f"{stem}.yaml")
    if destination.is_dir():
        destination = destination / f"{stem}.yaml"
    if destination.exists():
        raise UserError(f"`{destination}` already exists; pass another destination or remove it first.")
    try:
        shutil.copyfile(config_file(stem), destination)
    except FileNotFoundError:
        raise UserError(f"there is no folder `{destination.parent}`; create it first or pick another "
                        "destination.") from None
    sys.stdout.write(f"{destination}\nedit it, then: hf-nlp train {CONFIGS[stem].recipe} --config {destination}\n")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
    copy = actions.add_parser("copy", help="copy a shipped config to edit", description="copy a shipped config to edit")
    copy.add_argument("name", help="a shipped config (`hf-nlp recipes` lists them)")
    copy.add_argument("destination", nargs="?", default=None, help="file or folder (default: ./NAME.yaml)")


# name -> (help, add_arguments, run)
SUBCOMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "recipes": ("list every recipe and shipped config, with its wall time on 2 CPU cores", lambda parser: None,
                recipes_command),
    "train": ("train a recipe through accelerate launch, writing runs/ under the current directory",
              add_train_arguments, train_command),
    "search": ("hyper-parameter search with optuna: each trial a recipe run, scored on validation",
               add_search_arguments, search_command),
    "config": ("copy a shipped recipe config to edit (hf-nlp config copy NAME [DEST])", add_config_arguments,
               config_command),
    "generate": ("generate text with a causal LM (char-RNN)", add_generate_arguments, generate_command),
    "classify": ("label texts with a sequence classifier (prints label, probability, text)", add_classify_arguments,
                 classify_command),
    "translate": ("translate English to Spanish with a seq2seq model (ours, Opus-MT, any Marian)",
                  add_translate_arguments, translate_command),
    "report": ("one report (Markdown, JSON, PNGs) across every finished run found", add_report_arguments,
               report_command),
    "evaluate": ("metrics of a model on a dataset split, written to eval/<split>.json", add_evaluate_arguments,
                 evaluate_command),
    "space": ("the demo Space (Gradio): generate, classify, translate, results", add_space_arguments, space_command),
    "push": ("upload a trained model, its card and report to a Hub repo (HF_ENDPOINT, HF_TOKEN)", add_push_arguments,
             push_command),
    "tokenizer": ("train a subword tokenizer (BPE, WordPiece, Unigram)", add_tokenizer_arguments, tokenizer_command),
    "embeddings": ("word-vector analogies and neighbours (GloVe)", add_embeddings_arguments, embeddings_command),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence, exit 2, no usage dump
        raise UserError(f"{message}; see `hf-nlp {self.prog.split(' ', 1)[-1]} --help`." if " " in self.prog else f"{message}; see `hf-nlp --help`.")


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = _Parser(prog="hf-nlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args, extra = parser.parse_known_args(argv)
    if args.command in ("train", "search"):
        args.overrides = extra  # `--section.key VALUE` pairs, checked against the recipe's config
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    SUBCOMMANDS[args.command][2](args)


if __name__ == "__main__":
    main()
