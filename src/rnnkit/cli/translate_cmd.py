"""``rnnkit translate DIR TEXT --beam N``: decode TEXT with a trained encoder-decoder."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add_parser("translate", help="translate text with a translate run",
                            description="Translate TEXT (or each line of --file) with beam search.")
    p.add_argument("run_dir", metavar="DIR", help="a translate run directory")
    p.add_argument("text", metavar="TEXT", nargs="*", help="text to translate")
    p.add_argument("--file", metavar="PATH", help="translate each line of this file instead")
    p.add_argument("--beam", type=int, default=5, metavar="N", help="beam width; 1 is greedy (default 5)")
    p.add_argument("--max-length", dest="max_length", type=int, default=None, metavar="N")
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.cli.errors import CLIError
    from rnnkit.tasks.inputs import read_text_inputs
    from rnnkit.tasks.run import LoadedRun

    if bool(args.text) == bool(args.file):
        raise CLIError("rnnkit translate: give TEXT or --file PATH (exactly one).", exit_code=2)
    if args.beam < 1:
        raise CLIError(f"--beam: expected a positive integer, got {args.beam}.", exit_code=2)
    loaded = LoadedRun(args.run_dir, task="translate", command="translate")
    texts = read_text_inputs(args.file) if args.file else [" ".join(args.text)]
    for line in loaded.task.translate(loaded.model, loaded.state, texts, beam=args.beam, max_length=args.max_length):
        print(line)
    return 0
